/**
 * The Prometheus adapter of the metrics port (media-node/src/ports/metrics.ts): prom-client on a registry of its
 * own (never the global one), served by metrics-server.ts. Every metric is listed in docs/operations.md
 * ("Metrics"). Gauges whose truth lives elsewhere (calls in progress, rtpengine, the audio cache) are read at
 * scrape time from the sources given to `readFrom`, so they cannot drift.
 */
import type { Logger } from '@sipms/shared/util/logger';
import { Counter, collectDefaultMetrics, Gauge, type GaugeConfiguration, Histogram, Registry } from 'prom-client';
import type { CallbackOutcome, CallDirection, CallMetrics } from '../ports/metrics.js';

/** Callback round trip and DTMF → next prompt: 5 ms (local, a fast webhook) to 10 s (the reply deadline's range). */
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10];

/** What rtpengine reports when asked at scrape time. */
export interface RtpEngineStatus {
  /** It answered the control protocol. */
  up: boolean;
  /** Its RTP ports in use (every interface), when it reports them. */
  portsInUse?: number;
}

/** Where the gauges read from at scrape time (a source not given yet reads as 0; rtpengine's ports: no sample). */
export interface MetricsSources {
  /** Calls in progress on this node (inbound and outbound), as the node registry is told. */
  activeCalls?: () => number;
  /** rtpengine's health and port use; asked once per scrape. */
  rtpengine?: () => Promise<RtpEngineStatus>;
  /** Bytes of cached audio under CACHE_DIR (the AUDIO_CACHE_MAX_BYTES budget's use). */
  audioCacheBytes?: () => number;
  /** Share of new INVITEs the node refuses for its load now (OverloadGuard). */
  overloadShedRatio?: () => number;
}

export interface PrometheusMetricsOptions {
  /** Node's default metrics (process CPU and memory, heap, GC, event-loop lag, …); default true. */
  defaultMetrics?: boolean;
  logger?: Logger;
}

/** A label value from the call core, kept to a small set: anything unexpected is `other`. */
const WORD = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
const labelOf = (value: string): string => (WORD.test(value) ? value : 'other');
const codeOf = (code: number): string =>
  Number.isInteger(code) && code >= 100 && code <= 699 ? String(code) : 'other';

/** A gauge with no sample at all while `known()` is false after its collect (rather than a misleading 0, or NaN). */
class OptionalGauge extends Gauge<string> {
  constructor(
    config: GaugeConfiguration<string>,
    private readonly known: () => boolean,
  ) {
    super(config);
  }

  override async get(): ReturnType<Gauge<string>['get']> {
    const metric = await super.get();
    return this.known() ? metric : { ...metric, values: [] };
  }
}

export class PrometheusMetrics implements CallMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  /** The rtpengine probe in flight: the gauges of one scrape collect together and share it. */
  private probe: Promise<RtpEngineStatus> | undefined;
  private readonly started: Counter<'direction'>;
  private readonly ended: Counter<'reason'>;
  private readonly responses: Counter<'code' | 'direction'>;
  private readonly roundTrip: Histogram<'type' | 'outcome'>;
  private readonly dtmfPrompt: Histogram<string>;

  constructor(private readonly options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    const metrics = this;
    new Gauge({
      name: 'sipms_active_calls',
      help: 'Calls in progress on this media node (inbound and outbound)',
      registers,
      collect() {
        this.set(metrics.sources.activeCalls?.() ?? 0);
      },
    });
    this.started = new Counter({
      name: 'sipms_calls_started_total',
      help: 'Calls this node took on (a session or participant was created), by direction',
      labelNames: ['direction'],
      registers,
    });
    this.ended = new Counter({
      name: 'sipms_calls_ended_total',
      help: 'Calls that ended, by the reason sessionCompleted reports',
      labelNames: ['reason'],
      registers,
    });
    this.responses = new Counter({
      name: 'sipms_sip_responses_total',
      help: 'Final SIP responses to INVITEs: sent by this node (direction=inbound) or received for calls it placed (direction=outbound)',
      labelNames: ['code', 'direction'],
      registers,
    });
    this.roundTrip = new Histogram({
      name: 'sipms_callback_round_trip_seconds',
      help: 'Callback publish to reply (or delivery record), by callback type and outcome',
      labelNames: ['type', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.dtmfPrompt = new Histogram({
      name: 'sipms_dtmf_to_next_prompt_seconds',
      help: 'From the key that ended a digit collection to the first prompt of the next IVR command',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({
      name: 'sipms_rtpengine_up',
      help: 'rtpengine answers its control protocol (1) or not (0)',
      registers,
      async collect() {
        this.set((await metrics.rtpengineStatus())?.up ? 1 : 0);
      },
    });
    let portsKnown = false;
    new OptionalGauge(
      {
        name: 'sipms_rtp_ports_in_use',
        help: "rtpengine's RTP ports in use (no sample while it does not report them)",
        registers,
        async collect() {
          const used = (await metrics.rtpengineStatus())?.portsInUse;
          portsKnown = used !== undefined;
          this.set(used ?? 0);
        },
      },
      () => portsKnown,
    );
    new Gauge({
      name: 'sipms_audio_cache_bytes',
      help: 'Bytes of cached audio (prompts, speech, URL audio, silence, tones) within AUDIO_CACHE_MAX_BYTES',
      registers,
      collect() {
        this.set(metrics.sources.audioCacheBytes?.() ?? 0);
      },
    });
    new Gauge({
      name: 'sipms_overload_shed_ratio',
      help: 'Share of new INVITEs the node refuses with 503 for its load (0: none, 1: all)',
      registers,
      collect() {
        this.set(metrics.sources.overloadShedRatio?.() ?? 0);
      },
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Sets (or adds to) the sources the gauges read at scrape time; the composition root calls it once they exist. */
  readFrom(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  callStarted(direction: CallDirection): void {
    this.started.inc({ direction: labelOf(direction) });
  }

  callEnded(reason: string): void {
    this.ended.inc({ reason: labelOf(reason) });
  }

  sipResponse(code: number, direction: CallDirection = 'inbound'): void {
    this.responses.inc({ code: codeOf(code), direction: labelOf(direction) });
  }

  callbackRoundTrip(type: string, seconds: number, outcome: CallbackOutcome = 'reply'): void {
    if (!(Number.isFinite(seconds) && seconds >= 0)) return;
    this.roundTrip.observe({ type: labelOf(type), outcome: labelOf(outcome) }, seconds);
  }

  dtmfToNextPrompt(seconds: number): void {
    if (!(Number.isFinite(seconds) && seconds >= 0)) return;
    this.dtmfPrompt.observe(seconds);
  }

  /** One probe serves every gauge of a scrape (they collect at once); the next scrape asks again. */
  private rtpengineStatus(): Promise<RtpEngineStatus | undefined> {
    const source = this.sources.rtpengine;
    if (!source) return Promise.resolve(undefined);
    if (this.probe) return this.probe;
    const status = source()
      .catch((err: unknown): RtpEngineStatus => {
        this.options.logger?.debug({ err }, 'rtpengine status for metrics failed');
        return { up: false };
      })
      .finally(() => {
        if (this.probe === status) this.probe = undefined;
      });
    this.probe = status;
    return status;
  }
}
