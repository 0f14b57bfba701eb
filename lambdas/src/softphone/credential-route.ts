import { softphoneRoutes } from '@sipms/shared/api/softphone-routes';
import type { SipCredentialStore } from '@sipms/shared/data/sip-credential-store';
import type { TenantStore } from '@sipms/shared/data/tenant-store';
import { AppError } from '@sipms/shared/errors';
import { implement } from '../http/api-handler.js';
import { SOFTPHONE_UNAVAILABLE } from './ws-url-setting.js';

export interface SoftphoneDeps {
  credentials: SipCredentialStore;
  tenants: Pick<TenantStore, 'require'>;
  /** SOFTPHONE_WS_URL as validated at start-up; undefined when the deployment has no SIP WebSocket transport. */
  wsUrl: string | undefined;
}

/**
 * POST /v1/softphone/credentials: a credential for the caller's own tenant, its SIP URI in the tenant's domain. Not
 * replayed with an Idempotency-Key (a repeat issues another credential): replaying would store the token.
 */
export function softphoneCredentialRoute(deps: () => SoftphoneDeps) {
  return implement(
    softphoneRoutes.createCredential,
    async (req, { body }) => {
      const { credentials, tenants, wsUrl } = deps();
      // Before anything is written: a credential the browser cannot use is not handed out.
      if (!wsUrl) throw new AppError('unavailable', SOFTPHONE_UNAVAILABLE);
      const { domain } = await tenants.require(req.tenantId);
      const issued = await credentials.issue(req.tenantId, body.ttlSec);
      req.log.info({ credentialId: issued.credentialId, ttlSec: body.ttlSec }, 'softphone credential issued');
      return {
        status: 201,
        json: {
          credential: {
            credentialId: issued.credentialId,
            token: issued.token,
            wsUrl,
            sipUri: `sip:softphone-${issued.credentialId}@${domain}`,
            expiresAt: new Date(issued.expiresAtMs).toISOString(),
          },
        },
      };
    },
    { replayable: false },
  );
}
