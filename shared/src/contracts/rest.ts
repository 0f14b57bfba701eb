import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';

/**
 * REST bodies, path and query parameters, and responses of the control-plane API (docs/api.md): the
 * single source of truth. Handlers parse with these, the TypeScript types are inferred from them, and
 * docs/openapi.json is generated from them (shared/src/openapi).
 */

// ---- shared pieces -------------------------------------------------------------------------------

export const CallbackUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000);

const name = (what: string) => z.string().trim().min(1).max(100).describe(what);
const isoTime = z.iso.datetime({ offset: true });

export const Success = z.object({ success: z.literal(true) }).meta({ id: 'Success' });

export const ErrorResponse = z
  .object({
    error: z.looseObject({
      code: z.enum(ERROR_CODES).describe('stable, machine-readable; mapped to the HTTP status in one place'),
      message: z.string().describe('for humans; never contains internals'),
      requestId: z.string().optional().describe('the x-request-id of this response'),
      field: z.string().optional().describe('validation_failed: the offending field (dotted path)'),
      limit: z
        .number()
        .optional()
        .describe('rate_limited, payload_too_large, conflict, limit_exceeded: the limit that applies'),
      reason: z.string().optional().describe("tenant_suspended: the operator's reason, when given"),
      destination: z.string().optional().describe('destination_not_allowed: the refused destination'),
      number: z.string().optional().describe('number_not_claimable: the refused number'),
      windowSeconds: z.number().optional(),
      retryAfterSeconds: z.number().optional(),
    }),
  })
  .meta({ id: 'Error' });

/** Opaque paging cursor: pass `nextCursor` of one page to get the next. */
export const Cursor = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[A-Za-z0-9_-]+$/, 'not a cursor this API returned')
  .describe('opaque; the nextCursor of the previous page');

export const pageLimit = (def: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(def).describe(`page size (1-${max}, default ${def})`);

// ---- tenants -------------------------------------------------------------------------------------

export const SignupRequest = z
  .object({
    name: name('the tenant name; the SIP domain is derived from it'),
    callbackUrl: CallbackUrl.optional().describe('where callbacks go: POST <callbackUrl>/<name>'),
    invitationCode: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('required while the operator admits new tenants by invitation only; single use'),
  })
  .meta({ id: 'SignupRequest' });
export type SignupRequest = z.infer<typeof SignupRequest>;

export const SignupResponse = z
  .object({
    tenantId: z.string(),
    domain: z.string().describe('<slug>.<SIP domain>: calls to this host reach the tenant'),
    apiKey: z.string().describe('shown only here; send as Authorization: Bearer <apiKey>'),
    signingSecret: z.string().describe('shown only here; verifies X-Mediaserver-Signature'),
  })
  .meta({ id: 'SignupResponse' });

export const CODECS = ['PCMU', 'PCMA', 'G722', 'opus'] as const;

/** The tenant's outbound SIP trunk, as the API shows it: never the password. */
export const OutboundTrunkView = z
  .object({
    host: z.string(),
    port: z.number().int(),
    transport: z.enum(['udp', 'tcp', 'tls']),
    username: z.string().nullable(),
    hasPassword: z.boolean(),
  })
  .meta({ id: 'OutboundTrunk' });

export const OutboundTrunkInput = z
  .object({
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/, 'a host name or IP address')
      .describe('where calls to numbers go'),
    port: z.number().int().min(1).max(65535).default(5060),
    transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
    username: z.string().min(1).max(128).optional().describe('digest user for 401/407 challenges'),
    password: z.string().min(1).max(256).optional().describe('stored encrypted; never shown again'),
  })
  .strict()
  .meta({ id: 'OutboundTrunkInput' });
export type OutboundTrunkInput = z.infer<typeof OutboundTrunkInput>;

export const TenantView = z
  .object({
    tenantId: z.string(),
    name: z.string(),
    domain: z.string(),
    callbackUrl: z.string().nullable(),
    fallbackUrl: z.string().nullable(),
    callbackTimeoutMs: z.number().int(),
    callbackRetries: z.number().int(),
    codecs: z.array(z.string()),
    maxCallDurationSec: z.number().int().describe("each participant's call ends at this age (reason maxDuration)"),
    outboundTrunk: OutboundTrunkView.nullable().optional(),
    createdAt: z.string(),
    updatedAt: z.string().optional(),
  })
  .meta({ id: 'Tenant' });
export type TenantView = z.infer<typeof TenantView>;

export const TenantPatch = z
  .object({
    callbackUrl: CallbackUrl.nullable().optional().describe('null clears it'),
    fallbackUrl: CallbackUrl.nullable().optional().describe('tried once after the retries failed; null clears it'),
    callbackTimeoutMs: z.number().int().min(100).max(15_000).optional().describe('per attempt; default 5000'),
    callbackRetries: z.number().int().min(0).max(5).optional().describe('retries after the first attempt; default 2'),
    codecs: z.array(z.enum(CODECS)).min(1).max(4).optional().describe('offered in this order'),
    maxCallDurationSec: z
      .number()
      .int()
      .min(10)
      .max(86_400)
      .optional()
      .describe("each participant's call ends at this age with reason maxDuration; default 14400"),
    outboundTrunk: OutboundTrunkInput.nullable()
      .optional()
      .describe('calls to numbers (not SIP URIs) go through it; null removes it'),
  })
  .strict()
  .meta({ id: 'TenantPatch' });
export type TenantPatch = z.infer<typeof TenantPatch>;

export const SigningSecretRotated = z
  .object({
    signingSecret: z.string().describe('the new secret; shown only here'),
    createdAt: z.string(),
    previousSecretExpiresAt: z
      .string()
      .nullable()
      .describe('until then callbacks carry a v1= signature for the previous secret too'),
  })
  .meta({ id: 'SigningSecretRotated' });

// ---- numbers -------------------------------------------------------------------------------------

/** A claimable number: E.164 (`+4930123456`) or a SIP user part. */
export const NumberParam = z
  .string()
  .min(1)
  .max(64)
  .regex(/^(\+[1-9][0-9]{3,15}|[A-Za-z0-9][A-Za-z0-9._~-]*)$/, 'E.164 number or SIP user part');

export const NumberClaimed = z.object({ number: z.string(), success: z.literal(true) }).meta({ id: 'NumberClaimed' });
export const NumberList = z
  .object({ numbers: z.array(z.object({ number: z.string(), claimedAt: z.string() })) })
  .meta({ id: 'NumberList' });

// ---- API keys ------------------------------------------------------------------------------------

export const ApiKeyId = z.string().regex(/^[0-9a-z]{12}$/, 'an API key id (12 characters)');

export const ApiKeyCreateRequest = z
  .object({ name: name('what the key is for, e.g. "ci" or "billing"') })
  .strict()
  .meta({ id: 'ApiKeyCreateRequest' });

export const ApiKeyView = z
  .object({
    keyId: z.string(),
    name: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().describe('updated at most once a minute'),
    prefix: z.string().describe('the start of the key, to recognise it'),
  })
  .meta({ id: 'ApiKey' });
export type ApiKeyView = z.infer<typeof ApiKeyView>;

export const ApiKeyCreated = ApiKeyView.extend({
  apiKey: z.string().describe('shown only here; stored as a hash'),
}).meta({ id: 'ApiKeyCreated' });

export const ApiKeyList = z.object({ apiKeys: z.array(ApiKeyView) }).meta({ id: 'ApiKeyList' });

// ---- prompt files --------------------------------------------------------------------------------

export const DomainParam = z.string().min(1).max(253).describe("the tenant's SIP domain");

export const PromptFileName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');

export const PageQuery = z.object({ limit: pageLimit(100, 1000), cursor: Cursor.optional() });

export const PromptFileInfo = z
  .object({ name: z.string(), size: z.number().int(), updatedAt: z.string() })
  .meta({ id: 'PromptFileInfo' });
export type PromptFileInfo = z.infer<typeof PromptFileInfo>;

export const PromptList = z
  .object({ prompts: z.array(PromptFileInfo), nextCursor: z.string().optional().describe('absent on the last page') })
  .meta({ id: 'PromptList' });

export const PromptUploadUrlRequest = z
  .strictObject({
    contentType: z.enum(['audio/wav', 'audio/mpeg']).describe('the Content-Type the PUT must carry'),
    bytes: z
      .number()
      .int()
      .min(1)
      .describe('the exact size of the file: the PUT must carry this Content-Length (at most PROMPT_MAX_BYTES)'),
  })
  .meta({ id: 'PromptUploadUrlRequest' });

export const PromptUploadUrl = z
  .object({
    url: z.string().describe('PUT the file here, without an Authorization header'),
    method: z.literal('PUT'),
    headers: z.record(z.string(), z.string()).describe('headers the PUT must carry as they are'),
    expiresAt: z.string().describe('ISO 8601; the URL is refused after it'),
  })
  .meta({ id: 'PromptUploadUrl' });

export const PromptDownloadUrl = z
  .object({
    url: z.string().describe('GET the file here, without an Authorization header'),
    expiresAt: z.string().describe('ISO 8601; the URL is refused after it'),
    name: z.string().describe('the stored name (with the extension the lookup found)'),
    size: z.number().int(),
    contentType: z.string(),
  })
  .meta({ id: 'PromptDownloadUrl' });

// ---- sessions ------------------------------------------------------------------------------------

export const SessionListQuery = z
  .object({
    from: isoTime.optional().describe('sessions created at or after this time'),
    to: isoTime.optional().describe('sessions created before this time'),
    number: NumberParam.optional().describe('only sessions in which a participant is from or to this number'),
    sipCallId: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[\x21-\x7e]+$/, 'a SIP Call-ID: printable characters, no spaces')
      .optional()
      .describe("only sessions with a participant whose SIP dialog has this Call-ID (the caller's INVITE)"),
    limit: pageLimit(50, 200),
    cursor: Cursor.optional(),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    message: 'must be after from',
    path: ['to'],
  });
export type SessionListQuery = z.infer<typeof SessionListQuery>;

const Participant = z.looseObject({
  direction: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  sipCallId: z.string().optional(),
});

export const SessionSummary = z
  .looseObject({
    sessionId: z.string(),
    state: z.string(),
    createdAt: z.string(),
    endedAt: z.string().optional(),
    endReason: z.string().optional(),
    sessionReferenceId: z.string().optional(),
    participants: z.record(z.string(), Participant),
  })
  .meta({ id: 'SessionSummary' });
export type SessionSummary = z.infer<typeof SessionSummary>;

export const SessionList = z
  .object({
    sessions: z.array(SessionSummary).describe('newest first'),
    nextCursor: z.string().optional().describe('absent on the last page; a page may hold fewer than limit'),
  })
  .meta({ id: 'SessionList' });

export const SessionDetail = SessionSummary.extend({
  journal: z.array(z.looseObject({ at: z.string(), kind: z.string() })),
}).meta({ id: 'SessionDetail' });

// ---- usage ---------------------------------------------------------------------------------------

export const USAGE_COUNTERS = [
  'callAttempts',
  'answeredCalls',
  'callSeconds',
  'ttsCharacters',
  'recordingSeconds',
] as const;
export type UsageCounterName = (typeof USAGE_COUNTERS)[number];

const counterFields = Object.fromEntries(USAGE_COUNTERS.map((c) => [c, z.number().nonnegative()])) as Record<
  UsageCounterName,
  z.ZodNumber
>;
export const UsageCounters = z.object(counterFields).meta({ id: 'UsageCounters' });
export type UsageCounters = z.infer<typeof UsageCounters>;

export const MAX_USAGE_DAYS = 366;
export const UsageQuery = z
  .object({
    from: z.iso.date().describe('first UTC day, YYYY-MM-DD'),
    to: z.iso.date().describe('last UTC day (inclusive), YYYY-MM-DD'),
  })
  .refine((q) => q.from <= q.to, { message: 'must not be before from', path: ['to'] })
  .refine((q) => (Date.parse(q.to) - Date.parse(q.from)) / 86_400_000 < MAX_USAGE_DAYS, {
    message: `at most ${MAX_USAGE_DAYS} days per query`,
    path: ['to'],
  });

export const UsageReport = z
  .object({
    from: z.string(),
    to: z.string(),
    days: z.array(UsageCounters.extend({ day: z.string() })).describe('only days with any usage, oldest first'),
    totals: UsageCounters,
  })
  .meta({ id: 'UsageReport' });
export type UsageReport = z.infer<typeof UsageReport>;
