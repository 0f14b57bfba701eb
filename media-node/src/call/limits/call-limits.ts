import type { Logger } from '@sipms/shared/util/logger';

export interface TenantLimits {
  /** Simultaneous calls (inbound and outbound) across all nodes. */
  maxConcurrentCalls: number;
  /** New calls (inbound and outbound) per second. */
  callsPerSecond: number;
}

/**
 * A tenant's concurrent-call slots and calls-per-second window across all nodes, taken and given back
 * atomically (CallSlots in shared/src/data/call-slots.ts).
 */
export interface CallSlotStore {
  /**
   * Counts a new call in the tenant's window and takes a slot, or names the limit that refuses it; with a
   * `profileVersion`, `profileChanged` when the tenant's profile is no longer at that version.
   */
  admit(
    tenantId: string,
    nodeId: string,
    limits: TenantLimits,
    options?: { profileVersion?: number },
  ): Promise<'maxConcurrentCalls' | 'callsPerSecond' | 'profileChanged' | undefined>;
  /** The version of the tenant's profile, read before a copy of the profile (TenantProfiles). */
  profileVersion(tenantId: string): Promise<number>;
  /** Takes a slot for a call already counted (a REST placement, counted by the API); false when all are in use. */
  acquire(tenantId: string, nodeId: string, limit: number): Promise<boolean>;
  /**
   * Gives `count` (default 1) slots of the node back in one write; false, and nothing given back, when the
   * node holds fewer (they were reclaimed while the node looked dead).
   */
  release(tenantId: string, nodeId: string, count?: number): Promise<boolean>;
}

/** How long a slot given back waits for others of the same tenant, to go back in the same write. */
export const RELEASE_BATCH_MS = 50;

export type LimitRefusal = { limit: 'callsPerSecond' | 'maxConcurrentCalls'; value: number; message: string };

/**
 * Per-tenant call limits on this node: new calls per second (a fixed window shared by every node and the
 * API) and concurrent calls (one atomic counter per tenant across all nodes, so a burst on any number of
 * nodes never passes the limit), both checked and counted by one write. Over a limit, inbound calls get
 * SIP 503 and REST placements 429, both naming the limit. A store that cannot be reached does not stop
 * calls (it is logged): the table being down is an outage of its own, not a reason to refuse every caller.
 */
export class CallLimits {
  /** Slots this node holds per tenant, for the heartbeat (so a dead node's slots can be reclaimed). */
  private readonly held = new Map<string, number>();
  /** Slots of ended calls per tenant, not yet written back (batched: RELEASE_BATCH_MS). */
  private readonly toRelease = new Map<string, number>();
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Slot releases being written, per tenant, so a stopping node gives every slot back before it exits. */
  private readonly releasing = new Map<Promise<void>, string>();

  constructor(
    private readonly nodeId: string,
    private readonly slots: CallSlotStore,
    private readonly limitsFor: (tenant: { tenantId: string; limits?: Partial<TenantLimits> }) => TenantLimits,
    private readonly logger: Logger,
    /** 0: each slot is written back at once. */
    private readonly releaseBatchMs = RELEASE_BATCH_MS,
  ) {}

  /**
   * Tenants this node holds slots for (published in its heartbeat), those whose slots are still being
   * given back included: a node that dies before the write leaves them to the sweeper's reclaim.
   */
  tenantsHeld(): string[] {
    return [...new Set([...this.held.keys(), ...this.toRelease.keys(), ...this.releasing.values()])];
  }

  /** Takes a call slot, or says which limit refuses it. Call `release` when the call ends. */
  async acquire(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    options: { countAttempt?: boolean } = {},
  ): Promise<LimitRefusal | undefined> {
    const refused = await this.take(tenant, options.countAttempt === false ? 'slot' : { profileVersion: undefined });
    return refused === 'profileChanged' ? undefined : refused; // asked for no version: never
  }

  /**
   * As `acquire` for a new inbound call, whose tenant is the node's copy read at `profileVersion`
   * (TenantProfiles): `profileChanged` when the profile changed since, and nothing is taken or counted.
   */
  admitInbound(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    profileVersion: number,
  ): Promise<LimitRefusal | 'profileChanged' | undefined> {
    return this.take(tenant, { profileVersion });
  }

  /** `slot`: a REST placement, counted by the API already; else counted in the window too. */
  private async take(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    how: 'slot' | { profileVersion: number | undefined },
  ): Promise<LimitRefusal | 'profileChanged' | undefined> {
    const limits = this.limitsFor(tenant);
    let refused: 'maxConcurrentCalls' | 'callsPerSecond' | 'profileChanged' | undefined;
    try {
      refused =
        how === 'slot'
          ? (await this.slots.acquire(tenant.tenantId, this.nodeId, limits.maxConcurrentCalls))
            ? undefined
            : 'maxConcurrentCalls'
          : await this.slots.admit(
              tenant.tenantId,
              this.nodeId,
              limits,
              how.profileVersion === undefined ? {} : { profileVersion: how.profileVersion },
            );
    } catch (err) {
      this.logger.warn({ err, tenantId: tenant.tenantId }, 'call slot store unavailable; call allowed');
      return undefined; // no slot was taken, so none is given back either
    }
    if (refused === 'profileChanged') return refused;
    if (refused === 'callsPerSecond') {
      return {
        limit: 'callsPerSecond',
        value: limits.callsPerSecond,
        message: `at most ${limits.callsPerSecond} new calls per second`,
      };
    }
    if (refused === 'maxConcurrentCalls') {
      return {
        limit: 'maxConcurrentCalls',
        value: limits.maxConcurrentCalls,
        message: `at most ${limits.maxConcurrentCalls} simultaneous calls`,
      };
    }
    this.held.set(tenant.tenantId, (this.held.get(tenant.tenantId) ?? 0) + 1);
    return undefined;
  }

  /**
   * Gives the slot back, in the background (a call's end never waits for it): with the tenant's other slots
   * given back within `releaseBatchMs`, in one write.
   */
  release(tenantId: string): void {
    const n = (this.held.get(tenantId) ?? 0) - 1;
    if (n < 0) return; // acquired while the store was unavailable: no slot to give back
    if (n === 0) this.held.delete(tenantId);
    else this.held.set(tenantId, n);
    this.toRelease.set(tenantId, (this.toRelease.get(tenantId) ?? 0) + 1);
    if (this.releaseBatchMs === 0) this.writeReleases();
    else this.releaseTimer ??= setTimeout(() => this.writeReleases(), this.releaseBatchMs);
  }

  private writeReleases(): void {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    for (const [tenantId, count] of this.toRelease) {
      const write = this.giveBack(tenantId, count).catch((err) =>
        this.logger.error(
          { err, tenantId, count },
          'call slots not given back; the sweeper reclaims them if the node dies',
        ),
      );
      this.releasing.set(write, tenantId);
      void write.finally(() => this.releasing.delete(write));
    }
    this.toRelease.clear();
  }

  /**
   * One write for `count` slots. When the node holds fewer (some were reclaimed while it looked dead, and
   * it has taken new ones since), they go back one at a time until none is left, as each call's would.
   */
  private async giveBack(tenantId: string, count: number): Promise<void> {
    if (await this.slots.release(tenantId, this.nodeId, count)) return;
    let left = count;
    while (left > 0 && (await this.slots.release(tenantId, this.nodeId))) left -= 1;
    if (left > 0) {
      this.logger.warn({ tenantId, count: left }, 'call slot already reclaimed (this node looked dead)');
    }
  }

  /** Writes the slots given back so far and waits for every release (the calls have ended by now). */
  async close(): Promise<void> {
    this.writeReleases();
    await Promise.all(this.releasing.keys());
  }
}
