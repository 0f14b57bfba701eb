import { z } from 'zod';
import { isNumberPrefix, isSipDomainPattern } from '../domain/outbound-policy.js';
import { Cursor, pageLimit, TenantView } from './rest.js';

/**
 * The operator's admin API under /v1/admin (docs/api.md, "Admin API"): bodies, parameters and responses.
 * Authenticated with the deployment's admin token, never a tenant key.
 */

export const TenantIdParam = z.string().regex(/^t[0-9a-z]{16}$/, 'a tenant id (t and 16 characters)');

export const SIGNUP_MODES = ['open', 'closed', 'invitation'] as const;
export type SignupMode = (typeof SIGNUP_MODES)[number];

const prefixes = z
  .array(z.string().refine(isNumberPrefix, 'a number prefix: "*" or 1-15 digits with an optional leading +'))
  .max(100)
  .describe('E.164 prefixes, with or without + (compared on digits); "*" = any number; [] = none');
const domains = z
  .array(
    z
      .string()
      .max(255)
      .refine(isSipDomainPattern, 'a SIP domain: "*", pbx.example.com, *.example.com or an IP address'),
  )
  .max(100)
  .describe('SIP URI hosts: example.com (that host), *.example.com (its subdomains), "*" = any; [] = none');

export const OutboundDestinationsInput = z
  .object({ numberPrefixes: prefixes, sipDomains: domains })
  .strict()
  .meta({ id: 'OutboundDestinationsInput' });

export const OutboundDestinationsView = z
  .object({ numberPrefixes: z.array(z.string()), sipDomains: z.array(z.string()) })
  .meta({ id: 'OutboundDestinations' });

const limitField = (min: number, max: number, what: string) =>
  z.number().int().min(min).max(max).nullable().optional().describe(`${what}; null = the deployment default`);

/** One tenant's limits as the operator sets them: absent = unchanged, null = back to the deployment default. */
export const TenantLimitsInput = z
  .object({
    maxConcurrentCalls: limitField(1, 1_000_000, 'simultaneous calls, inbound and outbound (SIP 503 / REST 429 above)'),
    callsPerSecond: limitField(1, 100_000, 'new calls per second'),
    maxCallDurationSec: limitField(1, 86_400, 'longest call in seconds'),
    maxNumbers: limitField(0, 1_000_000, 'numbers the tenant may hold'),
    maxSlowCallbacks: limitField(
      1,
      10_000,
      'callbacks that may wait on the webhook longer than SLOW_CALLBACK_MS at once; more get the defined fallback at once',
    ),
    outboundDestinations: OutboundDestinationsInput.nullable()
      .optional()
      .describe("narrows the deployment's outbound allow-list (never widens it); null = the deployment's alone"),
  })
  .strict()
  .meta({ id: 'TenantLimitsInput' });
export type TenantLimitsInput = z.infer<typeof TenantLimitsInput>;

export const AdminTenantPatch = z.object({ limits: TenantLimitsInput }).strict().meta({ id: 'AdminTenantPatch' });

export const TenantLimitsView = z
  .object({
    maxConcurrentCalls: z.number().int().nullable(),
    callsPerSecond: z.number().int().nullable(),
    maxCallDurationSec: z.number().int().nullable(),
    maxNumbers: z.number().int().nullable(),
    maxSlowCallbacks: z.number().int().nullable(),
    outboundDestinations: OutboundDestinationsView.nullable(),
  })
  .meta({ id: 'TenantLimits', description: 'as the operator set them; null = the deployment default' });

export const EffectiveLimitsView = z
  .object({
    maxConcurrentCalls: z.number().int(),
    callsPerSecond: z.number().int(),
    maxNumbers: z.number().int(),
    maxSlowCallbacks: z.number().int(),
    maxCallDurationSec: z.number().int().nullable().describe('null = no bound'),
    outboundDestinations: OutboundDestinationsView.nullable().describe("null = the deployment's list alone"),
  })
  .meta({ id: 'EffectiveLimits', description: 'what applies to the tenant now' });

export const AdminTenantView = TenantView.extend({
  state: z.enum(['active', 'suspended']),
  suspendedAt: z.string().nullable(),
  suspendedReason: z.string().nullable(),
  numberCount: z.number().int().describe('numbers the tenant holds'),
  limits: TenantLimitsView,
  effectiveLimits: EffectiveLimitsView,
}).meta({ id: 'AdminTenant' });
export type AdminTenantView = z.infer<typeof AdminTenantView>;

export const AdminTenantListQuery = z.object({ limit: pageLimit(50, 200), cursor: Cursor.optional() });

export const AdminTenantList = z
  .object({
    tenants: z.array(AdminTenantView).describe('newest first'),
    nextCursor: z.string().optional().describe('absent on the last page'),
  })
  .meta({ id: 'AdminTenantList' });

export const SuspendRequest = z
  .object({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .describe("shown to the tenant in every 403 tenant_suspended answer; don't put secrets here"),
  })
  .strict()
  .meta({ id: 'SuspendRequest' });

export const SettingsUpdate = z
  .object({
    signup: z
      .enum(SIGNUP_MODES)
      .describe('open: anyone may sign up; closed: 403 signup_closed; invitation: signup needs an invitationCode'),
  })
  .strict()
  .meta({ id: 'SettingsUpdate' });

export const SettingsView = z
  .object({
    signup: z.enum(SIGNUP_MODES),
    updatedAt: z.string().nullable().describe('null until first changed (signup is open until then)'),
    deployment: z
      .object({
        claimableNumbers: z.array(z.string()).describe('CLAIMABLE_NUMBERS / claimableNumbers; [] = none'),
        outboundDestinations: OutboundDestinationsView.describe('OUTBOUND_DESTINATIONS / outboundDestinations'),
        tenantDefaults: z.object({
          maxConcurrentCalls: z.number().int(),
          callsPerSecond: z.number().int(),
          maxNumbers: z.number().int(),
          maxSlowCallbacks: z.number().int(),
        }),
      })
      .describe('set when the deployment is deployed or started (read-only here)'),
  })
  .meta({ id: 'Settings' });

export const InvitationRequest = z
  .object({
    expiresInHours: z.number().int().min(1).max(720).default(72).describe('1-720, default 72'),
    note: z.string().trim().min(1).max(200).optional().describe('for the operator: who it is for'),
  })
  .strict()
  .meta({ id: 'InvitationRequest' });

export const InvitationCreated = z
  .object({
    code: z.string().describe('shown only here; single use; the signup body carries it as invitationCode'),
    expiresAt: z.string(),
    note: z.string().optional(),
  })
  .meta({ id: 'InvitationCreated' });
