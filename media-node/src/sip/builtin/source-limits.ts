/**
 * Per-source limits, so that one peer (a tenant's carrier, or someone pretending to be one) cannot
 * take the node's SIP capacity from everybody else: a token bucket of new INVITEs per source IP, and
 * a log throttle so that a flood is reported once per source per interval instead of once a packet.
 * Both adapters use them (sip/builtin/user-agent.ts, sip/drachtio/drachtio-signaling.ts); the TCP/TLS
 * connection cap per address lives in stream-transport.ts.
 */

export interface InviteRateLimit {
  /** New INVITEs (outside a dialog) per second and source IP, sustained. */
  perSecond: number;
  /** How many may come at once (the bucket's size); default 2 × perSecond. */
  burst?: number;
}

/**
 * 'accept': go on. 'refuse': answer 503 with Retry-After (`retryAfterS`). 'drop': the source is far
 * over its rate (more refusals this second than its rate): send nothing, so that a flood is not
 * answered packet for packet.
 */
export type RateVerdict = { kind: 'accept' } | { kind: 'refuse'; retryAfterS: number } | { kind: 'drop' };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
  /** The whole second (ms / 1000, floored) `refused` counts in. */
  second: number;
  refused: number;
}

/** Token bucket per source IP. Memory is bounded: full buckets are forgotten, and at most `maxSources` are kept. */
export class InviteRateLimiter {
  readonly perSecond: number;
  readonly burst: number;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    limit: InviteRateLimit,
    private readonly maxSources = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    if (!(limit.perSecond > 0)) throw new RangeError('perSecond must be above 0');
    this.perSecond = limit.perSecond;
    this.burst = Math.max(1, Math.floor(limit.burst ?? limit.perSecond * 2));
  }

  /** One new INVITE from `address`. */
  take(address: string): RateVerdict {
    const now = this.now();
    if (now - this.lastSweep >= 5000) this.sweep(now);
    let bucket = this.buckets.get(address);
    if (!bucket) {
      // A flood from many addresses: the oldest entry goes (Map order), in O(1).
      if (this.buckets.size >= this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, at: now, second: 0, refused: 0 };
      this.buckets.set(address, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { kind: 'accept' };
    }
    const second = Math.floor(now / 1000);
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.refused = 0;
    }
    bucket.refused += 1;
    if (bucket.refused > this.perSecond) return { kind: 'drop' };
    // Seconds until the bucket holds a token again, at least 1 (Retry-After is whole seconds, §20.33).
    return { kind: 'refuse', retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond)) };
  }

  /** Sources tracked (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  /** Every few seconds: forget buckets that have refilled (a new one is the same). */
  private sweep(now: number): void {
    this.lastSweep = now;
    const refillMs = (this.burst / this.perSecond) * 1000;
    for (const [address, bucket] of this.buckets) {
      if (now - bucket.at >= refillMs) this.buckets.delete(address);
    }
  }
}

/**
 * At most one log line per key and interval: `hit(key)` says whether to log now and how many hits
 * since the last line were not logged. Keys not seen for an interval are forgotten.
 */
export class LogThrottle {
  private readonly entries = new Map<string, { loggedAt: number; suppressed: number }>();
  private lastSweep = 0;

  constructor(
    readonly intervalMs = 10_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  hit(key: string): { log: boolean; suppressed: number } {
    const now = this.now();
    if (now - this.lastSweep >= this.intervalMs) {
      this.lastSweep = now;
      // Entries with unreported hits are kept a while longer, so that the next line can count them.
      for (const [k, e] of this.entries) {
        const age = now - e.loggedAt;
        if ((age >= this.intervalMs && e.suppressed === 0) || age >= 6 * this.intervalMs) this.entries.delete(k);
      }
    }
    const entry = this.entries.get(key);
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed += 1;
      return { log: false, suppressed: entry.suppressed };
    }
    if (!entry && this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
    const suppressed = entry?.suppressed ?? 0;
    this.entries.delete(key); // re-inserted last: Map order is then oldest line first
    this.entries.set(key, { loggedAt: now, suppressed: 0 });
    return { log: true, suppressed };
  }
}
