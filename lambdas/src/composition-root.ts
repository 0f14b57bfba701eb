import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { promptStoreFromSpec } from '@sipms/shared/adapters/prompt-store-from-spec';
import { AWS_STREAMING_LIMITS, boundedRequests } from '@sipms/shared/aws/clients';
import { createDocumentClient } from '@sipms/shared/aws/document-client';
import { CommonEnv, envInt, loadConfig, parsedSetting } from '@sipms/shared/config';
import { type SecretBox, secretBoxFromEnv } from '@sipms/shared/crypto/secret-box';
import { ActiveCallCounts } from '@sipms/shared/data/active-calls';
import { CallSlots } from '@sipms/shared/data/call-slots';
import { ConferenceStore } from '@sipms/shared/data/conference-store';
import { DeploymentSettingsStore } from '@sipms/shared/data/deployment-settings';
import { IdempotencyStore } from '@sipms/shared/data/idempotency-store';
import { InvitationStore } from '@sipms/shared/data/invitation-store';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { FixedWindowRateLimiter } from '@sipms/shared/data/rate-limit';
import { SessionQueries } from '@sipms/shared/data/session-queries';
import { SessionStore } from '@sipms/shared/data/session-store';
import { SipCredentialStore } from '@sipms/shared/data/sip-credential-store';
import { SlowCallbackSlots } from '@sipms/shared/data/slow-callback-slots';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { UsageStore } from '@sipms/shared/data/usage-store';
import { parseClaimableNumbers } from '@sipms/shared/domain/number-policy';
import { checkDestination, parseOutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import { effectiveLimits, type LimitDefaults } from '@sipms/shared/domain/tenant';
import { tracerFromSpec } from '@sipms/shared/observability/otel-tracer';
import type { Tracer } from '@sipms/shared/observability/tracing';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import type { Logger } from '@sipms/shared/util/logger';
import { z } from 'zod';
import { type AdminTokenSource, fixedHash, SecretTokenSource, verifyAdminToken } from './admin/admin-token.js';
import type { SlowCallbackCap } from './dispatch/dispatch-callback.js';
import type { ApiDeps } from './http/api-handler.js';
import { tenantSuspendedError } from './http/tenant-suspended.js';
import { ConferenceService } from './live-calls/conference-service.js';
import { LiveCallService } from './live-calls/live-call-service.js';
import { SERVICE } from './observability/metric-names.js';
import type { ControlPlaneMetrics } from './observability/metrics.js';
import { createPowertoolsLogger } from './observability/powertools-logger.js';
import { createPowertoolsMetrics } from './observability/powertools-metrics.js';
import { SoftphoneWsUrl } from './softphone/ws-url-setting.js';

/** Everything a control-plane handler needs, built once per cold start from the environment. */
export interface ControlPlane {
  config: Readonly<z.infer<typeof ControlPlaneEnv>>;
  tenants: TenantStore;
  sessions: SessionStore;
  sessionQueries: SessionQueries;
  usage: UsageStore;
  rateLimiter: FixedWindowRateLimiter;
  /** The dispatcher's per-tenant cap on callbacks waiting on a slow webhook. */
  slowCallbacks: SlowCallbackCap;
  prompts: PromptStore;
  liveCalls: LiveCallService;
  /** Conference control: reads the conference item, commands go to the hosting node (docs/conferences.md). */
  conferences: ConferenceService;
  /** Seals tenants' trunk passwords; undefined when no key is configured. */
  secrets: SecretBox | undefined;
  idempotency: IdempotencyStore;
  /** The signup mode the operator set (admin API). */
  settings: DeploymentSettingsStore;
  invitations: InvitationStore;
  /** The browser softphone's short-lived SIP credentials (the media node verifies them). */
  sipCredentials: SipCredentialStore;
  /** The deployment's per-tenant defaults (TENANT_MAX_CONCURRENT_CALLS, TENANT_CALLS_PER_SECOND, TENANT_MAX_NUMBERS). */
  limitDefaults: LimitDefaults;
  logger: Logger;
  /** CloudWatch metrics (EMF); each handler flushes them at the end of its invocation. */
  metrics: ControlPlaneMetrics;
  /** Spans (TRACES_EXPORTER: X-Ray on AWS); the dispatcher flushes them at the end of its invocation. */
  tracer: Tracer;
}

const ControlPlaneEnv = z.object({
  ...CommonEnv,
  /**
   * The largest prompt file, uploaded through an upload URL (the direct PUT carries at most
   * PROMPT_INLINE_MAX_BYTES: Lambda's 6 MB payload, base64'd).
   */
  PROMPT_MAX_BYTES: z.coerce.number().int().positive().default(100_000_000),
  /**
   * The local deployment only (infra/src/local/control-plane.ts sets both): the origin of its object URLs, the
   * stand-in for S3's presigned URLs, and their HMAC-SHA256 key (base64, at least 32 bytes).
   */
  LOCAL_OBJECTS_URL: z.url({ protocol: /^https?$/ }).optional(),
  LOCAL_OBJECTS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length >= 32, 'base64 of at least 32 random bytes')
    .optional(),
  /** Signups per source address (IPv6: per /64) per hour. */
  SIGNUP_LIMIT_PER_HOUR: envInt(10, 1, 1_000_000),
  /** Where an S3 prompt store caches files for local playback (Lambda: only /tmp is writable). */
  PROMPT_CACHE_DIR: z.string().default(join(tmpdir(), 'sipms-prompt-cache')),
  /** Numbers tenants may claim: `*`, `+4930*`, `1000-1999`, exact numbers (number-policy.ts). Unset: none. */
  CLAIMABLE_NUMBERS: parsedSetting(parseClaimableNumbers),
  /** Where tenants' calls may go: `*`, number prefixes, SIP domains (outbound-policy.ts). Unset: nowhere. */
  OUTBOUND_DESTINATIONS: parsedSetting(parseOutboundDestinations),
  /** Numbers one tenant may hold unless the operator set its own maxNumbers. */
  TENANT_MAX_NUMBERS: envInt(100, 0, 1_000_000),
  /** A callback waiting longer than this on the tenant's webhook counts against its maxSlowCallbacks. */
  SLOW_CALLBACK_MS: envInt(1000, 100, 60_000),
  /** Slow callbacks one tenant may have in flight unless the operator set its own maxSlowCallbacks. */
  TENANT_MAX_SLOW_CALLBACKS: envInt(20, 1, 10_000),
  /** The local deployment: the SHA-256 of the admin token (never the token itself). */
  ADMIN_TOKEN_SHA256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'the hex SHA-256 of the admin token')
    .optional(),
  /** AWS: the Secrets Manager secret holding the admin token (only the admin Lambda gets this and may read it). */
  ADMIN_TOKEN_SECRET_ARN: z.string().startsWith('arn:').optional(),
  /** The browser softphone's SIP WebSocket transport (ws:// or wss://); unset: POST /v1/softphone/credentials is 503. */
  SOFTPHONE_WS_URL: SoftphoneWsUrl,
});

let instance: ControlPlane | undefined;

/** The local deployment's object URLs, when it configured them (both settings or neither). */
function localObjectUrls(config: z.infer<typeof ControlPlaneEnv>) {
  const { LOCAL_OBJECTS_URL: baseUrl, LOCAL_OBJECTS_KEY: key } = config;
  if (!baseUrl !== !key) throw new Error('LOCAL_OBJECTS_URL and LOCAL_OBJECTS_KEY are set together or not at all');
  return baseUrl && key ? { baseUrl, key: Buffer.from(key, 'base64') } : undefined;
}

export function controlPlane(): ControlPlane {
  if (!instance) {
    const config = loadConfig(ControlPlaneEnv);
    const doc = createDocumentClient();
    const sessions = new SessionStore(doc, config.TABLE_NAME);
    const tenants = new TenantStore(doc, config.TABLE_NAME, config.SIP_DOMAIN);
    const rateLimiter = new FixedWindowRateLimiter(doc, config.TABLE_NAME);
    const logger = createPowertoolsLogger({ service: SERVICE.controlPlane });
    const limitDefaults: LimitDefaults = {
      maxConcurrentCalls: config.TENANT_MAX_CONCURRENT_CALLS,
      callsPerSecond: config.TENANT_CALLS_PER_SECOND,
      maxNumbers: config.TENANT_MAX_NUMBERS,
      maxSlowCallbacks: config.TENANT_MAX_SLOW_CALLBACKS,
    };
    const registry = new NodeRegistry(doc, config.TABLE_NAME);
    instance = {
      config,
      conferences: new ConferenceService(new ConferenceStore(doc, config.TABLE_NAME), registry, sessions),
      secrets: secretBoxFromEnv(
        process.env,
        () => new KMSClient({ maxAttempts: 3, requestHandler: boundedRequests() }),
      ),
      liveCalls: new LiveCallService(sessions, registry, {
        attempts: new CallSlots(doc, config.TABLE_NAME),
        active: new ActiveCallCounts(doc, config.TABLE_NAME),
        policyFor: async (tenantId) => {
          const tenant = await tenants.get(tenantId);
          const limits = effectiveLimits(tenant?.limits, limitDefaults);
          return {
            suspended: tenant?.state === 'suspended' ? { reason: tenant.suspendedReason } : undefined,
            maxConcurrentCalls: limits.maxConcurrentCalls,
            callsPerSecond: limits.callsPerSecond,
            checkDestination: (destination) =>
              checkDestination(destination, config.OUTBOUND_DESTINATIONS, limits.outboundDestinations),
          };
        },
      }),
      settings: new DeploymentSettingsStore(doc, config.TABLE_NAME),
      invitations: new InvitationStore(doc, config.TABLE_NAME),
      sipCredentials: new SipCredentialStore(doc, config.TABLE_NAME),
      limitDefaults,
      idempotency: new IdempotencyStore(doc, config.TABLE_NAME, logger),
      tenants,
      sessions,
      sessionQueries: new SessionQueries(doc, config.TABLE_NAME),
      usage: new UsageStore(doc, config.TABLE_NAME),
      rateLimiter,
      slowCallbacks: {
        slots: new SlowCallbackSlots(doc, config.TABLE_NAME),
        afterMs: config.SLOW_CALLBACK_MS,
        limitFor: (tenant) => effectiveLimits(tenant.limits, limitDefaults).maxSlowCallbacks,
      },
      prompts: promptStoreFromSpec(config.PROMPT_STORE, {
        s3: () => new S3Client({ maxAttempts: 3, requestHandler: boundedRequests(AWS_STREAMING_LIMITS) }),
        cacheDir: config.PROMPT_CACHE_DIR,
        objectUrls: localObjectUrls(config),
      }),
      logger,
      metrics: createPowertoolsMetrics({ service: SERVICE.controlPlane, logger }),
      tracer: tracerFromSpec(config.TRACES_EXPORTER, { service: SERVICE.controlPlane, logger }),
    };
  }
  return instance;
}

/**
 * Dependencies for createApiHandler. No cache in front of authenticate: a revoked key fails at once, and
 * so does a suspended tenant's (403 tenant_suspended; one more consistent read of the tenant's state).
 */
export function apiDeps(): ApiDeps {
  const cp = controlPlane();
  return {
    authenticate: async (key: string) => {
      const principal = await cp.tenants.authenticate(key);
      if (!principal) return undefined;
      const suspended = await cp.tenants.suspension(principal.tenantId);
      if (suspended) throw tenantSuspendedError(suspended.reason);
      return principal;
    },
    idempotency: cp.idempotency,
    logger: cp.logger,
    metrics: cp.metrics,
  };
}

let adminTokens: AdminTokenSource | undefined;

/** Where the admin token's hash comes from: the secret on AWS, the configured hash locally, else none. */
function adminTokenSource(config: ControlPlane['config']): AdminTokenSource {
  if (config.ADMIN_TOKEN_SECRET_ARN) {
    const client = new SecretsManagerClient({ maxAttempts: 3, requestHandler: boundedRequests() });
    return new SecretTokenSource(
      async (secretId) => (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString,
      config.ADMIN_TOKEN_SECRET_ARN,
    );
  }
  return fixedHash(config.ADMIN_TOKEN_SHA256);
}

/** Dependencies of the admin routes: the admin token, never a tenant key. */
export function adminApiDeps(): ApiDeps {
  const cp = controlPlane();
  adminTokens ??= adminTokenSource(cp.config);
  const tokens = adminTokens;
  return {
    authenticate: async () => undefined,
    authenticateAdmin: (token: string) => verifyAdminToken(tokens, token),
    idempotency: cp.idempotency,
    logger: cp.logger,
    metrics: cp.metrics,
  };
}
