import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConferenceClock } from '../../src/conference/conference-clock.js';
import { ManualClock } from './manual-clock.js';

// The conference's one timer, driven by a ManualClock (a fake clock: time moves when the test says).

test('one tick every 20 ms, on schedule however late each timer fires', () => {
  const clock = new ManualClock();
  const at: number[] = [];
  const c = new ConferenceClock(() => at.push(clock.now()), clock);
  c.start();
  clock.advance(1000);
  assert.equal(at.length, 50);
  assert.deepEqual(at.slice(0, 3), [20, 40, 60]);
  assert.equal(clock.pendingTimers, 1, 'one timer, always');
  c.stop();
  clock.advance(1000);
  assert.equal(at.length, 50, 'stopped: no more ticks');
  assert.equal(clock.pendingTimers, 0);
});

test('a short stall is caught up at once; a long one moves the schedule forward', () => {
  const clock = new ManualClock();
  let ticks = 0;
  const c = new ConferenceClock(() => ticks++, clock, 2);
  c.start();
  clock.advance(100); // 5 ticks
  clock.block(55); // 2 more came due meanwhile (and the next is 5 ms away)
  clock.advance(0);
  assert.equal(ticks, 7);
  assert.deepEqual(c.stats(), { ticks: 7, lateTicks: 1, stalls: 0 });
  clock.block(500); // 25 ticks due: 3 run, the rest are skipped
  clock.advance(0);
  assert.equal(ticks, 10);
  assert.equal(c.stats().stalls, 1);
  clock.advance(20);
  assert.equal(ticks, 11, 'the schedule goes on from there, one tick per 20 ms');
  c.stop();
});
