import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventLoopDelay, type LoopDelaySource, OverloadGuard, procStatIdle } from '../src/node/overload-guard.js';

/** A loop-delay source that reports what the test sets (the real one is tested below). */
class SetDelay implements LoopDelaySource {
  value = 0;
  resets = 0;
  p95Ms = () => this.value;
  reset = () => {
    this.resets++;
  };
  stop = () => undefined;
}

/** The share of `n` new calls the guard refuses, with an even spread of random draws. */
function refusedShare(guard: OverloadGuard, draws: { next: number }, n = 100): number {
  let refused = 0;
  for (let i = 0; i < n; i++) {
    draws.next = (i + 0.5) / n;
    if (guard.refusal()) refused++;
  }
  return refused / n;
}

function guardWith(limits: { loopDelayMs?: number; callbackOverheadMs?: number }) {
  const delay = new SetDelay();
  const draws = { next: 0.5 };
  const guard = new OverloadGuard(
    { loopDelayMs: limits.loopDelayMs ?? 0, callbackOverheadMs: limits.callbackOverheadMs ?? 0 },
    { loopDelay: delay, random: () => draws.next },
  );
  return { guard, delay, draws };
}

describe('overload guard', () => {
  test('event-loop delay: none refused up to the limit, a linear share above it, all from twice it', () => {
    const { guard, delay, draws } = guardWith({ loopDelayMs: 200 });
    for (const [value, share] of [
      [0, 0],
      [200, 0],
      [300, 0.5],
      [400, 1],
      [900, 1],
    ] as const) {
      delay.value = value;
      guard.evaluate();
      assert.equal(guard.state.shedRatio, share, `${value} ms`);
      assert.equal(refusedShare(guard, draws), share, `${value} ms: share of 100 calls refused`);
    }
    assert.equal(delay.resets, 5, 'each window reads its own delays');
    draws.next = 0;
    assert.equal(guard.refusal(), 'node overloaded: event-loop delay 900 ms');
  });

  test('a lower share comes back by halves, a higher one at once; below 5 % is none', () => {
    const { guard, delay } = guardWith({ loopDelayMs: 100 });
    delay.value = 250;
    guard.evaluate();
    assert.equal(guard.state.shedRatio, 1);
    delay.value = 0;
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      guard.evaluate();
      seen.push(guard.state.shedRatio);
    }
    assert.deepEqual(seen, [0.5, 0.25, 0.125, 0.0625, 0, 0]);
    delay.value = 180;
    guard.evaluate();
    assert.ok(Math.abs(guard.state.shedRatio - 0.8) < 1e-9, String(guard.state.shedRatio));
  });

  test('callbacks: the median of the window counts, not one slow round trip; fewer than 3 tell nothing', () => {
    const { guard, draws } = guardWith({ callbackOverheadMs: 1000 });
    for (const ms of [40, 30, 60_000, 50]) guard.observeCallbackOverhead(ms);
    guard.evaluate();
    assert.equal(guard.state.callbackOverheadMs, 45);
    assert.equal(guard.state.shedRatio, 0);
    guard.observeCallbackOverhead(5000);
    guard.observeCallbackOverhead(5000);
    guard.evaluate();
    assert.equal(guard.state.callbackOverheadMs, undefined, 'two round trips are no window');
    assert.equal(guard.state.shedRatio, 0);
    for (const ms of [1400, 1500, 1600, 20]) guard.observeCallbackOverhead(ms);
    guard.evaluate();
    assert.equal(guard.state.callbackOverheadMs, 1450);
    assert.ok(Math.abs(guard.state.shedRatio - 0.45) < 1e-9);
    draws.next = 0;
    assert.equal(guard.refusal(), 'node overloaded: callbacks 1450 ms behind');
    // A window's samples start empty: the next one without round trips lowers the share by half.
    guard.evaluate();
    assert.ok(Math.abs(guard.state.shedRatio - 0.225) < 1e-9);
  });

  test('a window holds a bounded sample of its round trips, each equally likely to be in it', () => {
    const guard = new OverloadGuard({ loopDelayMs: 0, callbackOverheadMs: 1000 }, { loopDelay: new SetDelay() });
    // 10,000 round trips, the last 7,000 slow: a sample of the first few hundred would be fast.
    for (let i = 0; i < 10_000; i++) guard.observeCallbackOverhead(i < 3000 ? 10 : 5000);
    guard.evaluate();
    assert.equal(guard.state.callbackOverheadMs, 5000);
    assert.equal(guard.state.shedRatio, 1);
  });

  test('idle CPU (off unless set): none refused at the minimum, half at half of it, all at none', () => {
    const idle = { next: undefined as number | undefined, reads: 0 };
    const cpu = {
      idlePercent: () => {
        idle.reads++;
        return idle.next;
      },
    };
    const draws = { next: 0 };
    const guard = new OverloadGuard(
      { loopDelayMs: 0, callbackOverheadMs: 0, minIdleCpuPercent: 10 },
      { loopDelay: new SetDelay(), random: () => draws.next, cpu },
    );
    assert.equal(guard.off, false);
    guard.start(60_000);
    assert.equal(idle.reads, 1, 'start reads once: the next read covers the first window');
    for (const [value, share] of [
      [50, 0],
      [10, 0],
      [5, 0.5],
      [0, 1],
    ] as const) {
      idle.next = value;
      guard.evaluate();
      assert.equal(guard.state.shedRatio, share, `${value} % idle`);
      assert.equal(guard.state.cpuIdlePercent, value);
    }
    assert.equal(guard.refusal(), 'node overloaded: CPU 0 % idle');
    guard.stop();
    const unset = new OverloadGuard({ loopDelayMs: 0, callbackOverheadMs: 0 }, { loopDelay: new SetDelay(), cpu });
    const before = idle.reads;
    unset.evaluate();
    assert.equal(idle.reads, before, 'not watched: /proc/stat is not even read');
    assert.equal(unset.state.cpuIdlePercent, undefined);
  });

  test('procStatIdle: idle + iowait over the first eight fields between two reads; this machine reads 0-100', () => {
    const lines = [
      'cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n',
      'cpu  200 0 200 1300 200 0 0 100 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n',
    ];
    const idle = procStatIdle(() => lines.shift()!);
    assert.equal(idle.idlePercent(), undefined, 'the first read has nothing to compare with');
    // 1000 ticks more (guest fields after the eighth left out): 600 idle + 100 iowait.
    assert.equal(idle.idlePercent(), 70);
    assert.throws(() => procStatIdle(() => 'nothing here').idlePercent(), /no cpu line/);
    const real = procStatIdle();
    real.idlePercent();
    const until = Date.now() + 50;
    while (Date.now() < until) {
      // a little CPU, so the counters move
    }
    const now = real.idlePercent();
    assert.ok(now === undefined || (now >= 0 && now <= 100), String(now));
  });

  test('both limits 0: off, every call taken, no timer', () => {
    const { guard, delay } = guardWith({});
    assert.equal(guard.off, true);
    guard.start(1);
    delay.value = 10_000;
    guard.observeCallbackOverhead(10_000);
    guard.evaluate();
    assert.equal(guard.state.shedRatio, 0);
    assert.equal(guard.refusal(), undefined);
    assert.equal(delay.resets, 0, 'the loop delay is not even read');
    guard.stop();
  });

  test('the real event-loop delay: a 300 ms block is seen, an idle loop is not overloaded', async () => {
    const delay = eventLoopDelay();
    try {
      delay.reset();
      await new Promise((r) => setTimeout(r, 200));
      const idle = delay.p95Ms();
      assert.ok(idle < 250, `idle loop: ${idle} ms`);
      delay.reset();
      await new Promise((r) => setTimeout(r, 60));
      const until = performance.now() + 300;
      while (performance.now() < until) {
        // the node's event loop, busy
      }
      await new Promise((r) => setTimeout(r, 60));
      const blocked = delay.p95Ms();
      assert.ok(blocked >= 250, `after a 300 ms block: ${blocked} ms`);
    } finally {
      delay.stop();
    }
  });
});
