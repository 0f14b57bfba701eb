/**
 * How late this process's event loop ran while something waited: a timer due every `intervalMs` runs only
 * while someone watches, and each run adds how much later than due it came. A webhook's answer that arrived
 * while the loop was busy elsewhere (the local dispatcher shares its process with the bus, the API and other
 * deliveries) is read that much later; that wait is the platform's, not the tenant's webhook's.
 */
export class LoopLagMeter {
  private total = 0;
  private last = 0;
  private watchers = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 10) {}

  /** Starts watching; the function returned gives the lateness (ms) since then, and stops watching on its first call. */
  watch(): () => number {
    if (this.watchers++ === 0) {
      this.last = performance.now();
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    const from = this.sofar();
    let lag: number | undefined;
    return () => {
      if (lag !== undefined) return lag;
      lag = Math.max(0, this.sofar() - from);
      if (--this.watchers === 0) clearInterval(this.timer);
      return lag;
    };
  }

  private tick(): void {
    const now = performance.now();
    this.total += Math.max(0, now - this.last - this.intervalMs);
    this.last = now;
  }

  /** What has been counted, and the lateness of a run that is due but has not come yet. */
  private sofar(): number {
    return this.total + Math.max(0, performance.now() - this.last - this.intervalMs);
  }
}
