import { adminRoutes as r } from '@sipms/shared/api/admin-routes';
import { formatClaimablePattern } from '@sipms/shared/domain/number-policy';
import { adminTenantView } from '../admin/admin-view.js';
import { adminApiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';

/** The settings as the admin API shows them: the run-time ones and, read-only, the deployment's. */
async function settingsView() {
  const cp = controlPlane();
  const settings = await cp.settings.get();
  return {
    ...settings,
    deployment: {
      claimableNumbers: cp.config.CLAIMABLE_NUMBERS.map(formatClaimablePattern),
      outboundDestinations: {
        numberPrefixes: [...cp.config.OUTBOUND_DESTINATIONS.numberPrefixes],
        sipDomains: [...cp.config.OUTBOUND_DESTINATIONS.sipDomains],
      },
      tenantDefaults: cp.limitDefaults,
    },
  };
}

/**
 * The operator's admin API (docs/api.md, "Admin API"): tenants, their state and limits, signup mode,
 * invitations. Every route takes the admin token; every change is logged with what changed.
 */
export const handler = createApiHandler(
  'admin',
  [
    implement(r.listTenants, async (_req, { query }) => {
      const cp = controlPlane();
      const page = await cp.tenants.listTenants(query);
      return {
        status: 200,
        json: {
          tenants: page.tenants.map((t) => adminTenantView(t, cp.limitDefaults)),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        },
      };
    }),

    implement(r.getTenant, async (_req, { params }) => {
      const cp = controlPlane();
      return { status: 200, json: adminTenantView(await cp.tenants.require(params.tenantId), cp.limitDefaults) };
    }),

    implement(r.patchTenant, async (req, { params, body }) => {
      const cp = controlPlane();
      const tenant = await cp.tenants.setLimits(params.tenantId, body.limits);
      req.log.info({ tenantId: params.tenantId, limits: body.limits }, 'admin: tenant limits changed');
      return { status: 200, json: adminTenantView(tenant, cp.limitDefaults) };
    }),

    implement(r.suspendTenant, async (req, { params, body }) => {
      const cp = controlPlane();
      const tenant = await cp.tenants.setSuspended(params.tenantId, { reason: body.reason });
      req.log.warn({ tenantId: params.tenantId, reason: body.reason }, 'admin: tenant suspended');
      return { status: 200, json: adminTenantView(tenant, cp.limitDefaults) };
    }),

    implement(r.resumeTenant, async (req, { params }) => {
      const cp = controlPlane();
      const tenant = await cp.tenants.setSuspended(params.tenantId, null);
      req.log.warn({ tenantId: params.tenantId }, 'admin: tenant resumed');
      return { status: 200, json: adminTenantView(tenant, cp.limitDefaults) };
    }),

    implement(r.getSettings, async () => ({ status: 200, json: await settingsView() })),

    implement(r.putSettings, async (req, { body }) => {
      await controlPlane().settings.setSignup(body.signup);
      req.log.warn({ signup: body.signup }, 'admin: signup mode changed');
      return { status: 200, json: await settingsView() };
    }),

    implement(r.createInvitation, async (req, { body }) => {
      const created = await controlPlane().invitations.create({
        expiresInSeconds: body.expiresInHours * 3600,
        note: body.note,
      });
      req.log.info({ expiresAt: created.expiresAt, note: body.note }, 'admin: invitation created');
      return { status: 201, json: created };
    }),
  ],
  adminApiDeps,
);
