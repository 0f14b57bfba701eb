import { SoftphoneCredentialCreated, SoftphoneCredentialRequest } from '../contracts/softphone.js';
import { defineRoute } from './route-definition.js';

/**
 * The browser softphone (docs/api.md). Served by the tenants group's Lambda: it already reads and writes
 * the table and knows the tenant's domain, so the route needs no function, grant or integration of its own.
 */
export const softphoneRoutes = {
  createCredential: defineRoute({
    routeKey: 'POST /v1/softphone/credentials',
    group: 'tenants',
    auth: true,
    operationId: 'createSoftphoneCredential',
    summary: 'A short-lived SIP credential for the browser softphone',
    description:
      "Admits a WebSocket to the deployment's SIP transport (RFC 7118) that may call the tenant's own numbers " +
      'until expiresAt. The token is shown only here and stored as a hash. The body is optional (ttlSec defaults ' +
      'to 600). 503 unavailable when the deployment has no SOFTPHONE_WS_URL.',
    tags: ['softphone'],
    body: SoftphoneCredentialRequest,
    example: { ttlSec: 600 },
    responses: { 201: { description: 'the credential', schema: SoftphoneCredentialCreated } },
    errors: ['unavailable'],
  }),
};

export const SOFTPHONE_ROUTES = Object.values(softphoneRoutes);
