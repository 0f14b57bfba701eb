import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { PollyClient } from '@aws-sdk/client-polly';
import { S3Client } from '@aws-sdk/client-s3';
import { promptStoreFromSpec } from '@sipms/shared/adapters/prompt-store-from-spec';
import { AWS_STREAMING_LIMITS, boundedRequests, createEventBridgeClient } from '@sipms/shared/aws/clients';
import { createDocumentClient } from '@sipms/shared/aws/document-client';
import { isConferenceCommand } from '@sipms/shared/contracts/node-commands';
import { secretBoxFromEnv } from '@sipms/shared/crypto/secret-box';
import { CallSlots } from '@sipms/shared/data/call-slots';
import { ConferenceStore } from '@sipms/shared/data/conference-store';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { SessionStore } from '@sipms/shared/data/session-store';
import { SipCredentialStore } from '@sipms/shared/data/sip-credential-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { UsageStore } from '@sipms/shared/data/usage-store';
import { checkDestination } from '@sipms/shared/domain/outbound-policy';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import { EventBridgeCallbackPublisher } from '@sipms/shared/events/callback-publisher';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { tracerFromSpec } from '@sipms/shared/observability/otel-tracer';
import { DeadNodeSweeper } from '@sipms/shared/ops/dead-node-sweeper';
import { NodeFailure } from '@sipms/shared/ops/node-failure';
import { packageProviding } from '@sipms/shared/system-packages';
import type { Logger } from '@sipms/shared/util/logger';
import { InboundCallFlow } from './call/flows/inbound-call-flow.js';
import { OutboundCallFlow } from './call/flows/outbound-call-flow.js';
import { CallLimits } from './call/limits/call-limits.js';
import { TenantProfiles } from './call/limits/tenant-profiles.js';
import { Connections } from './call/live/connections.js';
import { LiveCommands } from './call/live/live-commands.js';
import { LiveSessions } from './call/live/live-sessions.js';
import { BusCallbacks } from './callbacks/bus-callbacks.js';
import { ReplyPoller } from './callbacks/reply-poller.js';
import { usageMeter } from './callbacks/usage-meter.js';
import { ConferenceRelay } from './conference/conference-relay.js';
import { ConferenceService } from './conference/conference-service.js';
import { startMixRecording } from './conference/mix-recorder.js';
import { registryConferenceHosts, tableConferenceDirectory } from './conference/table-directory.js';
import type { MediaNodeConfig } from './config.js';
import { watchAsgLifecycleOnEc2 } from './lifecycle/asg-lifecycle.js';
import { FileAudioSources } from './media/audio-sources.js';
import { DtmfLogListener } from './media/dtmf-log-listener.js';
import { PollySpeech } from './media/polly-speech.js';
import { RtpEngineController } from './media/rtpengine-controller.js';
import { RtpEngineMedia } from './media/rtpengine-media.js';
import { RtpEngineProcess, stopOrphanedRtpengine } from './media/rtpengine-process.js';
import { InboxLoop } from './node/inbox-loop.js';
import { NodePresence } from './node/node-presence.js';
import { OverloadGuard } from './node/overload-guard.js';
import { missingPrograms, missingProgramsMessage, requiredPrograms } from './node/required-programs.js';
import { startEmfPublisher } from './observability/emf-publisher.js';
import { type HepSender, openHepSender } from './observability/hep.js';
import { CountedSignaling, TimedCallbacks } from './observability/instrumented-ports.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { PrometheusMetrics } from './observability/prometheus-metrics.js';
import { SipLadder } from './observability/sip-ladder.js';
import type { SignalingPort } from './ports/signaling.js';
import type { SipLogger } from './sip/builtin/logger.js';
import type { CaptureHook } from './sip/builtin/transport.js';
import { createSignaling, destinationPolicyOf, signalingOptionsFromConfig } from './sip/create-signaling.js';
import { DEFAULT_STREAM_LIMITS } from './streams/media-stream.js';
import { StreamService } from './streams/stream-service.js';

export interface RunningMediaNode {
  nodeId: string;
  sip: { host: string; port: number };
  /** The SIP transports listening on that address. */
  transports: string[];
  /** Where `GET /metrics` listens (METRICS_HOST, METRICS_PORT); absent with METRICS_PORT=0. */
  metrics?: { host: string; port: number; url: string };
  flow: InboundCallFlow;
  /** Stop taking calls, wait (bounded) for the calls in progress to end. */
  drain(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Ends the calls still up (BYE, reason nodeShutdown), waits (bounded) until their sessions have
   * completed and their call slots are given back, then stops every part of the node.
   */
  stop(): Promise<void>;
  /** Resolves with a reason when the node can no longer carry calls (its process must then exit non-zero). */
  readonly fatal: Promise<string>;
}

/** How long stop() waits for the calls it hung up to complete their sessions. */
const END_CALLS_BOUND_MS = 10_000;

/** A clear start-up error that names the setting to change. */
export class StartupError extends Error {
  override name = 'StartupError';
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
  const rtpHost = config.RTP_HOST ?? config.SIP_HOST;
  const stack: (() => Promise<void> | void)[] = [];
  // Set once the call flows exist: stop() ends their calls before anything they use goes away.
  let endCalls: (() => Promise<void>) | undefined;
  let stopped: Promise<void> | undefined;
  const unwind = async () => {
    for (const fn of stack.reverse())
      await Promise.resolve(fn()).catch((err) => logger.warn({ err }, 'stop step failed'));
  };
  const stop = () => {
    stopped ??= (async () => {
      await endCalls?.().catch((err) => logger.warn({ err }, 'ending calls at stop failed'));
      await unwind();
    })();
    return stopped;
  };
  let declareFatal: (reason: string) => void = () => {
    // replaced below, before anything can fail
  };
  const fatal = new Promise<string>((resolve) => {
    declareFatal = resolve;
  });

  try {
    // Every program this configuration runs must be there now: none is optional once calls arrive.
    const missing = await missingPrograms(requiredPrograms(config));
    if (missing.length > 0) throw new StartupError(missingProgramsMessage(missing));
    // Each session's span and its callbacks' (TRACES_EXPORTER); exported last at stop, after the calls ended.
    const tracer = (() => {
      try {
        return tracerFromSpec(config.TRACES_EXPORTER, { service: 'media-node', logger });
      } catch (err) {
        throw new StartupError((err as Error).message);
      }
    })();
    stack.push(() => tracer.shutdown());
    // Prometheus /metrics, bound first: a taken METRICS_PORT stops start-up before anything else runs.
    const metrics = new PrometheusMetrics({ logger: logger.child({ c: 'metrics' }) });
    const metricsServer =
      config.METRICS_PORT === 0
        ? undefined
        : await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, metrics, logger }).catch(
            (err: unknown) => {
              throw new StartupError((err as Error).message);
            },
          );
    if (metricsServer) stack.push(() => metricsServer.close());

    const doc = createDocumentClient();
    const tenants = new TenantStore(doc, config.TABLE_NAME, config.SIP_DOMAIN, {
      routingCacheMs: config.ROUTING_CACHE_MS,
    });
    const sessions = new SessionStore(doc, config.TABLE_NAME, { journalBatchMs: config.JOURNAL_BATCH_MS });

    const control = new RtpEngineController(
      { host: '127.0.0.1', port: config.RTPENGINE_NG_PORT },
      logger.child({ c: 'rtpengine' }),
    );
    stack.push(() => control.close());
    const dtmf = new DtmfLogListener(logger);
    const dtmfAddress = await dtmf.start('127.0.0.1', config.DTMF_LOG_PORT);
    stack.push(() => dtmf.close());

    const media = new RtpEngineMedia(control, dtmf, logger, {
      ...(config.RECORDING_DIR ? { recordingDir: config.RECORDING_DIR } : {}),
      recordingMaxBytes: config.RECORDING_MAX_BYTES,
      mediaTimeoutMs: config.MEDIA_TIMEOUT_SEC * 1000,
    });
    await media.start(rtpHost);
    stack.push(() => media.close());

    if (config.RTPENGINE_MANAGED === 'true') {
      // An rtpengine left running by a node process that was killed holds the ports this one needs.
      await stopOrphanedRtpengine(config.RUN_DIR, config.RTPENGINE_NG_PORT, logger.child({ c: 'rtpengine' }));
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
          mediaTimeoutSec: config.MEDIA_TIMEOUT_SEC,
          runDir: config.RUN_DIR,
          table: config.RTPENGINE_TABLE,
          threads: config.RTPENGINE_THREADS,
          ...(config.RECORDING_DIR ? { recordingDir: config.RECORDING_DIR } : {}),
        },
        control,
        logger.child({ c: 'rtpengine' }),
      );
      rtpengine.on('exit', () => media.failAll('rtpengine exited'));
      // Without rtpengine no call can be carried: leave the registry and exit, so the supervisor
      // (systemd on EC2, `npm start` locally) starts the node afresh instead of it answering INVITEs that fail.
      rtpengine.on('gave-up', (why) => declareFatal(why));
      try {
        await rtpengine.start();
      } catch (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test(String(err));
        throw new StartupError(
          missing
            ? `rtpengine not found (${config.RTPENGINE_BIN}): install it with "apt-get install ${packageProviding('rtpengine')}"`
            : `${(err as Error).message} (check RTP_PORT_MIN/RTP_PORT_MAX and RTPENGINE_NG_PORT)`,
        );
      }
      stack.push(() => rtpengine.stop());
    } else if (
      !(await control.ping().catch((err: unknown) => {
        logger.warn({ err }, 'rtpengine ping failed');
        return false;
      }))
    ) {
      throw new StartupError(`no rtpengine answers on 127.0.0.1:${config.RTPENGINE_NG_PORT} (RTPENGINE_NG_PORT)`);
    }

    const poller = new ReplyPoller(sessions, logger, undefined, config.REPLY_POLL_SCHEDULE_MS);
    stack.push(() => poller.close());
    const overload = new OverloadGuard(
      {
        loopDelayMs: config.OVERLOAD_LOOP_DELAY_MS,
        callbackOverheadMs: config.OVERLOAD_CALLBACK_OVERHEAD_MS,
        minIdleCpuPercent: config.OVERLOAD_MIN_IDLE_CPU_PERCENT,
      },
      { logger },
    );
    overload.start();
    stack.push(() => overload.stop());
    const live = new LiveSessions();
    // Opens trunk passwords, and seals callback fields tenants mark sensitive (`dtmf.sensitive`).
    const secrets = secretBoxFromEnv(
      config,
      () => new KMSClient({ maxAttempts: 3, requestHandler: boundedRequests() }),
    );
    const callbacks = new TimedCallbacks(
      new BusCallbacks(
        createEventBridgeClient(),
        config.EVENT_BUS_NAME,
        poller,
        config.NODE_ID,
        logger,
        secrets,
        (ms) => overload.observeCallbackOverhead(ms),
      ),
      metrics,
    );
    const audio = new FileAudioSources({
      prompts: promptStoreFromSpec(config.PROMPT_STORE, {
        s3: () => new S3Client({ maxAttempts: 3, requestHandler: boundedRequests(AWS_STREAMING_LIMITS) }),
        cacheDir: join(config.CACHE_DIR, 'prompts'),
      }),
      cacheDir: config.CACHE_DIR,
      ...(config.TTS_ENGINE === 'polly'
        ? {
            speech: new PollySpeech(new PollyClient({ maxAttempts: 3, requestHandler: boundedRequests() }), undefined, {
              voice: config.POLLY_VOICE_ID,
              engine: config.POLLY_ENGINE,
              language: config.POLLY_LANGUAGE_CODE,
            }),
          }
        : {}),
      addresses: AddressPolicy.fromSettings(config.CALLBACK_URL_POLICY, config.OUTBOUND_ALLOW_CIDRS),
      cacheMaxBytes: config.AUDIO_CACHE_MAX_BYTES,
      cacheTenantShare: config.AUDIO_CACHE_TENANT_SHARE,
      logger: logger.child({ c: 'audio' }),
    });
    stack.push(() => audio.close());
    // SIP capture to Homer (HEP_ADDRESS). Its socket is opened once the SIP stack listens (before that no
    // message exists, and its ephemeral port can then never be SIP_PORT); it is closed after the stack, so the
    // BYEs of a shutdown are captured.
    let hep: HepSender | undefined;
    stack.push(async () => hep?.close());
    // Each call's SIP messages for its journal (a ladder per leg); bounded, and swept of calls nobody claimed.
    const ladder = config.SIGNALING === 'builtin' ? new SipLadder() : undefined;
    const ladderSweep = setInterval(() => ladder?.sweep(), 30_000);
    ladderSweep.unref();
    stack.push(() => clearInterval(ladderSweep));
    const taps: CaptureHook[] = [];
    if (config.HEP_ADDRESS) taps.push((m) => hep?.capture(m));
    if (ladder) taps.push((m) => ladder.record(m));
    const capture: CaptureHook | undefined =
      taps.length === 0
        ? undefined
        : (m) => {
            for (const tap of taps) tap(m);
          };
    const sipCredentials = new SipCredentialStore(doc, config.TABLE_NAME);
    let signaling: SignalingPort;
    try {
      signaling = createSignaling(
        signalingOptionsFromConfig(config, {
          logger: sipLogger(logger.child({ c: 'sip' })),
          productName: 'sip-mediaserver',
          ...(capture ? { capture } : {}),
          // Browsers (SIP over WebSocket) are admitted by the tenant's short-lived softphone credential.
          authorizeWebSocket: (token) => sipCredentials.verify(token),
        }),
      );
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    // Final SIP responses to INVITEs, counted at the port whichever stack carries them.
    signaling = new CountedSignaling(signaling, metrics);
    const callSlots = new CallSlots(doc, config.TABLE_NAME);
    // The operator's allow-lists of where tenants' calls may go (the API applies the same to placeivrcall).
    const destinationAllowed = (destination: string, tenant: TenantRecord) => {
      const verdict = checkDestination(destination, config.OUTBOUND_DESTINATIONS, tenant.limits?.outboundDestinations);
      return verdict.ok ? undefined : verdict.reason;
    };
    const limits = new CallLimits(
      config.NODE_ID,
      callSlots,
      (tenant) => ({
        maxConcurrentCalls: tenant.limits?.maxConcurrentCalls ?? config.TENANT_MAX_CONCURRENT_CALLS,
        callsPerSecond: tenant.limits?.callsPerSecond ?? config.TENANT_CALLS_PER_SECOND,
      }),
      logger,
    );
    stack.push(() => limits.close());
    const profiles = new TenantProfiles(tenants, callSlots);
    const usage = usageMeter(new UsageStore(doc, config.TABLE_NAME), logger, config.NODE_ID);
    const streams = new StreamService({
      policy: config.CALLBACK_URL_POLICY,
      addresses: AddressPolicy.fromSettings(config.CALLBACK_URL_POLICY, config.OUTBOUND_ALLOW_CIDRS),
      limits: { ...DEFAULT_STREAM_LIMITS, maxQueueMs: config.STREAM_MAX_QUEUE_SEC * 1000 },
      maxPerTenant: config.STREAM_MAX_PER_TENANT,
      logger: logger.child({ c: 'streams' }),
    });
    // The conference relay: legs to and from participants whose calls are on other nodes (docs/conferences.md).
    const relay =
      config.CONFERENCE_RELAY_PORT === 'off'
        ? undefined
        : await ConferenceRelay.open(
            config.CONFERENCE_RELAY_HOST ?? rtpHost,
            config.CONFERENCE_RELAY_PORT,
            logger.child({ c: 'conference-relay' }),
          ).catch((err: unknown) => {
            throw new StartupError(
              `cannot bind the conference relay (CONFERENCE_RELAY_HOST/CONFERENCE_RELAY_PORT): ${(err as Error).message}`,
            );
          });
    if (relay) stack.push(() => relay.close());
    // Conferences hosted on this node (docs/conferences.md): the mixer, the table item, REST commands.
    const conferences = new ConferenceService({
      remote: relay ? { relay, hosts: registryConferenceHosts(new NodeRegistry(doc, config.TABLE_NAME)) } : undefined,
      nodeId: config.NODE_ID,
      directory: tableConferenceDirectory(
        new ConferenceStore(doc, config.TABLE_NAME),
        new NodeRegistry(doc, config.TABLE_NAME),
      ),
      maxParticipants: config.CONFERENCE_MAX_PARTICIPANTS,
      logger: logger.child({ c: 'conference' }),
      recordings: {
        start: () =>
          startMixRecording(
            join(config.RECORDING_DIR ?? config.CACHE_DIR, 'conference-recordings'),
            config.RECORDING_MAX_BYTES,
          ),
        save: (tenantId, fileName, file) => audio.saveRecording(tenantId, fileName, file),
      },
      announce: ({ sessionId, participantId }, event, fields) => {
        void sessions
          .journal(sessionId, { kind: 'media', event, participantId, ...fields })
          .catch((err) => logger.warn({ err, sessionId }, 'journal write failed'));
        void live.session(sessionId)?.notify('callNotify', { participantId, event, ...fields });
      },
      recorded: (tenantId, seconds) => usage.record(tenantId, { recordingSeconds: seconds }),
    });
    const flow = new InboundCallFlow({
      overload,
      metrics,
      tracer,
      sipMessages: ladder,
      secrets,
      usage,
      limits,
      nodeId: config.NODE_ID,
      tenants,
      profiles,
      sessions,
      media,
      callbacks,
      audio,
      live,
      signaling,
      logger,
      destinationPolicy: destinationPolicyOf(config),
      destinationAllowed,
      streams,
      conferences,
    });

    // Dead nodes' sessions end with nodeFailed (shared/src/ops/node-failure.ts); first those this node's previous
    // process (a restart: same NODE_ID) left active, before this one takes a call or registers.
    const bus = new EventBridgeCallbackPublisher(createEventBridgeClient(), config.EVENT_BUS_NAME);
    const nodeFailure = NodeFailure.create({ doc, tableName: config.TABLE_NAME, events: bus, logger });
    const registry = new NodeRegistry(doc, config.TABLE_NAME);
    const sweeper = new DeadNodeSweeper({
      registry,
      slots: callSlots,
      sessions: nodeFailure,
      logger: logger.child({ c: 'sweeper' }),
    });
    await sweeper.recoverPrevious(config.NODE_ID);

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
    hep = await openHepSender(config, logger.child({ c: 'hep' })).catch((err: unknown) => {
      throw new StartupError((err as Error).message);
    });
    let outboundRef: OutboundCallFlow | undefined;
    endCalls = async () => {
      flow.stopAccepting();
      // BYE to every dialog (reason nodeShutdown); the flows then complete their sessions.
      await signaling.stop();
      await settleWithin(Promise.all([flow.drained(), outboundRef?.drained()]), END_CALLS_BOUND_MS);
      // Conferences whose participants are gone end with them; any left are ended, so their items are removed.
      await settleWithin(conferences.endAll(), END_CALLS_BOUND_MS);
      await limits.close();
      await usage.flush();
      await sessions.flushJournal();
    };

    const presence = new NodePresence(
      registry,
      {
        nodeId: config.NODE_ID,
        sip: signaling.advertised,
        maxCalls: config.MAX_CALLS,
        conferenceRelay: relay?.address,
      },
      () => flow.activeCalls + (outboundRef?.activeCalls ?? 0),
      logger,
      undefined,
      () => limits.tenantsHeld(),
      () => overload.state.shedRatio,
    );
    await presence.start();
    stack.push(() => presence.stop());
    // Every node also sweeps for dead ones: their call slots come back and their sessions end (nodeFailed).
    const sweepTimer = setInterval(
      () => {
        sweeper
          .sweep({ exceptNode: config.NODE_ID })
          .catch((err) => logger.warn({ err }, 'dead-node sweep failed; the next one retries'));
      },
      5000 + Math.floor(Math.random() * 1000),
    );
    sweepTimer.unref();
    stack.push(() => clearInterval(sweepTimer));
    const connections = new Connections(live, sessions, audio, logger);
    const outbound = new OutboundCallFlow({
      metrics,
      tracer,
      sipMessages: ladder,
      secrets,
      usage,
      connections,
      limits,
      nodeId: config.NODE_ID,
      tenants,
      profiles,
      sessions,
      media,
      signaling,
      callbacks,
      audio,
      live,
      logger,
      destinationPolicy: destinationPolicyOf(config),
      destinationAllowed,
      streams,
      conferences,
    });
    outboundRef = outbound;
    // The gauges read these at scrape time.
    metrics.readFrom({
      activeCalls: () => flow.activeCalls + outbound.activeCalls,
      rtpengine: () => control.status(),
      audioCacheBytes: () => audio.cachedBytes,
      overloadShedRatio: () => overload.state.shedRatio,
    });
    // The same registry as CloudWatch EMF records (METRICS_EMF, off by default). Stopped early in the unwind (after
    // endCalls, before rtpengine and the flows' parts stop): its final record counts the calls the shutdown ended.
    const emf = startEmfPublisher({
      target: config.METRICS_EMF,
      intervalMs: config.METRICS_EMF_INTERVAL_MS,
      registry: metrics.registry,
      nodeId: config.NODE_ID,
      stage: config.STAGE,
      logger: logger.child({ c: 'emf' }),
    });
    if (emf) stack.push(() => emf.stop());
    const commands = new LiveCommands(live, sessions, outbound, connections, logger);
    const inbox = new InboxLoop(
      registry,
      config.NODE_ID,
      (c) => (isConferenceCommand(c) ? conferences.execute(c) : commands.execute(c)),
      logger,
      config.INBOX_POLL_MS,
    );
    inbox.start();
    stack.push(() => inbox.stop());

    const drain = async (timeoutMs: number, signal?: AbortSignal) => {
      flow.stopAccepting();
      await presence.drain();
      const bound = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
      await Promise.race([
        Promise.all([flow.drained(), outboundRef?.drained()]),
        new Promise((r) => bound.addEventListener('abort', r, { once: true })),
      ]);
    };
    if (config.ASG_LIFECYCLE_HOOK_NAME) {
      // On EC2: when the Auto Scaling group terminates this node, drain first, then let it go.
      const stopWatching = watchAsgLifecycleOnEc2({
        hookName: config.ASG_LIFECYCLE_HOOK_NAME,
        drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
        drain: ({ deadline, signal }) => drain(Math.max(0, deadline - Date.now()), signal),
        logger: logger.child({ c: 'lifecycle' }),
      });
      stack.push(() => stopWatching());
    }
    const transports = config.SIGNALING === 'drachtio' ? ['drachtio'] : [...config.sipTransports];
    return {
      nodeId: config.NODE_ID,
      sip: signaling.advertised,
      transports,
      ...(metricsServer
        ? { metrics: { host: metricsServer.host, port: metricsServer.port, url: metricsServer.url } }
        : {}),
      flow,
      drain,
      stop,
      fatal,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits for `work`, but no longer than `ms`. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
