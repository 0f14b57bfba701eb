import { NumberParam, SignupRequest, TenantPatch } from '@sipms/shared/contracts/rest';
import { parseOrThrow } from '@sipms/shared/contracts/validate';
import { tenantView } from '@sipms/shared/data/tenant-store';
import { checkCallbackUrl } from '@sipms/shared/net/callback-url-policy';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler } from '../http/api-handler.js';

/** Tenancy routes: signup, tenant settings, numbers. */
export const handler = createApiHandler(
  {
    'POST /v1/tenants': async (req) => {
      const cp = controlPlane();
      const body = parseOrThrow(SignupRequest, req.json());
      if (body.callbackUrl) await checkCallbackUrl(body.callbackUrl, cp.config.CALLBACK_URL_POLICY);
      const { tenant, apiKey } = await cp.tenants.create(body);
      return {
        status: 201,
        json: {
          tenantId: tenant.tenantId,
          domain: tenant.domain,
          apiKey,
          signingSecret: tenant.signingSecrets[0]!.secret,
        },
      };
    },

    'GET /v1/tenant': async (req) => ({
      status: 200,
      json: tenantView(await controlPlane().tenants.require(req.tenantId)),
    }),

    'PATCH /v1/tenant': async (req) => {
      const cp = controlPlane();
      const patch = parseOrThrow(TenantPatch, req.json());
      if (patch.callbackUrl) await checkCallbackUrl(patch.callbackUrl, cp.config.CALLBACK_URL_POLICY, 'callbackUrl');
      if (patch.fallbackUrl) await checkCallbackUrl(patch.fallbackUrl, cp.config.CALLBACK_URL_POLICY, 'fallbackUrl');
      return { status: 200, json: tenantView(await cp.tenants.update(req.tenantId, patch)) };
    },

    'GET /v1/numbers': async (req) => ({
      status: 200,
      json: { numbers: await controlPlane().tenants.listNumbers(req.tenantId) },
    }),

    'PUT /v1/numbers/{number}': async (req) => {
      const number = parseOrThrow(NumberParam, req.path.number, 'number');
      const { created } = await controlPlane().tenants.claimNumber(req.tenantId, number);
      return { status: created ? 201 : 200, json: { number, success: true } };
    },

    'DELETE /v1/numbers/{number}': async (req) => {
      const number = parseOrThrow(NumberParam, req.path.number, 'number');
      await controlPlane().tenants.releaseNumber(req.tenantId, number);
      return { status: 200, json: { success: true } };
    },
  },
  apiDeps,
);
