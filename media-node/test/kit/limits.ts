import { RateLimitedError } from '@sipms/shared/errors';
import type { ActiveCallStore, CallRateCounter } from '../../src/call/limits/call-limits.js';

/**
 * Fakes of the inputs of CallLimits (media-node/src/call/limits/call-limits.ts), with the semantics of
 * FixedWindowRateLimiter and ActiveCallCounts (shared/src/data/rate-limit.ts, active-calls.ts).
 */

/**
 * Fixed windows per scope and subject: the `limit`-th hit of a window passes, the next one throws
 * RateLimitedError (code 'rate_limited'). The clock is the test's (`now`), so windows pass on cue.
 */
export class FakeCallRateCounter implements CallRateCounter {
  private readonly windows = new Map<string, number>();
  /** Every hit, allowed or not: `${scope} ${subject}`. */
  readonly hits: string[] = [];
  /** When set, hit() rejects with it (the table cannot be reached). */
  error: Error | undefined;

  constructor(public now: () => number = () => Date.now()) {}

  async hit(
    scope: string,
    subject: string,
    rule: { limit: number; windowSeconds: number },
  ): Promise<{ remaining: number }> {
    this.hits.push(`${scope} ${subject}`);
    await Promise.resolve();
    if (this.error) throw this.error;
    const now = this.now();
    const windowMs = rule.windowSeconds * 1000;
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const key = `${scope}#${subject}#${windowStart}`;
    const used = this.windows.get(key) ?? 0;
    if (used >= rule.limit) {
      throw new RateLimitedError(
        scope,
        rule.limit,
        rule.windowSeconds,
        Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000)),
      );
    }
    this.windows.set(key, used + 1);
    return { remaining: rule.limit - used - 1 };
  }
}

/**
 * Each node's own count per tenant (an absolute value it rewrites); `others` sums every node but one.
 * Counts older than 20 s no longer count, as in ActiveCallCounts.
 */
export class FakeActiveCallStore implements ActiveCallStore {
  private readonly counts = new Map<string, { count: number; at: number }>();
  /** When set, others() rejects with it. */
  othersError: Error | undefined;
  /** When set, publish() rejects with it. */
  publishError: Error | undefined;

  constructor(public now: () => number = () => Date.now()) {}

  async publish(tenantId: string, nodeId: string, count: number): Promise<void> {
    await Promise.resolve();
    if (this.publishError) throw this.publishError;
    this.counts.set(`${tenantId}|${nodeId}`, { count, at: this.now() });
  }

  async others(tenantId: string, exceptNode: string): Promise<number> {
    await Promise.resolve();
    if (this.othersError) throw this.othersError;
    let total = 0;
    for (const [key, v] of this.counts) {
      const [t, node] = key.split('|');
      if (t !== tenantId || node === exceptNode || this.now() - v.at > 20_000) continue;
      total += v.count;
    }
    return total;
  }

  /** Another node reports `count` calls of the tenant. */
  set(tenantId: string, nodeId: string, count: number): this {
    this.counts.set(`${tenantId}|${nodeId}`, { count, at: this.now() });
    return this;
  }

  /** What `nodeId` last published for the tenant (0 if nothing). */
  countOf(tenantId: string, nodeId: string): number {
    return this.counts.get(`${tenantId}|${nodeId}`)?.count ?? 0;
  }
}
