import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ROUTE_GROUPS, ROUTES, type RouteGroup } from '@sipms/shared/api/routes';
import type { BusEvent } from '@sipms/shared/events/envelope';
import { RULES } from '@sipms/shared/events/rules';
import { isNotFound } from '@sipms/shared/util/fs-errors';
import type { Logger } from '@sipms/shared/util/logger';
import { startDynamoDbLocal } from './dynamodb-local.js';
import { type ApiLambda, LambdaHttpAdapter } from './lambda-http-adapter.js';
import { LocalEventBus } from './local-event-bus.js';

export interface LocalControlPlaneOptions {
  dataDir: string;
  tableName: string;
  sipDomain: string;
  apiHost: string;
  apiPort: number;
  callbackUrlPolicy: 'allow-loopback' | 'public-https';
  logger: Logger;
}

export interface LocalControlPlane {
  apiUrl: string;
  dynamoEndpoint: string;
  busEndpoint: string;
  /** The environment a media node needs to reach this control plane. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The control plane on one machine: dynalite, the local PutEvents endpoint routing by the shared rules to
 * the dispatcher handler, and every API route group's handler behind the local API Gateway adapter. The
 * handlers are the deployed ones; they find their endpoints in the same variables a Lambda gets.
 */
export async function startLocalControlPlane(opts: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const dynamo = await startDynamoDbLocal(resolve(opts.dataDir, 'dynamodb'), opts.tableName);
  const secretsKey = await localSecretsKey(resolve(opts.dataDir, 'run', 'secrets.key'));
  const env: Record<string, string> = {
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    TABLE_NAME: opts.tableName,
    SIP_DOMAIN: opts.sipDomain,
    PROMPT_STORE: `dir:${resolve(opts.dataDir, 'prompts')}`,
    CALLBACK_URL_POLICY: opts.callbackUrlPolicy,
    // Seals tenants' trunk passwords; kept beside the data so they can be opened after a restart.
    SECRETS_KEY: secretsKey,
  };
  Object.assign(process.env, env);

  const { handler: dispatcher } = (await import('@sipms/lambdas/handlers/dispatcher')) as {
    handler: (e: BusEvent) => Promise<void>;
  };
  const bus = new LocalEventBus(RULES, { dispatcher }, opts.logger.child({ c: 'event-bus' }));
  const busEndpoint = await bus.start();
  env.AWS_ENDPOINT_URL_EVENTBRIDGE = busEndpoint;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = busEndpoint;

  const handlers = {} as Record<RouteGroup, ApiLambda>;
  for (const group of ROUTE_GROUPS) {
    handlers[group] = ((await import(`@sipms/lambdas/handlers/${group}`)) as { handler: ApiLambda }).handler;
  }
  const api = new LambdaHttpAdapter(ROUTES, handlers, opts.logger.child({ c: 'api' }));
  await api.start(opts.apiHost, opts.apiPort);

  return {
    apiUrl: `http://${opts.apiHost}:${opts.apiPort}`,
    dynamoEndpoint: dynamo.endpoint,
    busEndpoint,
    env,
    async close() {
      await api.close();
      await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 2000))]);
      await dynamo.close();
    },
  };
}

/** The local deployment's secrets key (32 random bytes, base64), made on first start, readable only by its owner. */
async function localSecretsKey(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await mkdir(dirname(path), { recursive: true });
    const key = randomBytes(32).toString('base64');
    // 'wx': when another process made the key first, EEXIST, and its key is the one to read.
    await writeFile(path, key, { mode: 0o600, flag: 'wx' }).catch((writeErr: unknown) => {
      if ((writeErr as { code?: unknown }).code !== 'EEXIST') throw writeErr;
    });
    return (await readFile(path, 'utf8')).trim();
  }
}
