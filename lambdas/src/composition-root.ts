import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { promptStoreFromSpec } from '@sipms/shared/adapters/prompt-store-from-spec';
import { createDocumentClient } from '@sipms/shared/aws/clients';
import { CommonEnv, envInt, loadConfig } from '@sipms/shared/config';
import { type SecretBox, secretBoxFromEnv } from '@sipms/shared/crypto/secret-box';
import { ActiveCallCounts } from '@sipms/shared/data/active-calls';
import { IdempotencyStore } from '@sipms/shared/data/idempotency-store';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { FixedWindowRateLimiter } from '@sipms/shared/data/rate-limit';
import { SessionQueries } from '@sipms/shared/data/session-queries';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { UsageStore } from '@sipms/shared/data/usage-store';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { createLogger, type Logger } from '@sipms/shared/util/logger';
import { z } from 'zod';
import type { ApiDeps } from './http/api-handler.js';
import { LiveCallService } from './live-calls/live-call-service.js';

/** Everything a control-plane handler needs, built once per cold start from the environment. */
export interface ControlPlane {
  config: Readonly<z.infer<typeof ControlPlaneEnv>>;
  tenants: TenantStore;
  sessions: SessionStore;
  sessionQueries: SessionQueries;
  usage: UsageStore;
  rateLimiter: FixedWindowRateLimiter;
  prompts: PromptStore;
  liveCalls: LiveCallService;
  /** Seals tenants' trunk passwords; undefined when no key is configured. */
  secrets: SecretBox | undefined;
  idempotency: IdempotencyStore;
  logger: Logger;
}

const ControlPlaneEnv = z.object({
  ...CommonEnv,
  PROMPT_MAX_BYTES: z.coerce.number().int().positive().default(5_000_000),
  /** Signups per source address (IPv6: per /64) per hour. */
  SIGNUP_LIMIT_PER_HOUR: envInt(10, 1, 1_000_000),
  /** Where an S3 prompt store caches files for local playback (Lambda: only /tmp is writable). */
  PROMPT_CACHE_DIR: z.string().default(join(tmpdir(), 'sipms-prompt-cache')),
});

let instance: ControlPlane | undefined;

export function controlPlane(): ControlPlane {
  if (!instance) {
    const config = loadConfig(ControlPlaneEnv);
    const doc = createDocumentClient();
    const sessions = new SessionStore(doc, config.TABLE_NAME);
    const tenants = new TenantStore(doc, config.TABLE_NAME, config.SIP_DOMAIN);
    const rateLimiter = new FixedWindowRateLimiter(doc, config.TABLE_NAME);
    const logger = createLogger({ service: 'control-plane' });
    instance = {
      config,
      secrets: secretBoxFromEnv(process.env, () => new KMSClient({ maxAttempts: 3 })),
      liveCalls: new LiveCallService(sessions, new NodeRegistry(doc, config.TABLE_NAME), {
        rate: rateLimiter,
        active: new ActiveCallCounts(doc, config.TABLE_NAME),
        limitsFor: async (tenantId) => {
          const tenant = (await tenants.get(tenantId)) as
            | { limits?: { maxConcurrentCalls?: number; callsPerSecond?: number } }
            | undefined;
          return {
            maxConcurrentCalls: tenant?.limits?.maxConcurrentCalls ?? config.TENANT_MAX_CONCURRENT_CALLS,
            callsPerSecond: tenant?.limits?.callsPerSecond ?? config.TENANT_CALLS_PER_SECOND,
          };
        },
      }),
      idempotency: new IdempotencyStore(doc, config.TABLE_NAME, logger),
      tenants,
      sessions,
      sessionQueries: new SessionQueries(doc, config.TABLE_NAME),
      usage: new UsageStore(doc, config.TABLE_NAME),
      rateLimiter,
      prompts: promptStoreFromSpec(config.PROMPT_STORE, {
        s3: () => new S3Client({ maxAttempts: 3 }),
        cacheDir: config.PROMPT_CACHE_DIR,
      }),
      logger,
    };
  }
  return instance;
}

/** Dependencies for createApiHandler. No cache in front of authenticate: a revoked key fails at once. */
export function apiDeps(): ApiDeps {
  const cp = controlPlane();
  return {
    authenticate: (key: string) => cp.tenants.authenticate(key),
    idempotency: cp.idempotency,
    logger: cp.logger,
  };
}
