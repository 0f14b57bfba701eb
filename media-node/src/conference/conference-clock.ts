import { type PacerClock, systemClock } from '../audio/index.js';

const TICK_MS = 20;

export interface ClockStats {
  ticks: number;
  /** Ticks run behind their due time to catch up after the event loop was late. */
  lateTicks: number;
  /** Delays longer than the catch-up allowance: the schedule moved forward (those ticks were skipped). */
  stalls: number;
}

/**
 * One timer per conference: tick n is due at t0 + n·20 ms and each timer is set for the next due time, so
 * timer lateness never accumulates as drift. Ticks that came due while the event loop was busy run at once, up
 * to `maxCatchUp` extra (the participants' jitter buffers hold the audio that arrived meanwhile); after a longer
 * stall the schedule moves forward instead. The clock is injected so tests drive it by hand.
 */
export class ConferenceClock {
  private t0 = 0;
  private n = 0;
  private timer: unknown;
  private running = false;
  private readonly counts: ClockStats = { ticks: 0, lateTicks: 0, stalls: 0 };

  constructor(
    private readonly onTick: () => void,
    private readonly clock: PacerClock = systemClock,
    private readonly maxCatchUp = 2,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.t0 = this.clock.now();
    this.n = 0;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  stats(): ClockStats {
    return { ...this.counts };
  }

  private schedule(): void {
    const due = this.t0 + (this.n + 1) * TICK_MS;
    this.timer = this.clock.setTimer(() => this.fire(), Math.max(0, due - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    if (!this.running) return;
    let due = Math.floor((this.clock.now() - this.t0) / TICK_MS) - this.n;
    if (due > 1 + this.maxCatchUp) {
      this.counts.stalls++;
      this.n += due - 1 - this.maxCatchUp;
      due = 1 + this.maxCatchUp;
    }
    for (let i = 0; i < due && this.running; i++) {
      if (i > 0) this.counts.lateTicks++;
      this.n++;
      this.counts.ticks++;
      this.onTick();
    }
    if (this.running) this.schedule();
  }
}
