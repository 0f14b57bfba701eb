import { tenancyRoutes as r } from '@sipms/shared/api/tenancy-routes';
import { clientKey } from '@sipms/shared/data/rate-limit';
import { isClaimable } from '@sipms/shared/domain/number-policy';
import { effectiveLimits, tenantView } from '@sipms/shared/domain/tenant';
import { AppError, ValidationError } from '@sipms/shared/errors';
import { checkCallbackUrl } from '@sipms/shared/net/callback-url-policy';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';
import { softphoneCredentialRoute } from '../softphone/credential-route.js';

/** Tenancy routes: signup, tenant settings, signing secrets, numbers, the softphone's SIP credentials. */
export const handler = createApiHandler(
  'tenants',
  [
    implement(r.signup, async (req, { body }) => {
      const cp = controlPlane();
      // The operator's signup mode (admin API), read for every signup so a change applies at once.
      const { signup } = await cp.settings.get();
      if (signup === 'closed') {
        throw new AppError('signup_closed', 'signup is closed on this deployment: ask its operator for an account');
      }
      if (body.callbackUrl) await checkCallbackUrl(body.callbackUrl, cp.config.CALLBACK_URL_POLICY);
      // Counted after validation: a malformed request creates nothing, so it does not use up the limit. Counted
      // before an invitation code is tried, so codes cannot be guessed faster than the limit allows.
      await cp.rateLimiter.hit('signup', clientKey(req.sourceIp), {
        limit: cp.config.SIGNUP_LIMIT_PER_HOUR,
        windowSeconds: 3600,
      });
      if (signup === 'invitation') {
        if (!body.invitationCode) {
          throw new AppError(
            'invitation_required',
            'signup on this deployment needs an invitation code (invitationCode) from its operator',
          );
        }
        if (!(await cp.invitations.redeem(body.invitationCode))) {
          throw new AppError('invitation_invalid', 'the invitation code is unknown, already used or expired');
        }
      }
      const { tenant, apiKey } = await cp.tenants.create({ name: body.name, callbackUrl: body.callbackUrl });
      req.log.info({ tenantId: tenant.tenantId, source: clientKey(req.sourceIp), signup }, 'tenant signed up');
      return {
        status: 201,
        json: {
          tenantId: tenant.tenantId,
          domain: tenant.domain,
          apiKey,
          signingSecret: tenant.signingSecrets[0]!.secret,
        },
      };
    }),

    implement(r.getTenant, async (req) => ({
      status: 200,
      json: tenantView(await controlPlane().tenants.require(req.tenantId)),
    })),

    implement(r.patchTenant, async (req, { body: patch }) => {
      const cp = controlPlane();
      if (patch.callbackUrl) await checkCallbackUrl(patch.callbackUrl, cp.config.CALLBACK_URL_POLICY, 'callbackUrl');
      if (patch.fallbackUrl) await checkCallbackUrl(patch.fallbackUrl, cp.config.CALLBACK_URL_POLICY, 'fallbackUrl');
      const { outboundTrunk, ...rest } = patch;
      const update: Record<string, unknown> = { ...rest };
      if (outboundTrunk === null) update.outboundTrunk = null;
      else if (outboundTrunk) {
        const { password, ...trunk } = outboundTrunk;
        if (password && !cp.secrets) {
          throw new ValidationError('outboundTrunk.password', 'this deployment has no secrets key to store it with');
        }
        update.outboundTrunk = { ...trunk, ...(password ? { passwordSealed: await cp.secrets!.seal(password) } : {}) };
      }
      return { status: 200, json: tenantView(await cp.tenants.update(req.tenantId, update)) };
    }),

    implement(r.rotateSigningSecret, async (req) => {
      const { secret, previousExpiresAt } = await controlPlane().tenants.rotateSigningSecret(req.tenantId);
      req.log.info({ previousExpiresAt }, 'signing secret rotated');
      return {
        status: 201,
        json: { signingSecret: secret.secret, createdAt: secret.createdAt, previousSecretExpiresAt: previousExpiresAt },
      };
    }),

    implement(r.listNumbers, async (req) => ({
      status: 200,
      json: { numbers: await controlPlane().tenants.listNumbers(req.tenantId) },
    })),

    implement(r.claimNumber, async (req, { params: { number } }) => {
      const cp = controlPlane();
      if (!isClaimable(number, cp.config.CLAIMABLE_NUMBERS)) {
        throw new AppError('number_not_claimable', `number ${number} is not claimable on this deployment`, {
          details: { number },
        });
      }
      const tenant = await cp.tenants.require(req.tenantId);
      const { maxNumbers } = effectiveLimits(tenant.limits, cp.limitDefaults);
      const { created } = await cp.tenants.claimNumber(req.tenantId, number, maxNumbers);
      return { status: created ? 201 : 200, json: { number, success: true } };
    }),

    implement(r.releaseNumber, async (req, { params: { number } }) => {
      await controlPlane().tenants.releaseNumber(req.tenantId, number);
      return { status: 200, json: { success: true } };
    }),

    softphoneCredentialRoute(() => {
      const cp = controlPlane();
      return { credentials: cp.sipCredentials, tenants: cp.tenants, wsUrl: cp.config.SOFTPHONE_WS_URL };
    }),
  ],
  apiDeps,
);
