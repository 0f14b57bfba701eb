/** Transaction timer values (RFC 3261 §17.1.1.1 and Table 4); shortened in tests. */

export interface TimerSettings {
  /** RTT estimate, default 500 ms. */
  t1Ms: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  t2Ms: number;
  /** Maximum time a message stays in the network, default 5 s. */
  t4Ms: number;
}

export const DEFAULT_TIMERS: TimerSettings = { t1Ms: 500, t2Ms: 4000, t4Ms: 5000 };

export function resolveTimers(overrides?: Partial<TimerSettings>): TimerSettings {
  return { ...DEFAULT_TIMERS, ...overrides };
}

/** A set of timers cancelled together when their owner terminates. */
export class TimerGroup {
  private readonly handles = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): NodeJS.Timeout {
    const handle = setTimeout(() => {
      this.handles.delete(handle);
      fn();
    }, ms);
    handle.unref?.();
    this.handles.add(handle);
    return handle;
  }

  cancel(handle: NodeJS.Timeout | undefined): void {
    if (handle === undefined) return;
    clearTimeout(handle);
    this.handles.delete(handle);
  }

  clear(): void {
    for (const handle of this.handles) clearTimeout(handle);
    this.handles.clear();
  }
}
