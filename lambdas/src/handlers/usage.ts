import { tenancyRoutes as r } from '@sipms/shared/api/tenancy-routes';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';

/** Usage per tenant and UTC day: what an operator bills on. */
export const handler = createApiHandler(
  'usage',
  [
    implement(r.usage, async (req, { query }) => ({
      status: 200,
      json: await controlPlane().usage.query(req.tenantId, query.from, query.to),
    })),
  ],
  apiDeps,
);
