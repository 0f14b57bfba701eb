import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, loadConfig } from '@sipms/shared/config';
import { parseClaimableNumbers } from '@sipms/shared/domain/number-policy';
import { parseOutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import { createLogger } from '@sipms/shared/util/logger';
import { z } from 'zod';
import { localTracesExporter, startLocalControlPlane } from './control-plane.js';
import { type NodeAddress, NodeSupervisor } from './node-supervisor.js';

/** An allow-list setting, checked at start-up by the parser the API uses, which names a bad entry. */
const allowList = (parse: (spec: string) => unknown) =>
  z
    .string()
    .default('*')
    .transform((spec, ctx) => {
      try {
        parse(spec);
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: spec });
      }
      return spec;
    });

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
    /** SIP over WebSocket for the console's softphone: node i listens on SIP_WS_PORT + i; `off` for none. */
    SIP_WS_PORT: z.union([z.literal('off'), z.coerce.number().int().min(1).max(65535)]).default(5066),
    /** Each media node's Prometheus /metrics: node i listens on METRICS_PORT + i (METRICS_HOST); 0 turns it off. */
    METRICS_PORT: envInt(9464, 0, 65535),
    TABLE_NAME: z.string().default('sip-mediaserver'),
    /** The local deployment is where a developer's webhook runs: loopback callback URLs are allowed. */
    CALLBACK_URL_POLICY: z.enum(['allow-loopback', 'public-https']).default('allow-loopback'),
    /** Media nodes to run against this control plane (each with its own SIP port and rtpengine). */
    MEDIA_NODES: envInt(1, 1, 8),
    /** The operator's admin token; unset: one is made once in DATA_DIR/run/admin-token (mode 0600). */
    ADMIN_TOKEN: z.string().min(24, 'at least 24 characters').optional(),
    /** Numbers tenants may claim (docs/security.md): on one machine, any by default. */
    CLAIMABLE_NUMBERS: allowList(parseClaimableNumbers),
    /** Where tenants' calls may go (docs/security.md): on one machine, anywhere by default. */
    OUTBOUND_DESTINATIONS: allowList(parseOutboundDestinations),
    /** How long a media node lets its calls finish after SIGTERM (the node reads the same setting). */
    DRAIN_TIMEOUT_MS: envInt(600_000, 0, 7_200_000),
  })
  .passthrough();

const log = createLogger({ service: 'local-stack' });
const here = fileURLToPath(new URL('.', import.meta.url));
// Bundled (`npm start`): the media node's bundle beside this one; from source (tests of this file): its main.ts.
const mediaNodeEntry = import.meta.url.endsWith('.mjs')
  ? resolve(here, '../media-node/main.mjs')
  : resolve(here, '../../../media-node/src/main.ts');
// The console's files, built beside the bundles (build-bundles.ts); from source, where the last build put them.
const consoleDir = import.meta.url.endsWith('.mjs')
  ? resolve(here, '../console')
  : resolve(here, '../../../.build/console');

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

async function main(): Promise<void> {
  const config = loadConfig(LocalEnv);
  const dataDir = resolve(config.DATA_DIR);
  await assertTcpPortFree(config.API_HOST, config.API_PORT, 'API_PORT');
  const wsPort = config.SIP_WS_PORT === 'off' ? undefined : config.SIP_WS_PORT;
  if (wsPort !== undefined) await assertTcpPortFree(config.SIP_HOST, wsPort, 'SIP_WS_PORT');
  // Browsers are sent to node 1 (a wildcard SIP_HOST is reached on loopback from this machine's browser).
  const wsHost = ['0.0.0.0', '::'].includes(config.SIP_HOST) ? '127.0.0.1' : config.SIP_HOST;

  const controlPlane = await startLocalControlPlane({
    dataDir,
    tableName: config.TABLE_NAME,
    sipDomain: config.SIP_DOMAIN,
    apiHost: config.API_HOST,
    apiPort: config.API_PORT,
    callbackUrlPolicy: config.CALLBACK_URL_POLICY,
    adminToken: config.ADMIN_TOKEN,
    claimableNumbers: config.CLAIMABLE_NUMBERS,
    outboundDestinations: config.OUTBOUND_DESTINATIONS,
    consoleDir,
    softphoneWsUrl:
      wsPort === undefined ? undefined : `ws://${wsHost.includes(':') ? `[${wsHost}]` : wsHost}:${wsPort}`,
    logger: log,
  });

  // Where this control plane listens, for tools and extra media nodes that join this deployment; once the media
  // nodes are up, their addresses too (`mediaNodes`: SIP, transports, /metrics URL).
  await mkdir(resolve(dataDir, 'run'), { recursive: true });
  const writeRunInfo = (mediaNodes?: NodeAddress[]) =>
    writeFile(
      resolve(dataDir, 'run', 'control-plane.json'),
      JSON.stringify(
        {
          apiUrl: controlPlane.apiUrl,
          tableName: config.TABLE_NAME,
          env: controlPlane.env,
          ...(mediaNodes ? { mediaNodes } : {}),
        },
        null,
        2,
      ),
    );
  await writeRunInfo();

  const nodes: NodeSupervisor[] = [];
  const addresses: NodeAddress[] = [];
  let stopping = false;
  // SIGINT ends the calls at once; SIGTERM lets each node drain first (bounded by DRAIN_TIMEOUT_MS).
  const shutdown = async (code: number, signal: 'SIGINT' | 'SIGTERM' = 'SIGINT') => {
    if (stopping) return;
    stopping = true;
    const boundMs = signal === 'SIGTERM' ? config.DRAIN_TIMEOUT_MS + 15_000 : 15_000;
    await Promise.all(nodes.map((node) => node.stop(signal, boundMs)));
    await controlPlane.close();
    process.exit(code);
  };

  // Several media nodes share one control plane, as an Auto Scaling group's nodes do: node i listens on
  // SIP_PORT + i, takes the i-th slice of the RTP range and rtpengine control port RTPENGINE_NG_PORT + i,
  // and serves /metrics on METRICS_PORT + i.
  const slice = Math.floor((config.RTP_PORT_MAX - config.RTP_PORT_MIN + 1) / config.MEDIA_NODES);
  // Media nodes never get anything of the admin token.
  const { ADMIN_TOKEN_SHA256: _adminHash, ADMIN_TOKEN: _adminToken, ...nodeEnvironment } = process.env;
  try {
    for (let i = 0; i < config.MEDIA_NODES; i++) {
      const node = new NodeSupervisor(
        mediaNodeEntry,
        {
          ...nodeEnvironment,
          ...controlPlane.env,
          NODE_ID: `${process.env.NODE_ID ?? 'local'}-${i + 1}`,
          SIP_HOST: config.SIP_HOST,
          SIP_PORT: String(config.SIP_PORT + i),
          SIP_WS_PORT: wsPort === undefined ? 'off' : String(wsPort + i),
          RTP_PORT_MIN: String(config.RTP_PORT_MIN + i * slice),
          RTP_PORT_MAX: String(config.RTP_PORT_MIN + (i + 1) * slice - 1),
          RTPENGINE_NG_PORT: String(config.RTPENGINE_NG_PORT + i),
          METRICS_PORT: String(config.METRICS_PORT === 0 ? 0 : config.METRICS_PORT + i),
          EVENT_BUS_NAME: 'default',
          CACHE_DIR: resolve(dataDir, 'cache'),
          RUN_DIR: resolve(dataDir, 'run', `node-${i + 1}`),
          TRACES_EXPORTER: localTracesExporter(dataDir, `media-node-${i + 1}`),
        },
        String(i + 1),
        log,
        (reason) => {
          log.error({}, `${reason}; stopping`);
          void shutdown(1);
        },
      );
      nodes.push(node);
      addresses.push(await node.start());
    }
  } catch (err) {
    log.error({}, (err as Error).message);
    await shutdown(1);
    return;
  }

  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    log.info({ signal }, 'stopping');
    void shutdown(0, signal);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  await writeRunInfo(addresses);
  const sip = addresses.map((n) => `sip:${n.sip.host}:${n.sip.port} (${n.transports.join(', ')})`).join(', ');
  const admin = controlPlane.adminTokenFile ?? 'from ADMIN_TOKEN';
  const metricsUrls = addresses.flatMap((n) => (n.metrics ? [n.metrics] : []));
  // Appended last, so that readers of the line's earlier fields keep working.
  const metrics = metricsUrls.length > 0 ? ` | metrics ${metricsUrls.join(', ')}` : '';
  process.stdout.write(
    `SIP Mediaserver ready: API ${controlPlane.apiUrl} | SIP ${sip} | data ${dataDir} | admin token ${admin}${metrics}\n`,
  );
}

main().catch((err) => {
  log.error({}, (err as Error).message ?? String(err));
  process.exit(1);
});
