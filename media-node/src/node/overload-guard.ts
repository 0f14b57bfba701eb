import { readFileSync } from 'node:fs';
import { messageOf } from '@sipms/shared/errors';
import type { Logger } from '@sipms/shared/util/logger';

/**
 * When a node takes more calls than it (or the platform behind it) can serve, every call gets slow at
 * once: set-up times grow to seconds, callers give up with CANCEL, callback deliveries time out and their
 * notifications arrive late or not at all. Refusing some new INVITEs with 503 and Retry-After instead keeps
 * the calls already taken healthy, and a carrier or SIP proxy tries another node (RFC 3261 §21.5.4).
 *
 * Three signals, all tenant-neutral (a tenant's slow webhook raises none, so it cannot get other
 * tenants' calls refused):
 * - the node's event-loop delay (95th percentile over the last window): the node itself is out of CPU;
 * - the platform's share of callback round trips (median over the window): publish → reply found, less
 *   the time the delivery waited on the tenant's webhook (ReplyRecord.webhookMs). The bus, the dispatcher
 *   and the table are behind: locally all on the same cores, on AWS a throttled Lambda or table;
 * - off unless set, the machine's idle CPU (FreeSWITCH's min-idle-cpu): where the dispatcher shares the
 *   machine, its own busy event loop counts as webhook time, which the second signal cannot see.
 *
 * Each window sets the share of new calls to refuse: none at a signal's limit, all at twice it (idle CPU:
 * none at its minimum, all at 0 % idle), linear between, the largest of the signals counting. A higher
 * share applies at once; a lower one only halves the share per window, so a node that sheds load does not
 * take all of it back at the first quiet second.
 */
export interface OverloadLimits {
  /** Event-loop delay (ms, 95th percentile) from which new calls are refused; 0: not watched. */
  loopDelayMs: number;
  /** The platform's median share of callback round trips (ms) from which new calls are refused; 0: not watched. */
  callbackOverheadMs: number;
  /** The machine's idle CPU (%) below which new calls are refused; 0 or absent: not watched. */
  minIdleCpuPercent?: number;
}

/** The machine's idle CPU share since the previous read. */
export interface CpuIdleSource {
  /** Idle CPU (%, iowait counted idle) since the previous call; undefined on the first. */
  idlePercent(): number | undefined;
}

/** The event-loop delay of the last window. */
export interface LoopDelaySource {
  /** The 95th percentile of the delays (ms) since the last reset: a lone GC pause is not overload. */
  p95Ms(): number;
  reset(): void;
  stop(): void;
}

export interface OverloadState {
  /** Share of new calls refused now (0 to 1). */
  shedRatio: number;
  /** The last window's event-loop delay, 95th percentile (ms). */
  loopDelayP95Ms: number;
  /** The last window's median platform share of callback round trips (ms); undefined without samples. */
  callbackOverheadMs: number | undefined;
  /** The last window's idle CPU (%); undefined when not watched. */
  cpuIdlePercent: number | undefined;
}

/** A window's median needs this many round trips; fewer tell nothing (one slow callback is not overload). */
export const MIN_OVERHEAD_SAMPLES = 3;
/** Below this, the share of refused calls is none. */
const MIN_SHED_RATIO = 0.05;
/** Round trips kept for one window's median (later ones replace earlier ones at random). */
const MAX_OVERHEAD_SAMPLES = 256;

/** What the guard reads and tells; each defaults to the real one (tests set their own). */
export interface OverloadSources {
  loopDelay?: LoopDelaySource;
  cpu?: CpuIdleSource;
  /** Draws which calls are refused (0 ≤ x < 1). */
  random?: () => number;
  logger?: Pick<Logger, 'warn'>;
}

export class OverloadGuard {
  private shed = 0;
  private lastLoopDelay = 0;
  private lastOverhead: number | undefined;
  private lastIdle: number | undefined;
  private samples: number[] = [];
  private seen = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly loopDelay: LoopDelaySource;
  private readonly cpu: CpuIdleSource;
  private readonly random: () => number;
  private readonly logger: Pick<Logger, 'warn'> | undefined;

  constructor(
    private readonly limits: OverloadLimits,
    sources: OverloadSources = {},
  ) {
    this.loopDelay = sources.loopDelay ?? eventLoopDelay();
    this.cpu = sources.cpu ?? procStatIdle();
    this.random = sources.random ?? Math.random;
    this.logger = sources.logger;
  }

  private get minIdle(): number {
    return this.limits.minIdleCpuPercent ?? 0;
  }

  /** True when no signal is watched: every call is taken. */
  get off(): boolean {
    return this.limits.loopDelayMs === 0 && this.limits.callbackOverheadMs === 0 && this.minIdle === 0;
  }

  /** Evaluates a window every `windowMs` until stop. */
  start(windowMs = 1000): void {
    if (this.off || this.timer) return;
    if (this.limits.loopDelayMs > 0) this.loopDelay.reset();
    if (this.minIdle > 0) {
      try {
        this.cpu.idlePercent();
      } catch (err) {
        throw new Error(`the idle-CPU signal needs /proc/stat: ${messageOf(err)}`);
      }
    }
    this.timer = setInterval(() => this.evaluate(), windowMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.loopDelay.stop();
  }

  /** One callback's platform share: its round trip less the time its delivery waited on the webhook. */
  observeCallbackOverhead(ms: number): void {
    if (this.limits.callbackOverheadMs === 0 || !Number.isFinite(ms)) return;
    this.seen++;
    const sample = Math.max(0, ms);
    if (this.samples.length < MAX_OVERHEAD_SAMPLES) this.samples.push(sample);
    else {
      // Reservoir sampling: every round trip of the window has the same chance to be in the median.
      const slot = Math.floor(this.random() * this.seen);
      if (slot < MAX_OVERHEAD_SAMPLES) this.samples[slot] = sample;
    }
  }

  /** Closes the window: reads the signals and sets the share of new calls to refuse. */
  evaluate(): void {
    if (this.limits.loopDelayMs > 0) {
      this.lastLoopDelay = this.loopDelay.p95Ms();
      this.loopDelay.reset();
    }
    this.lastOverhead = this.samples.length >= MIN_OVERHEAD_SAMPLES ? median(this.samples) : undefined;
    this.samples = [];
    this.seen = 0;
    if (this.minIdle > 0) {
      try {
        this.lastIdle = this.cpu.idlePercent();
      } catch (err) {
        // Read at start, so not gone for good: a window without this signal.
        this.lastIdle = undefined;
        this.logger?.warn({ err }, 'idle CPU not read; this second goes without that overload signal');
      }
    }
    const pressure = Math.max(
      ratio(this.lastLoopDelay, this.limits.loopDelayMs),
      ratio(this.lastOverhead ?? 0, this.limits.callbackOverheadMs),
      // 1 at the minimum idle share, 2 at none.
      this.minIdle > 0 && this.lastIdle !== undefined ? 1 + (this.minIdle - this.lastIdle) / this.minIdle : 0,
    );
    const target = Math.min(1, Math.max(0, pressure - 1));
    const next = target >= this.shed ? target : Math.max(target, this.shed / 2);
    this.shed = next < MIN_SHED_RATIO ? 0 : next;
  }

  /** Why a new call is refused now, or undefined to take it. */
  refusal(): string | undefined {
    if (this.shed === 0 || this.random() >= this.shed) return undefined;
    if (this.limits.loopDelayMs > 0 && this.lastLoopDelay >= this.limits.loopDelayMs)
      return `node overloaded: event-loop delay ${Math.round(this.lastLoopDelay)} ms`;
    if (this.minIdle > 0 && this.lastIdle !== undefined && this.lastIdle < this.minIdle)
      return `node overloaded: CPU ${Math.round(this.lastIdle)} % idle`;
    return `node overloaded: callbacks ${Math.round(this.lastOverhead ?? 0)} ms behind`;
  }

  get state(): OverloadState {
    return {
      shedRatio: this.shed,
      loopDelayP95Ms: this.lastLoopDelay,
      callbackOverheadMs: this.lastOverhead,
      cpuIdlePercent: this.lastIdle,
    };
  }
}

function ratio(value: number, limit: number): number {
  return limit > 0 ? value / limit : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The process's event-loop delay: a timer every `resolutionMs` and how late each one fires. (Node's own
 * monitorEventLoopDelay was seen to miss a 300 ms block entirely on Node 20.)
 */
export function eventLoopDelay(resolutionMs = 20): LoopDelaySource {
  let lags: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  const arm = (from: number) => {
    timer = setTimeout(() => {
      const now = performance.now();
      lags.push(now - (from + resolutionMs));
      arm(now);
    }, resolutionMs);
    timer.unref();
  };
  const started = () => {
    if (!timer) arm(performance.now());
  };
  return {
    p95Ms() {
      started();
      if (lags.length === 0) return 0;
      const sorted = [...lags].sort((a, b) => a - b);
      return Math.max(0, sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!);
    },
    reset() {
      started();
      lags = [];
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

/**
 * The machine's idle CPU from /proc/stat's first line (user nice system idle iowait irq softirq steal):
 * idle + iowait over all eight, between two reads.
 */
export function procStatIdle(read: () => string = () => readFileSync('/proc/stat', 'utf8')): CpuIdleSource {
  let previous: { idle: number; total: number } | undefined;
  return {
    idlePercent() {
      const fields = /^cpu\s+(.*)$/m.exec(read())?.[1]?.trim().split(/\s+/).slice(0, 8).map(Number) ?? [];
      if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) throw new Error('/proc/stat has no cpu line');
      const now = { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
      const before = previous;
      previous = now;
      if (!before || now.total <= before.total) return undefined;
      return (100 * (now.idle - before.idle)) / (now.total - before.total);
    },
  };
}
