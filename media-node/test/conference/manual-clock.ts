import type { PacerClock } from '../../src/audio/index.js';

/**
 * A clock for unit tests (a fake: time moves only when the test says so). `advance` fires due timers in time
 * order; `block` lets time pass without firing any, as a busy event loop does.
 */
export class ManualClock implements PacerClock {
  time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let nextId: number | undefined;
      for (const [id, t] of this.timers)
        if (t.at <= end && (nextId === undefined || t.at < this.timers.get(nextId)!.at)) nextId = id;
      if (nextId === undefined) break;
      const t = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.time = Math.max(this.time, t.at);
      t.fn();
    }
    this.time = end;
  }

  block(ms: number): void {
    this.time += ms;
  }
}
