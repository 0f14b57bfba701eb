/**
 * The media node's metrics for CloudWatch (docs/operations.md, "Node metrics on CloudWatch (EMF)"): every
 * interval, one CloudWatch embedded-metric-format record read from the prom-client registry the Prometheus adapter
 * fills (prometheus-metrics.ts), so nothing is counted twice. Counters and histograms go out as the change since
 * the previous record, gauges as their value now, the two latency histograms as a distribution (bucket midpoints
 * with their counts) from which CloudWatch computes percentiles. A record goes to an injected sink: stdout, or a file
 * the CloudWatch agent ships to a log group (on AWS). Metrics never break calls: nothing here throws; a failure is
 * a warning, and counts a record could not be written go into the next one.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import {
  METRICS_NAMESPACE,
  NODE_DIMENSION,
  NODE_DIMENSION_SETS,
  NODE_METRIC,
} from '@sipms/shared/observability/cloudwatch-metrics';
import type { Logger } from '@sipms/shared/util/logger';
import type { Registry } from 'prom-client';

/** METRICS_EMF: no records, records on stdout, or records appended to a file (one JSON object a line). */
export type EmfTarget = { kind: 'off' } | { kind: 'stdout' } | { kind: 'file'; path: string };

/** Reads METRICS_EMF (`off`, `stdout`, `file:<absolute path>`); throws a message naming the setting otherwise. */
export function parseEmfTarget(spec: string): EmfTarget {
  const v = spec.trim();
  if (v === '' || v === 'off') return { kind: 'off' };
  if (v === 'stdout') return { kind: 'stdout' };
  if (v.startsWith('file:')) {
    const path = v.slice('file:'.length);
    if (isAbsolute(path) && !path.endsWith('/')) return { kind: 'file', path };
  }
  throw new Error(`METRICS_EMF must be off, stdout or file:<absolute path of a file>, not ${JSON.stringify(spec)}`);
}

/** Where one record (a line without its newline) goes; may throw or reject: the publisher catches it. */
export type EmfSink = (line: string) => void | Promise<void>;

/** The sink of a target: undefined for `off`. */
export function emfSink(target: EmfTarget): EmfSink | undefined {
  switch (target.kind) {
    case 'off':
      return undefined;
    case 'stdout':
      return (line) =>
        new Promise<void>((resolve, reject) =>
          process.stdout.write(`${line}\n`, (err) => (err ? reject(err) : resolve())),
        );
    case 'file': {
      const { path } = target;
      return async (line) => {
        try {
          await appendFile(path, `${line}\n`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          // The directory is not there (yet): make it once and try again; any other failure is the caller's.
          await mkdir(dirname(path), { recursive: true });
          await appendFile(path, `${line}\n`);
        }
      };
    }
  }
}

/** What the publisher reads: the Prometheus adapter's registry (PrometheusMetrics.registry). */
export type MetricsRegistry = Pick<Registry, 'getMetricsAsJSON'>;

export interface EmfPublisherOptions {
  registry: MetricsRegistry;
  /** The NodeId dimension (NODE_ID: the EC2 instance id on AWS). */
  nodeId: string;
  /**
   * The Stage dimension (STAGE: the deployment's stage on AWS, `local` on one machine), on every series, the fleet's
   * rollup included: the stack's scaling policy and alarms read `[Stage]`, so another deployment's nodes in the same
   * account and region never count.
   */
  stage: string;
  write: EmfSink;
  logger: Logger;
  /** One record every this many ms (default 60 000), written mid-interval: one record per node per minute. */
  intervalMs?: number;
  /** Default `SipMediaserver`, the Lambdas' namespace. */
  namespace?: string;
  /** The clock of the records' timestamps and of the schedule (tests). */
  now?: () => number;
}

export const DEFAULT_EMF_INTERVAL_MS = 60_000;

/** The Prometheus series the record is made of (prometheus-metrics.ts and prom-client's default metrics). */
const PROM = {
  activeCalls: 'sipms_active_calls',
  callsStarted: 'sipms_calls_started_total',
  callsEnded: 'sipms_calls_ended_total',
  sipResponses: 'sipms_sip_responses_total',
  callbackRoundTrip: 'sipms_callback_round_trip_seconds',
  dtmfToNextPrompt: 'sipms_dtmf_to_next_prompt_seconds',
  rtpengineUp: 'sipms_rtpengine_up',
  rtpPortsInUse: 'sipms_rtp_ports_in_use',
  audioCacheBytes: 'sipms_audio_cache_bytes',
  overloadShedRatio: 'sipms_overload_shed_ratio',
  eventLoopLagP99: 'nodejs_eventloop_lag_p99_seconds',
  eventLoopLagMax: 'nodejs_eventloop_lag_max_seconds',
} as const;

type Unit = 'Count' | 'Seconds' | 'Bytes' | 'Percent';

/** A distribution in EMF: distinct values, how often each occurred, and their statistics (consistent with them). */
export interface EmfDistribution {
  Values: number[];
  Counts: number[];
  Max: number;
  Min: number;
  Count: number;
  Sum: number;
}

type Labels = Record<string, string | number>;
interface Sample {
  name: string;
  labels: Labels;
  value: number;
}
type MetricsJson = Awaited<ReturnType<MetricsRegistry['getMetricsAsJSON']>>;

/** The cumulative values (counters, histogram buckets and counts) a record's changes are measured from. */
type Totals = Map<string, number>;

const keyOf = (s: Sample): string =>
  `${s.name}${JSON.stringify(
    Object.keys(s.labels)
      .sort()
      .map((k) => [k, String(s.labels[k])]),
  )}`;

/** Every sample of the registry's metrics, histogram series under their own names (`…_bucket`, `…_count`). */
function samplesOf(metrics: MetricsJson): { samples: Sample[]; cumulative: Set<string> } {
  const samples: Sample[] = [];
  const cumulative = new Set<string>();
  for (const metric of metrics) {
    // prom-client's typings declare a numeric enum; at run time the type is the exposition's word.
    const type = String(metric.type);
    const counting = type === 'counter' || type === 'histogram';
    for (const v of metric.values) {
      const name = (v as { metricName?: string }).metricName ?? metric.name;
      samples.push({ name, labels: (v.labels ?? {}) as Labels, value: Number(v.value) });
      if (counting) cumulative.add(name);
    }
  }
  return { samples, cumulative };
}

/** The upper bound of a histogram bucket (`le`), +Inf included. */
const boundOf = (le: string | number | undefined): number => (le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le));

/**
 * Publishes the node's metrics as one EMF record per interval. `publish()` writes one record now; `start()` writes
 * one every interval on an unref'd timer; `stop()` ends the timer and writes a final record. None of them throws.
 */
export class EmfPublisher {
  private readonly intervalMs: number;
  private readonly namespace: string;
  private readonly now: () => number;
  /** Totals as of the last record written; empty at first, so the first record counts from the process start. */
  private previous: Totals = new Map();
  private timer: NodeJS.Timeout | undefined;
  /** The wall-clock time the next record is due (mid-interval). */
  private nextAt = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: EmfPublisherOptions) {
    // METRICS_EMF_INTERVAL_MS is validated at start-up (config.ts); anything else here is a programming error.
    this.intervalMs = opts.intervalMs ?? DEFAULT_EMF_INTERVAL_MS;
    if (!Number.isInteger(this.intervalMs) || this.intervalMs <= 0)
      throw new RangeError(`EMF interval must be a positive whole number of ms, not ${this.intervalMs}`);
    this.namespace = opts.namespace ?? METRICS_NAMESPACE;
    this.now = opts.now ?? Date.now;
  }

  /** Writes a record every interval, half an interval past each multiple of it (mid-minute for 60 s). */
  start(): void {
    if (this.timer || this.stopping) return;
    const now = this.now();
    this.nextAt = Math.floor(now / this.intervalMs) * this.intervalMs + Math.floor(this.intervalMs / 2);
    if (this.nextAt <= now) this.nextAt += this.intervalMs;
    this.arm();
  }

  /** Ends the timer and writes a final record (the calls ended since the last one); later calls return the same. */
  stop(): Promise<void> {
    if (!this.stopping) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.stopping = this.publish().then(() => undefined);
    }
    return this.stopping;
  }

  /** Writes one record now (after any record under way); resolves true when the sink took it. Never rejects. */
  publish(): Promise<boolean> {
    const run = this.chain.then(() => this.publishOnce());
    this.chain = run;
    return run;
  }

  private arm(): void {
    const delay = Math.max(0, this.nextAt - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.publish().then(() => {
        if (this.stopping) return;
        // The next slot after this one; a node that fell behind (suspended, overloaded) skips to the next one ahead.
        this.nextAt += this.intervalMs;
        const now = this.now();
        if (this.nextAt <= now) this.nextAt += Math.ceil((now - this.nextAt + 1) / this.intervalMs) * this.intervalMs;
        this.arm();
      });
    }, delay);
    this.timer.unref();
  }

  private async publishOnce(): Promise<boolean> {
    let record: { line: string; totals: Totals };
    try {
      record = this.record(await this.opts.registry.getMetricsAsJSON());
    } catch (err) {
      this.warn({ err }, 'reading the metrics for the EMF record failed: no record this interval');
      return false;
    }
    try {
      await this.opts.write(record.line);
    } catch (err) {
      this.warn(
        { err, bytes: record.line.length },
        'writing the EMF record failed: its counts go into the next record',
      );
      return false;
    }
    this.previous = record.totals;
    return true;
  }

  /** A warning that cannot throw either: a logger that fails falls back to a process warning. */
  private warn(fields: Record<string, unknown>, msg: string): void {
    try {
      this.opts.logger.warn(fields, msg);
    } catch (err) {
      process.emitWarning(
        `${msg} (logging it failed: ${(err as Error)?.message ?? String(err)})`,
        'EmfPublisherWarning',
      );
    }
  }

  /** The record of the registry's values now, and the totals it counted up to. */
  private record(metrics: MetricsJson): { line: string; totals: Totals } {
    const { samples, cumulative } = samplesOf(metrics);
    const totals: Totals = new Map();
    const deltas = new Map<Sample, number>();
    for (const s of samples) {
      if (!cumulative.has(s.name) || !Number.isFinite(s.value)) continue;
      const key = keyOf(s);
      totals.set(key, s.value);
      const before = this.previous.get(key) ?? 0;
      // A total below the previous one was reset (a new registry): all of it is new.
      deltas.set(s, s.value >= before ? s.value - before : s.value);
    }
    const deltaOf = (name: string, match: (labels: Labels) => boolean = () => true): number => {
      let sum = 0;
      for (const s of samples) if (s.name === name && match(s.labels)) sum += deltas.get(s) ?? 0;
      return sum;
    };
    const gauge = (name: string): number | undefined => {
      const s = samples.find((x) => x.name === name);
      return s && Number.isFinite(s.value) ? s.value : undefined;
    };
    const percent = (ratio: number | undefined) => (ratio === undefined ? undefined : Math.round(ratio * 1000) / 10);
    const distribution = (name: string, match: (labels: Labels) => boolean = () => true) =>
      distributionOf(
        samples.filter((s) => s.name === `${name}_bucket` && match(s.labels)),
        (s) => deltas.get(s) ?? 0,
      );
    const sentCode = (cls: string) => (l: Labels) => l.direction === 'inbound' && String(l.code).startsWith(cls);
    const waited = (l: Labels) => l.outcome === 'reply' || l.outcome === 'fallback';

    const values: [string, Unit, number | EmfDistribution | undefined][] = [
      [NODE_METRIC.activeCalls, 'Count', gauge(PROM.activeCalls)],
      [NODE_METRIC.callsStarted, 'Count', deltaOf(PROM.callsStarted)],
      [NODE_METRIC.callsEnded, 'Count', deltaOf(PROM.callsEnded)],
      [NODE_METRIC.sipResponses5xx, 'Count', deltaOf(PROM.sipResponses, sentCode('5'))],
      [NODE_METRIC.sipResponses4xx, 'Count', deltaOf(PROM.sipResponses, sentCode('4'))],
      [NODE_METRIC.callbackRoundTrip, 'Seconds', distribution(PROM.callbackRoundTrip, waited)],
      [
        NODE_METRIC.callbackFallbacks,
        'Count',
        deltaOf(`${PROM.callbackRoundTrip}_count`, (l) => l.outcome === 'fallback'),
      ],
      [NODE_METRIC.dtmfToNextPrompt, 'Seconds', distribution(PROM.dtmfToNextPrompt)],
      [NODE_METRIC.eventLoopLagP99, 'Seconds', gauge(PROM.eventLoopLagP99)],
      [NODE_METRIC.eventLoopLagMax, 'Seconds', gauge(PROM.eventLoopLagMax)],
      [NODE_METRIC.rtpPortsInUse, 'Count', gauge(PROM.rtpPortsInUse)],
      [NODE_METRIC.rtpengineUp, 'Count', gauge(PROM.rtpengineUp)],
      [NODE_METRIC.audioCacheBytes, 'Bytes', gauge(PROM.audioCacheBytes)],
      [NODE_METRIC.overloadShedPercent, 'Percent', percent(gauge(PROM.overloadShedRatio))],
    ];
    const present = values.filter((v): v is [string, Unit, number | EmfDistribution] => v[2] !== undefined);
    const root: Record<string, unknown> = {
      _aws: {
        Timestamp: Math.round(this.now()),
        CloudWatchMetrics: [
          {
            Namespace: this.namespace,
            // The stage's fleet (its sum, average per node and maximum), and per node.
            Dimensions: NODE_DIMENSION_SETS.map((set) => [...set]),
            Metrics: present.map(([Name, Unit]) => ({ Name, Unit })),
          },
        ],
      },
      [NODE_DIMENSION.stage]: this.opts.stage,
      [NODE_DIMENSION.nodeId]: this.opts.nodeId,
      service: 'media-node',
    };
    for (const [name, , value] of present) root[name] = value;
    return { line: JSON.stringify(root), totals };
  }
}

/**
 * A histogram's change as a distribution: each bucket's new observations at the bucket's midpoint (the first bucket
 * from 0; the +Inf bucket at the last finite bound), summed over the label sets. Undefined when nothing was observed.
 */
export function distributionOf(buckets: Sample[], delta: (s: Sample) => number): EmfDistribution | undefined {
  // Per label set (everything but `le`): cumulative changes by bound, then the change of each bucket alone.
  const sets = new Map<string, { bound: number; cumulative: number }[]>();
  for (const s of buckets) {
    const { le, ...rest } = s.labels;
    const key = keyOf({ name: '', labels: rest, value: 0 });
    const list = sets.get(key) ?? [];
    list.push({ bound: boundOf(le), cumulative: delta(s) });
    sets.set(key, list);
  }
  const byBound = new Map<number, { value: number; count: number }>();
  for (const list of sets.values()) {
    list.sort((a, b) => a.bound - b.bound);
    let lower = 0;
    let below = 0;
    for (const { bound, cumulative } of list) {
      const count = Math.max(0, cumulative - below);
      below = Math.max(below, cumulative);
      const value = Number.isFinite(bound) ? (lower + bound) / 2 : lower;
      if (Number.isFinite(bound)) lower = bound;
      if (count === 0) continue;
      const at = byBound.get(bound) ?? { value, count: 0 };
      at.count += count;
      byBound.set(bound, at);
    }
  }
  const points = [...byBound.entries()].sort(([a], [b]) => a - b).map(([, p]) => p);
  if (points.length === 0) return undefined;
  // Microsecond precision keeps the statistics consistent with the values (no 0.30000000000000004 sums).
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  const Values = points.map((p) => round(p.value));
  const Counts = points.map((p) => p.count);
  return {
    Values,
    Counts,
    Max: Math.max(...Values),
    Min: Math.min(...Values),
    Count: Counts.reduce((a, b) => a + b, 0),
    Sum: round(Values.reduce((a, v, i) => a + v * Counts[i]!, 0)),
  };
}

/** The publisher of METRICS_EMF, started; undefined when it is `off`. The caller stops it (a final record). */
export function startEmfPublisher(
  opts: Omit<EmfPublisherOptions, 'write'> & { target: EmfTarget },
): EmfPublisher | undefined {
  const write = emfSink(opts.target);
  if (!write) return undefined;
  const { target, ...rest } = opts;
  const publisher = new EmfPublisher({ ...rest, write });
  publisher.start();
  opts.logger.info(
    {
      target: target.kind === 'file' ? `file:${target.path}` : target.kind,
      intervalMs: opts.intervalMs ?? DEFAULT_EMF_INTERVAL_MS,
    },
    'node metrics go out as CloudWatch EMF records',
  );
  return publisher;
}
