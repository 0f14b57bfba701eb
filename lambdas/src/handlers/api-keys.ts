import { tenancyRoutes as r } from '@sipms/shared/api/tenancy-routes';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';

/** API keys: several per tenant, named, shown once, stored as hashes, revocable at once. */
export const handler = createApiHandler(
  'api-keys',
  [
    implement(r.listApiKeys, async (req) => ({
      status: 200,
      json: { apiKeys: await controlPlane().tenants.listApiKeys(req.tenantId) },
    })),

    implement(r.createApiKey, async (req, { body }) => {
      const { apiKey, view } = await controlPlane().tenants.createApiKey(req.tenantId, body.name);
      req.log.info({ keyId: view.keyId }, 'API key created');
      return { status: 201, json: { ...view, apiKey } };
    }),

    implement(r.revokeApiKey, async (req, { params: { keyId } }) => {
      await controlPlane().tenants.revokeApiKey(req.tenantId, keyId);
      req.log.info({ keyId, self: keyId === req.keyId }, 'API key revoked');
      return { status: 200, json: { success: true } };
    }),
  ],
  apiDeps,
);
