import { RateLimitedError } from '@sipms/shared/errors';
import type { CallRateCounter, CallSlotStore } from '../../src/call/limits/call-limits.js';

/**
 * Fakes of the inputs of CallLimits (media-node/src/call/limits/call-limits.ts), with the semantics of
 * FixedWindowRateLimiter and CallSlots (shared/src/data/rate-limit.ts, call-slots.ts).
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
 * A tenant's concurrent-call slots with the semantics of CallSlots (shared/src/data/call-slots.ts): one
 * total per tenant and each node's share; acquire is atomic (no await between the check and the take).
 */
export class FakeCallSlots implements CallSlotStore {
  private readonly byNode = new Map<string, Map<string, number>>();
  /** When set, acquire() and release() reject with it (the table cannot be reached). */
  error: Error | undefined;

  private shares(tenantId: string): Map<string, number> {
    let m = this.byNode.get(tenantId);
    if (!m) {
      m = new Map();
      this.byNode.set(tenantId, m);
    }
    return m;
  }

  async acquire(tenantId: string, nodeId: string, limit: number): Promise<boolean> {
    await Promise.resolve();
    if (this.error) throw this.error;
    if (this.active(tenantId) >= limit) return false;
    const m = this.shares(tenantId);
    m.set(nodeId, (m.get(nodeId) ?? 0) + 1);
    return true;
  }

  async release(tenantId: string, nodeId: string): Promise<boolean> {
    await Promise.resolve();
    if (this.error) throw this.error;
    const m = this.shares(tenantId);
    const held = m.get(nodeId) ?? 0;
    if (held === 0) return false;
    m.set(nodeId, held - 1);
    return true;
  }

  async reclaim(tenantId: string, nodeId: string): Promise<number> {
    await Promise.resolve();
    const m = this.shares(tenantId);
    const held = m.get(nodeId) ?? 0;
    m.delete(nodeId);
    return held;
  }

  async usage(tenantId: string): Promise<{ active: number; byNode: Record<string, number> }> {
    await Promise.resolve();
    const byNode: Record<string, number> = {};
    for (const [node, n] of this.shares(tenantId)) if (n > 0) byNode[node] = n;
    return { active: this.active(tenantId), byNode };
  }

  /** Slots in use by the tenant across nodes. */
  active(tenantId: string): number {
    let total = 0;
    for (const n of this.shares(tenantId).values()) total += n;
    return total;
  }

  /** Slots `nodeId` holds for the tenant. */
  countOf(tenantId: string, nodeId: string): number {
    return this.shares(tenantId).get(nodeId) ?? 0;
  }

  /** Another node holds `count` slots of the tenant. */
  set(tenantId: string, nodeId: string, count: number): this {
    this.shares(tenantId).set(nodeId, count);
    return this;
  }
}
