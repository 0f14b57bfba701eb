/**
 * The HTTP API's routes, defined once: the CDK stack creates one API Gateway route per entry,
 * integrated with the Lambda of its group; the local HTTP adapter matches the same route keys.
 */
export type RouteGroup = 'tenants' | 'media' | 'sessions';

export interface RouteDefinition {
  routeKey: `${'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} /${string}`;
  group: RouteGroup;
  /** false only for signup. */
  auth: boolean;
}

export const ROUTES: readonly RouteDefinition[] = [
  { routeKey: 'POST /v1/tenants', group: 'tenants', auth: false },
  { routeKey: 'GET /v1/tenant', group: 'tenants', auth: true },
  { routeKey: 'PATCH /v1/tenant', group: 'tenants', auth: true },
  { routeKey: 'GET /v1/numbers', group: 'tenants', auth: true },
  { routeKey: 'PUT /v1/numbers/{number}', group: 'tenants', auth: true },
  { routeKey: 'DELETE /v1/numbers/{number}', group: 'tenants', auth: true },
  { routeKey: 'PUT /mediaservice/{domain}/promptfile/{filename}', group: 'media', auth: true },
  { routeKey: 'GET /mediaservice/{domain}/promptfile/{filename}', group: 'media', auth: true },
  { routeKey: 'DELETE /mediaservice/{domain}/promptfile/{filename}', group: 'media', auth: true },
  { routeKey: 'GET /v1/sessions/{sessionId}', group: 'sessions', auth: true },
];

export const ROUTE_GROUPS: readonly RouteGroup[] = [...new Set(ROUTES.map((r) => r.group))];
