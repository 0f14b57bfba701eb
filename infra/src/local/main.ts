import { type ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROUTES } from '@sipms/shared/api/routes';
import { envInt, loadConfig } from '@sipms/shared/config';
import { RULES } from '@sipms/shared/events/rules';
import { createLogger } from '@sipms/shared/util/logger';
import { z } from 'zod';
import { startDynamoDbLocal } from './dynamodb-local.js';
import { LambdaHttpAdapter } from './lambda-http-adapter.js';
import { LocalEventBus } from './local-event-bus.js';

/**
 * The single-machine deployment (`npm start`): dynalite, the local PutEvents endpoint routing by the shared
 * rules to the dispatcher handler, the API handlers behind a local API Gateway adapter, and a media node
 * child process (which supervises its rtpengine). Everything talks over the same APIs as on AWS.
 */
const LocalEnv = z
  .object({
    DATA_DIR: z.string().default('.data'),
    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: envInt(8080, 0, 65535),
    SIP_HOST: z.string().default('127.0.0.1'),
    SIP_PORT: envInt(5060, 1, 65535),
    SIP_DOMAIN: z.string().default('sip.localhost'),
    RTP_PORT_MIN: envInt(30000, 1024, 65535),
    RTP_PORT_MAX: envInt(30999, 1024, 65535),
    RTPENGINE_NG_PORT: envInt(22222, 1, 65535),
    TABLE_NAME: z.string().default('sip-mediaserver'),
  })
  .passthrough();

const log = createLogger({ service: 'local-stack' });
const here = fileURLToPath(new URL('.', import.meta.url));

async function assertTcpPortFree(host: string, port: number, variable: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((ok, fail) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        new Error(
          err.code === 'EADDRINUSE'
            ? `TCP ${host}:${port} is already in use: set ${variable} to a free port`
            : `cannot listen on ${host}:${port} (${variable}): ${err.message}`,
        ),
      ),
    );
    probe.listen(port, host, () => probe.close(() => ok()));
  });
}

function startMediaNode(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; sip: { host: string; port: number } }> {
  const entry = resolve(here, '../../../media-node/src/main.ts');
  const child = fork(entry, [], { env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((ok, fail) => {
    child.once('message', (msg: { type: string; sip?: { host: string; port: number }; message?: string }) => {
      if (msg.type === 'ready' && msg.sip) ok({ child, sip: msg.sip });
      else fail(new Error(msg.message ?? 'media node failed to start'));
    });
    child.once('exit', (code) => fail(new Error(`media node exited during start-up (code ${code})`)));
  });
}

async function main(): Promise<void> {
  const config = loadConfig(LocalEnv);
  const dataDir = resolve(config.DATA_DIR);
  await assertTcpPortFree(config.API_HOST, config.API_PORT, 'API_PORT');

  const dynamo = await startDynamoDbLocal(resolve(dataDir, 'dynamodb'), config.TABLE_NAME);

  // The handlers and SDK clients read these when first used: the same variables a Lambda gets from CDK.
  Object.assign(process.env, {
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    TABLE_NAME: config.TABLE_NAME,
    SIP_DOMAIN: config.SIP_DOMAIN,
    PROMPT_STORE: `dir:${resolve(dataDir, 'prompts')}`,
    CALLBACK_URL_POLICY: 'allow-loopback',
  });
  const { handler: dispatcher } = await import('@sipms/lambdas/handlers/dispatcher');
  const { handler: tenants } = await import('@sipms/lambdas/handlers/tenants');
  const { handler: media } = await import('@sipms/lambdas/handlers/media');
  const { handler: sessions } = await import('@sipms/lambdas/handlers/sessions');

  const bus = new LocalEventBus(RULES, { dispatcher }, log.child({ c: 'event-bus' }));
  const busEndpoint = await bus.start();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = busEndpoint;

  const api = new LambdaHttpAdapter(ROUTES, { tenants, media, sessions }, log.child({ c: 'api' }));
  await api.start(config.API_HOST, config.API_PORT);

  let node: Awaited<ReturnType<typeof startMediaNode>> | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    if (node && node.child.exitCode === null) {
      const gone = new Promise((r) => node!.child.once('exit', r));
      node.child.kill('SIGTERM');
      const timer = setTimeout(() => node?.child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    await api.close();
    await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 2000))]);
    await dynamo.close();
    process.exit(code);
  };

  try {
    node = await startMediaNode({
      ...process.env,
      NODE_ID: process.env.NODE_ID ?? 'local-1',
      SIP_HOST: config.SIP_HOST,
      SIP_PORT: String(config.SIP_PORT),
      RTP_PORT_MIN: String(config.RTP_PORT_MIN),
      RTP_PORT_MAX: String(config.RTP_PORT_MAX),
      RTPENGINE_NG_PORT: String(config.RTPENGINE_NG_PORT),
      EVENT_BUS_NAME: 'default',
      CACHE_DIR: resolve(dataDir, 'cache'),
      RUN_DIR: resolve(dataDir, 'run'),
    });
  } catch (err) {
    log.error({}, (err as Error).message);
    await shutdown(1);
    return;
  }
  node.child.once('exit', (code) => {
    if (stopping) return;
    log.error({ code }, 'media node exited; stopping');
    void shutdown(1);
  });

  const onSignal = (signal: string) => {
    log.info({ signal }, 'stopping');
    void shutdown(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const apiUrl = `http://${config.API_HOST}:${config.API_PORT}`;
  process.stdout.write(
    `SIP Mediaserver ready: API ${apiUrl} | SIP sip:${node.sip.host}:${node.sip.port} (udp) | data ${dataDir}\n`,
  );
}

main().catch((err) => {
  log.error({}, (err as Error).message ?? String(err));
  process.exit(1);
});
