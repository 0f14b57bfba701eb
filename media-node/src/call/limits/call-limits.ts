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

export interface ActiveCallStore {
  publish(tenantId: string, nodeId: string, count: number): Promise<void>;
  others(tenantId: string, exceptNode: string): Promise<number>;
}

export type LimitRefusal = { limit: 'callsPerSecond' | 'maxConcurrentCalls'; value: number; message: string };

/**
 * Per-tenant call limits on this node: call attempts per second (a shared fixed window) and concurrent
 * calls (this node's own count plus every other node's fresh count). Over a limit, inbound calls get SIP
 * 503 and REST placements 429, both naming the limit. A store that cannot be reached does not stop calls.
 */
export class CallLimits {
  private readonly local = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly nodeId: string,
    private readonly rate: CallRateCounter,
    private readonly active: ActiveCallStore,
    private readonly limitsFor: (tenant: { tenantId: string; limits?: Partial<TenantLimits> }) => TenantLimits,
    private readonly logger: Logger,
  ) {
    // Keep this node's counts fresh while it has calls, so other nodes keep counting them.
    this.timer = setInterval(() => {
      for (const [tenantId, n] of this.local) if (n > 0) void this.publish(tenantId);
    }, 5000);
    this.timer.unref();
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
      this.logger.warn({ err }, 'call rate check failed; call allowed');
    }
    const mine = this.local.get(tenant.tenantId) ?? 0;
    let others = 0;
    try {
      others = await this.active.others(tenant.tenantId, this.nodeId);
    } catch (err) {
      this.logger.warn({ err }, 'active call count unavailable; call allowed');
    }
    if (mine + others >= limits.maxConcurrentCalls) {
      return {
        limit: 'maxConcurrentCalls',
        value: limits.maxConcurrentCalls,
        message: `at most ${limits.maxConcurrentCalls} simultaneous calls`,
      };
    }
    this.local.set(tenant.tenantId, mine + 1);
    void this.publish(tenant.tenantId);
    return undefined;
  }

  release(tenantId: string): void {
    const n = (this.local.get(tenantId) ?? 1) - 1;
    if (n <= 0) this.local.delete(tenantId);
    else this.local.set(tenantId, n);
    void this.publish(tenantId);
  }

  private async publish(tenantId: string): Promise<void> {
    await this.active
      .publish(tenantId, this.nodeId, this.local.get(tenantId) ?? 0)
      .catch((err) => this.logger.warn({ err }, 'active call count not published'));
  }

  close(): void {
    clearInterval(this.timer);
  }
}
