import { createSocket } from 'node:dgram';
import { FsPromptStore } from '@sipms/shared/adapters/fs-prompt-store';
import { createDocumentClient, createEventBridgeClient } from '@sipms/shared/aws/clients';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import type { Logger } from '@sipms/shared/util/logger';
import { InboundCallFlow } from './call/inbound-call-flow.js';
import { BusCallbacks } from './callbacks/bus-callbacks.js';
import type { MediaNodeConfig } from './config.js';
import { FileAudioSources } from './media/audio-sources.js';
import { DtmfLogListener } from './media/dtmf-log-listener.js';
import { RtpEngineController } from './media/rtpengine-controller.js';
import { RtpEngineMedia } from './media/rtpengine-media.js';
import { RtpEngineProcess } from './media/rtpengine-process.js';
import type { SignalingPort } from './ports/signaling.js';
import { BuiltinSignaling } from './sip/builtin/builtin-signaling.js';
import type { SipLogger } from './sip/builtin/logger.js';

export interface RunningMediaNode {
  nodeId: string;
  sip: { host: string; port: number };
  flow: InboundCallFlow;
  stop(): Promise<void>;
}

/** A clear start-up error that names the setting to change. */
export class StartupError extends Error {
  override name = 'StartupError';
}

function promptStoreFrom(spec: string): PromptStore {
  const i = spec.indexOf(':');
  if (spec.slice(0, i) === 'dir') return new FsPromptStore(spec.slice(i + 1));
  throw new StartupError(`PROMPT_STORE "${spec}" is not available in this build`);
}

function sipLogger(logger: Logger): SipLogger {
  const adapt =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: unknown, msg?: string): void => {
      if (typeof obj === 'string') logger[level]({}, obj);
      else logger[level]((obj ?? {}) as Record<string, unknown>, msg ?? '');
    };
  return { debug: adapt('debug'), info: adapt('info'), warn: adapt('warn'), error: adapt('error') };
}

async function assertUdpPortFree(host: string, port: number, variable: string): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(`UDP ${host}:${port} is already in use: set ${variable} to a free port`)
          : new StartupError(`cannot bind UDP ${host}:${port} (${variable}): ${err.message}`),
      );
    });
    socket.bind(port, host, () => socket.close(() => resolve()));
  });
}

/** The media node's composition root: wires adapters to ports and starts them in order. */
export async function startMediaNode(config: Readonly<MediaNodeConfig>, logger: Logger): Promise<RunningMediaNode> {
  if (config.SIGNALING !== 'builtin') throw new StartupError('SIGNALING=drachtio is not available in this build');
  const rtpHost = config.RTP_HOST ?? config.SIP_HOST;
  const stack: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const fn of stack.reverse())
      await Promise.resolve(fn()).catch((err) => logger.warn({ err }, 'stop step failed'));
  };

  try {
    const doc = createDocumentClient();
    const tenants = new TenantStore(doc, config.TABLE_NAME, config.SIP_DOMAIN);
    const sessions = new SessionStore(doc, config.TABLE_NAME);

    const control = new RtpEngineController(
      { host: '127.0.0.1', port: config.RTPENGINE_NG_PORT },
      logger.child({ c: 'rtpengine' }),
    );
    stack.push(() => control.close());
    const dtmf = new DtmfLogListener(logger);
    const dtmfAddress = await dtmf.start('127.0.0.1', 0);
    stack.push(() => dtmf.close());

    const media = new RtpEngineMedia(control, dtmf, logger);
    await media.start(rtpHost);
    stack.push(() => media.close());

    if (config.RTPENGINE_MANAGED === 'true') {
      await assertUdpPortFree('127.0.0.1', config.RTPENGINE_NG_PORT, 'RTPENGINE_NG_PORT');
      const rtpengine = new RtpEngineProcess(
        {
          binary: config.RTPENGINE_BIN,
          interface: rtpHost,
          ...(config.SIP_ADVERTISED_HOST ? { advertised: config.SIP_ADVERTISED_HOST } : {}),
          ngHost: '127.0.0.1',
          ngPort: config.RTPENGINE_NG_PORT,
          portMin: config.RTP_PORT_MIN,
          portMax: config.RTP_PORT_MAX,
          dtmfLogDest: dtmfAddress,
          runDir: config.RUN_DIR,
        },
        control,
        logger.child({ c: 'rtpengine' }),
      );
      rtpengine.on('exit', () => media.failAll('rtpengine exited'));
      try {
        await rtpengine.start();
      } catch (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test(String(err));
        throw new StartupError(
          missing
            ? `rtpengine not found (${config.RTPENGINE_BIN}): install it with "apt-get install rtpengine-daemon"`
            : `${(err as Error).message} (check RTP_PORT_MIN/RTP_PORT_MAX and RTPENGINE_NG_PORT)`,
        );
      }
      stack.push(() => rtpengine.stop());
    } else if (!(await control.ping().catch(() => false))) {
      throw new StartupError(`no rtpengine answers on 127.0.0.1:${config.RTPENGINE_NG_PORT} (RTPENGINE_NG_PORT)`);
    }

    const flow = new InboundCallFlow({
      nodeId: config.NODE_ID,
      tenants,
      sessions,
      media,
      callbacks: new BusCallbacks(createEventBridgeClient(), config.EVENT_BUS_NAME, sessions, config.NODE_ID, logger),
      audio: new FileAudioSources({ prompts: promptStoreFrom(config.PROMPT_STORE), cacheDir: config.CACHE_DIR }),
      logger,
    });

    const signaling: SignalingPort = new BuiltinSignaling({
      bindHost: config.SIP_HOST,
      port: config.SIP_PORT,
      ...(config.SIP_ADVERTISED_HOST ? { advertisedHost: config.SIP_ADVERTISED_HOST } : {}),
      logger: sipLogger(logger.child({ c: 'sip' })),
      productName: 'sip-mediaserver',
    });
    try {
      await signaling.start((call) => flow.accept(call));
    } catch (err) {
      const inUse = /EADDRINUSE|in use/i.test(String((err as Error).message ?? err));
      throw new StartupError(
        inUse
          ? `SIP port ${config.SIP_HOST}:${config.SIP_PORT} is already in use: set SIP_PORT to a free port`
          : `cannot start SIP on ${config.SIP_HOST}:${config.SIP_PORT} (SIP_HOST/SIP_PORT): ${(err as Error).message}`,
      );
    }
    stack.push(() => signaling.stop());

    return { nodeId: config.NODE_ID, sip: signaling.advertised, flow, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
