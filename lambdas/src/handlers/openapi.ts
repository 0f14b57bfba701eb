import { tenancyRoutes as r } from '@sipms/shared/api/tenancy-routes';
import { buildOpenApiDocument } from '@sipms/shared/openapi/document';
import { apiDeps } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';

let document: Record<string, unknown> | undefined;

/** The published contract, generated from the schemas the other handlers validate with. No auth. */
export const handler = createApiHandler(
  'openapi',
  [
    implement(r.openapi, async () => {
      document ??= buildOpenApiDocument();
      return { status: 200, json: document, headers: { 'cache-control': 'public, max-age=300' } };
    }),
  ],
  apiDeps,
);
