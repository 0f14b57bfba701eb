import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FramePacer,
  type FramePacerOptions,
  type PacerClock,
  PacerOverflowError,
} from '../../src/audio/frame-pacer.js';

/** A clock whose timers fire only when the test advances it, each `lateness()` ms after its due time. */
class FakeClock implements PacerClock {
  time = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  constructor(private readonly lateness: () => number = () => 0) {}
  now(): number {
    return this.time;
  }
  setTimer(fn: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + Math.max(0, delayMs) + this.lateness(), fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  get pending(): number {
    return this.timers.length;
  }
  /** Runs every timer due up to now + ms, in order, moving the clock to each. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
  }
  /** The event loop is blocked for `ms`: time passes, no timer runs. */
  stall(ms: number): void {
    this.time += ms;
  }
}

const FB = 160;

function setup(o: Partial<FramePacerOptions> = {}, clock = new FakeClock()) {
  const frames: { at: number; bytes: number[] }[] = [];
  const marks: { at: number; name: string; outcome: string }[] = [];
  const pacer = new FramePacer({
    frameBytes: FB,
    silenceByte: 0xff,
    clock,
    onFrame: (f) => frames.push({ at: clock.now(), bytes: [...f] }),
    onMark: (name, outcome) => marks.push({ at: clock.now(), name, outcome }),
    ...o,
  });
  return { pacer, clock, frames, marks };
}

/** `n` frames whose bytes all hold the frame's number (from `first`). */
function framesOf(n: number, first = 1): Uint8Array {
  const b = new Uint8Array(n * FB);
  for (let i = 0; i < n; i++) b.fill((first + i) & 0xff, i * FB, (i + 1) * FB);
  return b;
}

describe('FramePacer', () => {
  test('one frame every 20 ms from the first enqueue, in order, then idle with no timer left', () => {
    const { pacer, clock, frames } = setup();
    clock.advance(7);
    pacer.enqueue(framesOf(50));
    assert.equal(pacer.queuedMs, 1000);
    clock.advance(2000);
    assert.equal(frames.length, 50);
    assert.deepEqual(
      frames.map((f) => f.at),
      Array.from({ length: 50 }, (_, i) => 7 + 20 * i),
    );
    assert.deepEqual(
      frames.map((f) => f.bytes[0]),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(clock.pending, 0, 'the timer stops when there is nothing to play');
    assert.equal(pacer.stats().framesSent, 50);
  });

  test('drift-free: timers firing 0–6 ms late do not accumulate over 10 s', () => {
    let seed = 1;
    const lateness = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed / 2147483647) * 6;
    };
    const { pacer, clock, frames } = setup({}, new FakeClock(lateness));
    pacer.enqueue(framesOf(500));
    clock.advance(20_000);
    assert.equal(frames.length, 500);
    for (let i = 0; i < frames.length; i++) {
      const offset = frames[i]!.at - 20 * i;
      assert.ok(offset >= 0 && offset <= 6 + 1e-9, `frame ${i} at ${frames[i]!.at.toFixed(2)} ms`);
    }
    assert.deepEqual(pacer.stats().stalls, 0);
  });

  test('chunks of any length become whole frames, byte for byte; a dry queue pads the last part with silence', () => {
    const { pacer, clock, frames } = setup();
    const input = new Uint8Array(1000);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;
    let at = 0;
    for (const size of [100, 70, 330, 1, 159, 240, 100]) {
      pacer.enqueue(input.subarray(at, at + size));
      at += size;
    }
    clock.advance(200);
    const out = frames.flatMap((f) => f.bytes);
    assert.equal(frames.length, 7); // 1000 bytes = 6 frames + 40 bytes, padded
    assert.deepEqual(out.slice(0, 1000), [...input]);
    assert.deepEqual(out.slice(1000), new Array(120).fill(0xff));
    assert.equal(pacer.stats().framesPadded, 1);
  });

  test('a mark is echoed when the audio queued before it has played (its last frame’s 20 ms have passed)', () => {
    const { pacer, clock, frames, marks } = setup();
    pacer.enqueue(framesOf(3));
    pacer.mark('a');
    pacer.enqueue(framesOf(2, 4));
    pacer.mark('b');
    clock.advance(500);
    assert.deepEqual(marks, [
      { at: 60, name: 'a', outcome: 'played' },
      { at: 100, name: 'b', outcome: 'played' },
    ]);
    assert.deepEqual(
      frames.map((f) => f.at),
      [0, 20, 40, 60, 80],
    );
    // Nothing queued and nothing playing: echoed at once.
    pacer.mark('now');
    assert.deepEqual(marks.at(-1), { at: 500, name: 'now', outcome: 'played' });
  });

  test('a mark after a partial frame pads it, so the mark follows exactly that audio', () => {
    const { pacer, clock, frames, marks } = setup();
    pacer.enqueue(new Uint8Array(100).fill(9));
    pacer.mark('m');
    pacer.enqueue(new Uint8Array(FB).fill(8));
    clock.advance(100);
    assert.deepEqual(
      frames.map((f) => [f.bytes[0], f.bytes[99], f.bytes[100], f.bytes[159]]),
      [
        [9, 9, 0xff, 0xff],
        [8, 8, 8, 8],
      ],
    );
    assert.deepEqual(marks, [{ at: 20, name: 'm', outcome: 'played' }]);
  });

  test('clear drops the queue at once and echoes every pending mark as cleared, in order', () => {
    const { pacer, clock, frames, marks } = setup();
    pacer.enqueue(framesOf(50));
    pacer.mark('a');
    pacer.enqueue(framesOf(10));
    pacer.mark('b');
    clock.advance(90);
    assert.equal(frames.length, 5);
    pacer.clear();
    assert.deepEqual(marks, [
      { at: 90, name: 'a', outcome: 'cleared' },
      { at: 90, name: 'b', outcome: 'cleared' },
    ]);
    assert.equal(pacer.queuedMs, 0);
    clock.advance(1000);
    assert.equal(frames.length, 5, 'no frame after the clear');
    assert.equal(clock.pending, 0);
    // It goes on working: new audio, new mark.
    pacer.enqueue(framesOf(1, 77));
    pacer.mark('c');
    clock.advance(100);
    assert.deepEqual(frames.at(-1)!.bytes[0], 77);
    assert.deepEqual(marks.at(-1), { at: 1110, name: 'c', outcome: 'played' });
  });

  test('the queue is bounded in seconds: more is refused whole with PacerOverflowError', () => {
    const { pacer, clock, frames } = setup({ maxQueueMs: 200 });
    pacer.enqueue(framesOf(9));
    assert.throws(() => pacer.enqueue(framesOf(2)), PacerOverflowError);
    assert.throws(
      () => pacer.enqueue(framesOf(2)),
      /audio queue full: 180 ms queued, 40 ms more would pass the 200 ms limit/,
    );
    assert.equal(pacer.queuedMs, 180, 'nothing of the refused chunk was queued');
    pacer.enqueue(framesOf(1, 10));
    clock.advance(40);
    pacer.enqueue(framesOf(2, 11));
    clock.advance(1000);
    assert.deepEqual(
      frames.map((f) => f.bytes[0]),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    const marks = setup({ maxPendingMarks: 2 }).pacer;
    marks.enqueue(framesOf(5));
    marks.mark('1');
    marks.mark('2');
    assert.throws(
      () => marks.mark('3'),
      (err: unknown) => err instanceof PacerOverflowError && err.code === 'PACER_OVERFLOW',
    );
  });

  test('a 45 ms stall is caught up with a burst on the same schedule; a 300 ms stall moves the schedule, dropping nothing', () => {
    const { pacer, clock, frames } = setup();
    pacer.enqueue(framesOf(100));
    clock.advance(110); // frames at 0…100
    clock.stall(45); // 155: ticks 120 and 140 missed
    clock.advance(0);
    assert.deepEqual(
      frames.slice(6).map((f) => f.at),
      [155, 155],
    );
    clock.advance(30); // back on schedule: 160, 180
    assert.deepEqual(
      frames.slice(8).map((f) => f.at),
      [160, 180],
    );
    assert.equal(pacer.stats().framesLate, 1);
    clock.stall(300); // 485: 15 ticks missed
    clock.advance(0);
    const burst = frames.filter((f) => f.at === 485).length;
    assert.equal(burst, 3, 'one frame plus two catching up');
    clock.advance(5000);
    assert.equal(frames.length, 100, 'every frame played');
    assert.deepEqual(
      frames.map((f) => f.bytes[0]),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const after = frames.filter((f) => f.at > 485).map((f) => f.at);
    assert.ok(
      after.every((t, i) => i === 0 || t - after[i - 1]! === 20),
      'steady 20 ms after the stall',
    );
    assert.equal(pacer.stats().stalls, 1);
  });

  test('close stops the timer and refuses more', () => {
    const { pacer, clock, frames, marks } = setup();
    pacer.enqueue(framesOf(10));
    pacer.mark('x');
    clock.advance(30);
    pacer.close();
    clock.advance(1000);
    assert.equal(frames.length, 2);
    assert.deepEqual(marks, []);
    assert.equal(clock.pending, 0);
    assert.throws(() => pacer.enqueue(framesOf(1)), /closed/);
  });

  test('a real-time source: a backlog of a frame left by one burst drains within 200 ms; speech sent ahead does not', () => {
    const { pacer, clock, frames } = setup();
    const enqueuedAt = new Map<number, number>();
    let n = 1;
    const push = () => {
      enqueuedAt.set(n, clock.now());
      pacer.enqueue(framesOf(1, n));
      n++;
    };
    // Two frames at once (network jitter), then one every 20 ms, 5 ms after each tick: one frame always waits.
    push();
    push();
    for (let i = 0; i < 60; i++) {
      clock.advance(5);
      push();
      clock.advance(15);
    }
    clock.advance(100);
    const waited = frames.map((f) => f.at - (enqueuedAt.get(f.bytes[0]!) ?? Number.NaN));
    assert.ok(
      waited.slice(5, 20).every((w) => w >= 15),
      `before the drain every frame waits a tick: ${waited.slice(5, 20)}`,
    );
    assert.ok(
      waited.slice(40, 60).every((w) => w < 16),
      `after it none waits more than its phase: ${waited.slice(40, 60)}`,
    );
    assert.equal(pacer.stats().framesDrained, 1);
    assert.equal(frames.length, 62, 'nothing lost');

    // Speech sent seconds ahead keeps its queue: no drain.
    const ahead = setup();
    ahead.pacer.enqueue(framesOf(100));
    ahead.clock.advance(990);
    assert.equal(ahead.pacer.stats().framesDrained, 0);
    assert.equal(ahead.frames.length, 50, 'one frame per 20 ms');
  });

  test('a real-time source behind by 40 frames (a stall its messages sat out) catches up within 10 s, nothing lost', () => {
    const { pacer, clock, frames } = setup();
    let n = 1;
    // 41 frames arrive at once (the socket's backlog after an 800 ms stall), then one every 20 ms.
    pacer.enqueue(framesOf(41, n));
    n += 41;
    for (let i = 0; i < 500; i++) {
      clock.advance(5);
      pacer.enqueue(framesOf(1, n++));
      clock.advance(15);
    }
    assert.ok(pacer.queuedMs <= 40, `the backlog is gone: ${pacer.queuedMs} ms queued`);
    assert.ok(pacer.stats().framesDrained >= 39, `drained ${pacer.stats().framesDrained}`);
    clock.advance(200);
    assert.equal(frames.length, 541, 'every frame played');
  });

  test('speech streamed faster than real time (two frames per tick) is not drained', () => {
    const { pacer, clock, frames } = setup();
    let n = 1;
    for (let i = 0; i < 25; i++) {
      clock.advance(5);
      pacer.enqueue(framesOf(2, n));
      n += 2;
      clock.advance(15);
    }
    assert.equal(pacer.stats().framesDrained, 0);
    assert.equal(frames.length, 25, 'one frame per 20 ms');
  });
});
