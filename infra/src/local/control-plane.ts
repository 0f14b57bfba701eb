import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FsPromptStore, LOCAL_OBJECTS_PATH } from '@sipms/shared/adapters/fs-prompt-store';
import { localObjectHandler } from '@sipms/shared/adapters/local-object-server';
import { ROUTE_GROUPS, ROUTES, type RouteGroup } from '@sipms/shared/api/routes';
import type { BusEvent } from '@sipms/shared/events/envelope';
import { RULES } from '@sipms/shared/events/rules';
import { isNotFound } from '@sipms/shared/util/fs-errors';
import { randomSecret, sha256Hex } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import { consoleEndpoint } from './console-static.js';
import { startDynamoDbLocal } from './dynamodb-local.js';
import { type ApiLambda, LambdaHttpAdapter } from './lambda-http-adapter.js';
import { LocalEventBus } from './local-event-bus.js';

/** How often the control plane sweeps for dead media nodes (their heartbeat is stale after 15 s). */
const SWEEP_EVERY_MS = 15_000;

export interface LocalControlPlaneOptions {
  dataDir: string;
  tableName: string;
  sipDomain: string;
  apiHost: string;
  apiPort: number;
  callbackUrlPolicy: 'allow-loopback' | 'public-https';
  /** The operator's admin token (setting ADMIN_TOKEN); when absent, one is made once in DATA_DIR/run/admin-token. */
  adminToken?: string | undefined;
  /** Numbers tenants may claim (CLAIMABLE_NUMBERS) and where their calls may go (OUTBOUND_DESTINATIONS). */
  claimableNumbers: string;
  outboundDestinations: string;
  /** The tenant console's built files, served at /console (absent: no console). */
  consoleDir?: string | undefined;
  /** Where browsers reach media node 1's SIP WebSocket transport (SOFTPHONE_WS_URL of the API); undefined: no softphone. */
  softphoneWsUrl?: string | undefined;
  logger: Logger;
}

export interface LocalControlPlane {
  apiUrl: string;
  dynamoEndpoint: string;
  busEndpoint: string;
  /** The environment a media node needs to reach this control plane. */
  env: Record<string, string>;
  /** Where the admin token is (mode 0600), or undefined when it came from the ADMIN_TOKEN setting. */
  adminTokenFile: string | undefined;
  close(): Promise<void>;
}

/**
 * The API's Lambda handlers, imported once the environment above is set (they read it when loaded). Named
 * one by one so the esbuild bundle `npm start` runs contains each of them.
 */
const API_HANDLERS: Record<RouteGroup, () => Promise<{ handler: ApiLambda }>> = {
  admin: () => import('@sipms/lambdas/handlers/admin'),
  'api-keys': () => import('@sipms/lambdas/handlers/api-keys'),
  calls: () => import('@sipms/lambdas/handlers/calls'),
  media: () => import('@sipms/lambdas/handlers/media'),
  openapi: () => import('@sipms/lambdas/handlers/openapi'),
  sessions: () => import('@sipms/lambdas/handlers/sessions'),
  tenants: () => import('@sipms/lambdas/handlers/tenants'),
  usage: () => import('@sipms/lambdas/handlers/usage'),
};

/** As the user started `npm start` (read before this process sets its own). */
const USER_TRACES_EXPORTER = process.env.TRACES_EXPORTER;

/**
 * Where a local process's spans go: TRACES_EXPORTER as the user set it, else OTLP when OTEL_EXPORTER_OTLP_ENDPOINT
 * is set, else a JSON-lines file per process under `<DATA_DIR>/traces/` (docs/operations.md, "Traces").
 */
export function localTracesExporter(dataDir: string, processName: string): string {
  if (USER_TRACES_EXPORTER) return USER_TRACES_EXPORTER;
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return 'otlp';
  return `file:${resolve(dataDir, 'traces', `${processName}.jsonl`)}`;
}

/**
 * The control plane on one machine: dynalite, the local PutEvents endpoint routing by the shared rules to
 * the dispatcher handler, and every API route group's handler behind the local API Gateway adapter. The
 * handlers are the deployed ones; they find their endpoints in the same variables a Lambda gets.
 */
export async function startLocalControlPlane(opts: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const dynamo = await startDynamoDbLocal(resolve(opts.dataDir, 'dynamodb'), opts.tableName);
  const secretsKey = await localSecret(resolve(opts.dataDir, 'run', 'secrets.key'), () =>
    randomBytes(32).toString('base64'),
  );
  const promptsDir = resolve(opts.dataDir, 'prompts');
  const apiUrl = `http://${opts.apiHost}:${opts.apiPort}`;
  const env: Record<string, string> = {
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    TABLE_NAME: opts.tableName,
    SIP_DOMAIN: opts.sipDomain,
    PROMPT_STORE: `dir:${promptsDir}`,
    CALLBACK_URL_POLICY: opts.callbackUrlPolicy,
    // Seals tenants' trunk passwords; kept beside the data so they can be opened after a restart.
    SECRETS_KEY: secretsKey,
    // The operator's allow-lists (docs/security.md): the API applies both, media nodes the destinations.
    CLAIMABLE_NUMBERS: opts.claimableNumbers,
    OUTBOUND_DESTINATIONS: opts.outboundDestinations,
    // The Lambdas' CloudWatch metrics (EMF on stdout) are for AWS: here the same code runs and writes none.
    POWERTOOLS_METRICS_DISABLED: 'true',
    TRACES_EXPORTER: localTracesExporter(opts.dataDir, 'control-plane'),
  };
  Object.assign(process.env, env);
  // The API's only (the nodes get `env`): the softphone credential route hands this URL to browsers.
  if (opts.softphoneWsUrl) process.env.SOFTPHONE_WS_URL = opts.softphoneWsUrl;
  // The admin routes get only the token's hash, and only in this process: never the media nodes' environment.
  const adminTokenFile = opts.adminToken ? undefined : resolve(opts.dataDir, 'run', 'admin-token');
  const adminToken = opts.adminToken ?? (await localSecret(adminTokenFile!, () => `msa_${randomSecret(32)}`));
  process.env.ADMIN_TOKEN_SHA256 = sha256Hex(adminToken);
  delete process.env.ADMIN_TOKEN;
  // The key of the local stand-in for S3's presigned URLs (large prompts and recordings, both directions): kept
  // beside the data so URLs survive a restart, given to the API handlers in this process only, never the nodes.
  const objectUrlKey = await localSecret(resolve(opts.dataDir, 'run', 'object-urls.key'), () =>
    randomBytes(32).toString('base64'),
  );
  process.env.LOCAL_OBJECTS_URL = apiUrl;
  process.env.LOCAL_OBJECTS_KEY = objectUrlKey;

  const { handler: dispatcher } = (await import('@sipms/lambdas/handlers/dispatcher')) as {
    handler: (e: BusEvent) => Promise<void>;
  };
  // Events whose delivery failed every attempt: kept as the dead-letter queue keeps them on AWS (docs/callback-delivery.md).
  const deadLetterFile = resolve(opts.dataDir, 'dead-letters.jsonl');
  const bus = new LocalEventBus(RULES, { dispatcher }, opts.logger.child({ c: 'event-bus' }), {
    deadLetters: async (letter) => {
      const line = { at: new Date().toISOString(), ...letter };
      await appendFile(deadLetterFile, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    },
  });
  const busEndpoint = await bus.start();
  env.AWS_ENDPOINT_URL_EVENTBRIDGE = busEndpoint;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = busEndpoint;

  // The media nodes sweep for dead ones; this covers the case where every local node is dead, as the
  // scheduled function does on AWS (docs/deploy.md): the same handler, on a timer.
  process.env.EVENT_BUS_NAME ??= 'default';
  const { handler: sweep } = (await import('@sipms/lambdas/handlers/node-sweeper')) as {
    handler: () => Promise<unknown>;
  };
  const sweepTimer = setInterval(() => {
    sweep().catch((err) => opts.logger.warn({ err }, 'dead-node sweep failed; the next one retries'));
  }, SWEEP_EVERY_MS);
  sweepTimer.unref();

  const handlers = {} as Record<RouteGroup, ApiLambda>;
  for (const group of ROUTE_GROUPS) handlers[group] = (await API_HANDLERS[group]()).handler;
  const objects = localObjectHandler({
    store: new FsPromptStore(promptsDir),
    key: Buffer.from(objectUrlKey, 'base64'),
    logger: opts.logger.child({ c: 'objects' }),
  });
  const api = new LambdaHttpAdapter(ROUTES, handlers, opts.logger.child({ c: 'api' }), [
    { prefix: LOCAL_OBJECTS_PATH, handle: objects },
    ...(opts.consoleDir ? [consoleEndpoint(opts.consoleDir, opts.softphoneWsUrl)] : []),
  ]);
  await api.start(opts.apiHost, opts.apiPort);

  return {
    apiUrl,
    dynamoEndpoint: dynamo.endpoint,
    busEndpoint,
    env,
    adminTokenFile,
    async close() {
      clearInterval(sweepTimer);
      await api.close();
      await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 2000))]);
      await dynamo.close();
    },
  };
}

/**
 * A secret of the local deployment kept in a file (the secrets key, the admin token), made on first start
 * and readable only by its owner.
 */
async function localSecret(path: string, make: () => string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await mkdir(dirname(path), { recursive: true });
    const key = make();
    // 'wx': when another process made the key first, EEXIST, and its key is the one to read.
    await writeFile(path, key, { mode: 0o600, flag: 'wx' }).catch((writeErr: unknown) => {
      if ((writeErr as { code?: unknown }).code !== 'EEXIST') throw writeErr;
    });
    return (await readFile(path, 'utf8')).trim();
  }
}
