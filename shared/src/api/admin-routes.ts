import { z } from 'zod';
import {
  AdminTenantList,
  AdminTenantListQuery,
  AdminTenantPatch,
  AdminTenantView,
  InvitationCreated,
  InvitationRequest,
  SettingsUpdate,
  SettingsView,
  SuspendRequest,
  TenantIdParam,
} from '../contracts/admin.js';
import { defineRoute } from './route-definition.js';

const params = z.object({ tenantId: TenantIdParam });

/**
 * The operator's admin API: tenants (list, view, suspend, resume, limits), deployment settings (signup
 * mode) and invitations. Every route takes the deployment's admin token; a tenant API key is refused
 * (401) here, as the admin token is on every tenant route.
 */
export const adminRoutes = {
  listTenants: defineRoute({
    routeKey: 'GET /v1/admin/tenants',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminListTenants',
    summary: 'Every tenant, newest first, with its state and limits',
    tags: ['admin'],
    query: AdminTenantListQuery,
    responses: { 200: { description: 'one page', schema: AdminTenantList } },
    errors: [],
  }),
  getTenant: defineRoute({
    routeKey: 'GET /v1/admin/tenants/{tenantId}',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminGetTenant',
    summary: 'One tenant: settings, state, limits as set and as they apply',
    tags: ['admin'],
    params,
    responses: { 200: { description: 'the tenant', schema: AdminTenantView } },
    errors: ['not_found'],
  }),
  patchTenant: defineRoute({
    routeKey: 'PATCH /v1/admin/tenants/{tenantId}',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminUpdateTenant',
    summary: "Set one tenant's limits",
    description:
      'Fields left out keep their value; null returns a field to the deployment default. Call limits apply ' +
      "from the tenant's next call, maxNumbers from its next claim (numbers held above it are kept).",
    tags: ['admin'],
    params,
    body: AdminTenantPatch,
    example: {
      limits: {
        maxConcurrentCalls: 5,
        callsPerSecond: 2,
        maxNumbers: 10,
        outboundDestinations: { numberPrefixes: ['+4930'], sipDomains: ['pbx.example.com'] },
      },
    },
    responses: { 200: { description: 'the tenant after the change', schema: AdminTenantView } },
    errors: ['not_found', 'conflict'],
  }),
  suspendTenant: defineRoute({
    routeKey: 'POST /v1/admin/tenants/{tenantId}/suspend',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminSuspendTenant',
    summary: 'Suspend a tenant: its keys get 403 tenant_suspended, its numbers and domain take no calls',
    description: 'Calls in progress go on; new inbound calls are refused (SIP 404, no callback). Idempotent.',
    tags: ['admin'],
    params,
    body: SuspendRequest,
    example: { reason: 'unpaid invoice 2030-01' },
    responses: { 200: { description: 'the tenant, suspended', schema: AdminTenantView } },
    errors: ['not_found'],
  }),
  resumeTenant: defineRoute({
    routeKey: 'POST /v1/admin/tenants/{tenantId}/resume',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminResumeTenant',
    summary: 'Resume a suspended tenant (idempotent)',
    tags: ['admin'],
    params,
    responses: { 200: { description: 'the tenant, active', schema: AdminTenantView } },
    errors: ['not_found'],
  }),
  getSettings: defineRoute({
    routeKey: 'GET /v1/admin/settings',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminGetSettings',
    summary: "The deployment's settings: signup mode, and (read-only) number and destination allow-lists",
    tags: ['admin'],
    responses: { 200: { description: 'the settings', schema: SettingsView } },
    errors: [],
  }),
  putSettings: defineRoute({
    routeKey: 'PUT /v1/admin/settings',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminPutSettings',
    summary: 'Change the signup mode: open, closed or invitation',
    tags: ['admin'],
    body: SettingsUpdate,
    example: { signup: 'invitation' },
    responses: { 200: { description: 'the settings after the change', schema: SettingsView } },
    errors: [],
  }),
  createInvitation: defineRoute({
    routeKey: 'POST /v1/admin/invitations',
    group: 'admin',
    auth: 'admin',
    operationId: 'adminCreateInvitation',
    summary: 'A single-use signup code with an expiry',
    description: 'The code is shown only here and stored as a hash. Needed by signup while the mode is invitation.',
    tags: ['admin'],
    body: InvitationRequest,
    example: { expiresInHours: 72, note: 'Acme GmbH' },
    responses: { 201: { description: 'the new code', schema: InvitationCreated } },
    errors: [],
  }),
};

export const ADMIN_ROUTES = Object.values(adminRoutes);
