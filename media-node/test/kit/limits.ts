import type { CallSlotStore, TenantLimits } from '../../src/call/limits/call-limits.js';

/** Fakes of the inputs of CallLimits (media-node/src/call/limits/call-limits.ts), with CallSlots' semantics. */

/**
 * A tenant's concurrent-call slots and calls-per-second window with the semantics of CallSlots
 * (shared/src/data/call-slots.ts): one total per tenant and each node's share, one fixed one-second window
 * per tenant counting admitted calls; admit and acquire are atomic (no await between the check and the take).
 * The clock is the test's (`now`), so windows pass on cue.
 */
export class FakeCallSlots implements CallSlotStore {
  private readonly byNode = new Map<string, Map<string, number>>();
  private readonly windows = new Map<string, { start: number; hits: number }>();
  /** Every admission asked for (counted in the window or refused), as `tenantId`. */
  readonly admissions: string[] = [];
  /** When set, every call rejects with it (the table cannot be reached). */
  error: Error | undefined;
  /** Each tenant's profile version (0 until its first change), as on the call-slots item. */
  private readonly versions = new Map<string, number>();

  constructor(public now: () => number = () => Date.now()) {}

  async admit(
    tenantId: string,
    nodeId: string,
    limits: TenantLimits,
    options: { profileVersion?: number } = {},
  ): Promise<'maxConcurrentCalls' | 'callsPerSecond' | 'profileChanged' | undefined> {
    this.admissions.push(tenantId);
    await Promise.resolve();
    if (this.error) throw this.error;
    const version = options.profileVersion;
    if (version !== undefined && version !== (this.versions.get(tenantId) ?? 0)) return 'profileChanged';
    if (this.active(tenantId) >= limits.maxConcurrentCalls) return 'maxConcurrentCalls';
    const start = Math.floor(this.now() / 1000) * 1000;
    const w = this.windows.get(tenantId);
    const hits = w && w.start === start ? w.hits : 0;
    if (hits >= limits.callsPerSecond) return 'callsPerSecond';
    this.windows.set(tenantId, { start, hits: hits + 1 });
    const m = this.shares(tenantId);
    m.set(nodeId, (m.get(nodeId) ?? 0) + 1);
    return undefined;
  }

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

  async profileVersion(tenantId: string): Promise<number> {
    await Promise.resolve();
    if (this.error) throw this.error;
    return this.versions.get(tenantId) ?? 0;
  }

  /** The tenant's profile was written (TenantStore bumps the version after each write). */
  profileChanged(tenantId: string): void {
    this.versions.set(tenantId, (this.versions.get(tenantId) ?? 0) + 1);
  }

  /** Every release asked for, as `tenantId×count`. */
  readonly releases: string[] = [];

  async release(tenantId: string, nodeId: string, count = 1): Promise<boolean> {
    this.releases.push(`${tenantId}×${count}`);
    await Promise.resolve();
    if (this.error) throw this.error;
    const m = this.shares(tenantId);
    const held = m.get(nodeId) ?? 0;
    if (held < count) return false;
    m.set(nodeId, held - count);
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
