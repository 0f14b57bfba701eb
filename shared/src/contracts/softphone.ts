import { z } from 'zod';

/**
 * The browser softphone's short-lived SIP credential (docs/api.md): what POST /v1/softphone/credentials
 * takes and answers. The token admits a WebSocket to the SIP transport (RFC 7118) for the tenant's own numbers.
 */

export const SOFTPHONE_TTL_SEC = { min: 60, max: 3600, default: 600 } as const;

export const SoftphoneCredentialRequest = z
  .strictObject({
    ttlSec: z
      .number()
      .int()
      .min(SOFTPHONE_TTL_SEC.min)
      .max(SOFTPHONE_TTL_SEC.max)
      .default(SOFTPHONE_TTL_SEC.default)
      .describe('how long the credential admits new calls, in seconds (calls in progress go on after it)'),
  })
  .meta({ id: 'SoftphoneCredentialRequest' });

export const SoftphoneCredential = z
  .object({
    credentialId: z.string().describe('sc_ and 26 lower-case base32 characters'),
    token: z
      .string()
      .describe(
        'shown only here, stored as a hash: open a WebSocket to wsUrl + "/?token=" + the URI-encoded token, subprotocol sip',
      ),
    wsUrl: z.string().describe("the deployment's SIP WebSocket transport: ws:// locally, wss:// on AWS"),
    sipUri: z.string().describe('the From URI the softphone uses: sip:softphone-<credentialId>@<tenant domain>'),
    expiresAt: z.string().describe('ISO 8601; after it the transport refuses the token and new calls'),
  })
  .meta({ id: 'SoftphoneCredential' });

export const SoftphoneCredentialCreated = z
  .object({ credential: SoftphoneCredential })
  .meta({ id: 'SoftphoneCredentialCreated' });
