import type { Logger } from '@sipms/shared/util/logger';

export interface TenantLimits {
  /** Simultaneous calls (inbound and outbound) across all nodes. */
  maxConcurrentCalls: number;
  /** New calls (inbound and outbound) per second. */
  callsPerSecond: number;
}

export interface CallRateCounter {
  /** Counts one attempt; rejects (with the limit in the error) when the window is full. */
  hit(scope: string, subject: string, rule: { limit: number; windowSeconds: number }): Promise<unknown>;
}

/**
 * A tenant's concurrent-call slots across all nodes, taken and given back atomically (CallSlots in
 * shared/src/data/call-slots.ts): `acquire` is false once `limit` slots are in use anywhere.
 */
export interface CallSlotStore {
  acquire(tenantId: string, nodeId: string, limit: number): Promise<boolean>;
  /** False when this node held no slot (it was reclaimed while the node looked dead). */
  release(tenantId: string, nodeId: string): Promise<boolean>;
}

export type LimitRefusal = { limit: 'callsPerSecond' | 'maxConcurrentCalls'; value: number; message: string };

/**
 * Per-tenant call limits on this node: call attempts per second (a shared fixed window) and concurrent
 * calls (one atomic counter per tenant across all nodes, so a burst on any number of nodes never passes
 * the limit). Over a limit, inbound calls get SIP 503 and REST placements 429, both naming the limit.
 * A store that cannot be reached does not stop calls (it is logged): the table being down is an outage
 * of its own, not a reason to refuse every caller.
 */
export class CallLimits {
  /** Slots this node holds per tenant, for the heartbeat (so a dead node's slots can be reclaimed). */
  private readonly held = new Map<string, number>();
  /** Slot releases still being written, so a stopping node gives every slot back before it exits. */
  private readonly releasing = new Set<Promise<void>>();

  constructor(
    private readonly nodeId: string,
    private readonly rate: CallRateCounter,
    private readonly slots: CallSlotStore,
    private readonly limitsFor: (tenant: { tenantId: string; limits?: Partial<TenantLimits> }) => TenantLimits,
    private readonly logger: Logger,
  ) {}

  /** Tenants this node holds slots for (published in its heartbeat). */
  tenantsHeld(): string[] {
    return [...this.held.keys()];
  }

  /** Takes a call slot, or says which limit refuses it. Call `release` when the call ends. */
  async acquire(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    options: { countAttempt?: boolean } = {},
  ): Promise<LimitRefusal | undefined> {
    const limits = this.limitsFor(tenant);
    try {
      // REST placements were counted by the API already.
      if (options.countAttempt !== false) {
        await this.rate.hit('calls', tenant.tenantId, { limit: limits.callsPerSecond, windowSeconds: 1 });
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'rate_limited') {
        return {
          limit: 'callsPerSecond',
          value: limits.callsPerSecond,
          message: `at most ${limits.callsPerSecond} new calls per second`,
        };
      }
      this.logger.warn({ err, tenantId: tenant.tenantId }, 'call rate check failed; call allowed');
    }
    let granted = true;
    try {
      granted = await this.slots.acquire(tenant.tenantId, this.nodeId, limits.maxConcurrentCalls);
    } catch (err) {
      this.logger.warn({ err, tenantId: tenant.tenantId }, 'call slot store unavailable; call allowed');
      return undefined; // no slot was taken, so none is given back either
    }
    if (!granted) {
      return {
        limit: 'maxConcurrentCalls',
        value: limits.maxConcurrentCalls,
        message: `at most ${limits.maxConcurrentCalls} simultaneous calls`,
      };
    }
    this.held.set(tenant.tenantId, (this.held.get(tenant.tenantId) ?? 0) + 1);
    return undefined;
  }

  /** Gives the slot back (in the background: a call's end never waits for it). */
  release(tenantId: string): void {
    const n = (this.held.get(tenantId) ?? 0) - 1;
    if (n < 0) return; // acquired while the store was unavailable: no slot to give back
    if (n === 0) this.held.delete(tenantId);
    else this.held.set(tenantId, n);
    const write = this.slots.release(tenantId, this.nodeId).then(
      (released) => {
        if (!released) this.logger.warn({ tenantId }, 'call slot already reclaimed (this node looked dead)');
      },
      (err) =>
        this.logger.error({ err, tenantId }, 'call slot not given back; the sweeper reclaims it if the node dies'),
    );
    this.releasing.add(write);
    void write.finally(() => this.releasing.delete(write));
  }

  /** Waits for the slot releases in flight (the calls have ended by now). */
  async close(): Promise<void> {
    await Promise.all(this.releasing);
  }
}
