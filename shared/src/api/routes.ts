import { ADMIN_ROUTES } from './admin-routes.js';
import { CONFERENCE_ROUTES } from './conference-routes.js';
import { LIVE_CALL_ROUTES } from './live-call-routes.js';
import { MEDIA_ROUTES } from './media-routes.js';
import type { RouteDefinition, RouteGroup } from './route-definition.js';
import { SESSION_ROUTES } from './session-routes.js';
import { SOFTPHONE_ROUTES } from './softphone-routes.js';
import { TENANCY_ROUTES } from './tenancy-routes.js';

export type { RouteAuth, RouteDefinition, RouteGroup } from './route-definition.js';

/**
 * The HTTP API's routes, defined once: the CDK stack creates one API Gateway route per entry,
 * integrated with the Lambda of its group; the local HTTP adapter matches the same route keys; the
 * OpenAPI document lists exactly these. A new route group adds its list here.
 */
export const ROUTES: readonly RouteDefinition[] = [
  ...TENANCY_ROUTES,
  ...MEDIA_ROUTES,
  ...LIVE_CALL_ROUTES,
  ...CONFERENCE_ROUTES,
  ...SESSION_ROUTES,
  ...SOFTPHONE_ROUTES,
  ...ADMIN_ROUTES,
];

export const ROUTE_GROUPS: readonly RouteGroup[] = [...new Set(ROUTES.map((r) => r.group))];
