import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeUlaw, encodeUlaw } from '../../src/audio/g711.js';
import { JitterBuffer, type JitterBufferOptions } from '../../src/audio/jitter-buffer.js';
import { int16ToBe } from '../../src/audio/l16.js';

// Frames are L16 at 8 kHz whose samples all hold one value, so each popped frame says which packet it came
// from. Arrivals and pops run on a simulated clock: pops every 20 ms at 10, 30, 50 … ms.

interface Arrival {
  at: number;
  seq: number;
  ts: number;
  value: number;
}

function payload(value: number, frames = 1): Uint8Array {
  return int16ToBe(new Int16Array(160 * frames).fill(value));
}

/** A steady stream: packet i (value i + 1) sent at 20·i ms, arriving after `delay(i)` ms. */
function stream(
  count: number,
  o: { seq0?: number; ts0?: number; delay?: (i: number) => number; drop?: (i: number) => boolean } = {},
) {
  const out: Arrival[] = [];
  for (let i = 0; i < count; i++) {
    if (o.drop?.(i)) continue;
    out.push({
      at: 20 * i + (o.delay?.(i) ?? 0),
      seq: ((o.seq0 ?? 1000) + i) & 0xffff,
      ts: ((o.ts0 ?? 5000) + 160 * i) % 2 ** 32,
      value: i + 1,
    });
  }
  return out;
}

type Popped = { kind: string; value: number; ts: number } | undefined;

function simulate(jb: JitterBuffer, arrivals: Arrival[], pops: number, results: string[] = []): Popped[] {
  const queue = [...arrivals].sort((a, b) => a.at - b.at);
  const popped: Popped[] = [];
  for (let k = 0; k < pops; k++) {
    const t = 10 + 20 * k;
    while (queue.length && queue[0]!.at <= t) {
      const a = queue.shift()!;
      results.push(jb.insert(a.seq, a.ts, payload(a.value), a.at));
    }
    const f = jb.pop();
    popped.push(f && { kind: f.kind, value: f.samples[0]!, ts: f.timestamp });
  }
  return popped;
}

const l16 = (o: JitterBufferOptions = {}) => new JitterBuffer({ codec: 'l16', ...o });
const values = (p: Popped[]) => p.map((f) => (f ? `${f.kind[0]}${f.value}` : '-'));

describe('JitterBuffer', () => {
  test('a steady stream: 40 ms pre-roll, then every frame in order, nothing lost or concealed', () => {
    const jb = l16();
    const popped = simulate(jb, stream(10), 11);
    assert.deepEqual(values(popped), ['-', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10']);
    assert.equal(popped[1]!.ts, 5000);
    assert.equal(popped[2]!.ts, 5160);
    const s = jb.stats();
    assert.deepEqual([s.received, s.lost, s.late, s.duplicates, s.concealed, s.silence], [10, 0, 0, 0, 0, 0]);
    assert.equal(s.targetMs, 40);
  });

  test('reordering within the cushion is undone; duplicates are dropped, also after their frame played', () => {
    const jb = l16({ targetMs: 60 });
    const a = stream(8);
    [a[2]!.at, a[3]!.at] = [a[3]!.at + 1, a[2]!.at]; // 3 arrives before 2
    a.push({ ...a[4]!, at: a[4]!.at + 1 }, { ...a[1]!, at: 150 });
    const results: string[] = [];
    const popped = simulate(jb, a, 10, results);
    assert.deepEqual(values(popped), ['-', '-', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']);
    assert.equal(results.filter((r) => r === 'duplicate').length, 2);
    const s = jb.stats();
    assert.deepEqual([s.received, s.duplicates, s.lost, s.late, s.concealed], [8, 2, 0, 0, 0]);
  });

  test('a packet after its turn is late and dropped; its frame was concealed', () => {
    const jb = l16();
    const popped = simulate(jb, stream(8, { delay: (i) => (i === 4 ? 45 : 0) }), 9);
    assert.deepEqual(values(popped), ['-', 'a1', 'a2', 'a3', 'a4', 'c2', 'a6', 'a7', 'a8']);
    const s = jb.stats();
    assert.deepEqual([s.received, s.late, s.lost, s.concealed], [7, 1, 0, 1]);
  });

  test('loss concealment: the last frame at −6, −12, −18 dB, then silence; stats count the losses', () => {
    const jb = l16();
    const a = stream(12, { drop: (i) => i >= 3 && i <= 7 }).map((p) => ({ ...p, value: 8000 }));
    const popped = simulate(jb, a, 13);
    assert.deepEqual(values(popped), [
      '-',
      'a8000',
      'a8000',
      'a8000',
      'c4000',
      'c2000',
      'c1000',
      's0',
      's0',
      'a8000',
      'a8000',
      'a8000',
      'a8000',
    ]);
    const s = jb.stats();
    assert.deepEqual([s.received, s.lost, s.concealed, s.silence], [7, 5, 3, 2]);
  });

  test('sequence number and timestamp wraparound (separately and together) keep order and loss counts', () => {
    for (const [seq0, ts0] of [
      [65530, 5000],
      [100, 2 ** 32 - 3 * 160],
      [65533, 2 ** 32 - 2 * 160 - 17],
    ] as const) {
      const jb = l16();
      const a = stream(12, { seq0, ts0, drop: (i) => i === 7 });
      // Reordered pairs around each wrap (sequence numbers wrap at i = 6 or 3, timestamps at i = 3).
      [a[2]!.at, a[3]!.at] = [a[3]!.at, a[2]!.at - 1];
      [a[5]!.at, a[6]!.at] = [a[6]!.at, a[5]!.at - 1];
      const popped = simulate(jb, a, 13);
      assert.deepEqual(
        values(popped),
        ['-', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'c3', 'a9', 'a10', 'a11', 'a12'],
        `seq0 ${seq0} ts0 ${ts0}`,
      );
      assert.deepEqual(
        popped.slice(1).map((f) => f!.ts),
        Array.from({ length: 12 }, (_, i) => (ts0 + 160 * i) % 2 ** 32),
      );
      const s = jb.stats();
      assert.deepEqual([s.received, s.lost, s.late, s.duplicates, s.resyncs], [11, 1, 0, 0, 0], `seq0 ${seq0}`);
    }
  });

  test('a delay spike empties the buffer: the next packet re-anchors, nothing after it is late, the delay shrinks back', () => {
    const jb = l16();
    // Packets 10–14 are held 100 ms and arrive in a burst; 4 s of stream in all.
    const a = stream(200, { delay: (i) => (i >= 10 && i <= 14 ? 100 - 20 * (i - 10) : 0) });
    const popped = simulate(jb, a, 201);
    const s = jb.stats();
    assert.equal(s.late, 0, 'nothing dropped as late');
    assert.equal(s.resyncs, 1);
    assert.equal(s.lost, 0);
    // Every packet played exactly once, in order, with a short concealment while the buffer was dry.
    const played = popped.filter((f) => f?.kind === 'audio').map((f) => f!.value);
    assert.deepEqual(
      played,
      [...new Set(played)].sort((x, y) => x - y),
    );
    assert.equal(played.length + s.discarded, 200, `${played.length} played, ${s.discarded} discarded`);
    // The spike added 100 ms (5 frames); one frame is taken out per half second above the target.
    assert.equal(s.discarded, 5, 'the extra delay is taken out again');
    const lastPlayed = popped.findIndex((f) => f?.value === 200);
    // Before the spike a packet played 30 ms after it was sent (pops fall 10 ms after arrivals); so again at the end.
    assert.equal(10 + 20 * popped.findIndex((f) => f?.value === 10), 210);
    assert.equal(10 + 20 * lastPlayed, 4010, 'the last packet (sent at 3980 ms) plays 30 ms after sending again');
  });

  test('silence suppression: after a gap in timestamps the talkspurt plays after the cushion, not the gap', () => {
    const jb = l16();
    const a = stream(20);
    // Packets 10… come 1 s later in time and timestamp (the sender was silent), sequence numbers contiguous.
    for (const p of a.slice(10)) {
      p.at += 1000;
      p.ts += 8000;
    }
    const popped = simulate(jb, a, 71); // up to the last packet's turn
    assert.equal(popped.at(-1)?.value, 20);
    const firstAfter = popped.findIndex((f) => f?.value === 11);
    // Arrives at 1200 ms; played at the second pop after it (1210 would be 0 ms of cushion; 1230 is 20).
    assert.equal(10 + 20 * firstAfter, 1230);
    const s = jb.stats();
    assert.deepEqual([s.lost, s.late, s.resyncs], [0, 0, 0]);
    assert.equal(s.concealed, 3);
  });

  test('a timestamp jump far ahead while audio is buffered continues right after it', () => {
    const jb = l16({ targetMs: 60 });
    const a = stream(20);
    for (const p of a.slice(10)) p.ts += 160 * 10_000;
    const popped = simulate(jb, a, 22);
    assert.deepEqual(
      values(popped).slice(2),
      Array.from({ length: 20 }, (_, i) => `a${i + 1}`),
    );
    assert.equal(jb.stats().resyncs, 1);
  });

  test('a sender clock 1 % fast: the delay stays bounded, about 1 % of frames are dropped, none late', () => {
    const jb = l16();
    const a = stream(3000).map((p, i) => ({ ...p, at: i * 19.8 }));
    simulate(jb, a, 2980);
    const s = jb.stats();
    assert.equal(s.late, 0);
    assert.ok(s.discarded >= 20 && s.discarded <= 40, `discarded ${s.discarded} of 3000`);
    assert.ok(s.depthMs <= 60, `depth ${s.depthMs} ms`);
  });

  test('a sender clock 1 % slow: underruns are concealed and re-anchored, never dropped as late', () => {
    const jb = l16();
    const a = stream(2000).map((p, i) => ({ ...p, at: i * 20.2 }));
    const popped = simulate(jb, a, 2050);
    const s = jb.stats();
    assert.equal(s.late, 0);
    assert.equal(popped.filter((f) => f?.kind === 'audio').length, 2000);
    assert.ok(s.concealed >= 15 && s.concealed <= 25, `concealed ${s.concealed}`);
  });

  test('adaptive depth follows delay spikes: a fixed 40 ms drops every 60 ms spike as late, adaptive stops that', () => {
    const run = (adaptive: boolean) => {
      const jb = l16({ adaptive });
      // Every 25th packet is held 60 ms (its neighbours are on time), for 30 s.
      simulate(jb, stream(1500, { delay: (i) => (i % 25 === 7 ? 60 : 0) }), 1510);
      return jb.stats();
    };
    const fixed = run(false);
    const adaptive = run(true);
    assert.equal(fixed.late, 60, `fixed 40 ms: ${fixed.late} late`);
    assert.ok(adaptive.late <= 1, `adaptive: ${adaptive.late} late`);
    assert.equal(adaptive.targetMs, 80, 'one frame plus 60 ms rounded up to frames');
    assert.ok(adaptive.stretched >= 1 && adaptive.stretched <= 3, `stretched ${adaptive.stretched}`);
    assert.equal(fixed.targetMs, 40);
  });

  test('adaptive target decays back after the spikes stop', () => {
    const jb = l16({ adaptive: true });
    simulate(jb, stream(1500, { delay: (i) => (i < 100 && i % 25 === 7 ? 100 : 0) }), 1510);
    const s = jb.stats();
    assert.equal(s.targetMs, 40, `target ${s.targetMs} ms 28 s after the last spike`);
    assert.ok(s.depthMs <= 40, `depth ${s.depthMs} ms`);
  });

  test('G.711 payloads are decoded; frames of 40 ms split; other sizes are malformed', () => {
    const jb = new JitterBuffer({ codec: 'pcmu', targetMs: 20 });
    const pcm = new Int16Array(320);
    for (let i = 0; i < pcm.length; i++) pcm[i] = (i * 97) % 20000;
    assert.equal(jb.insert(1, 0, encodeUlaw(pcm), 0), 'stored');
    const expected = decodeUlaw(encodeUlaw(pcm));
    assert.deepEqual(jb.pop()!.samples, expected.subarray(0, 160));
    assert.deepEqual(jb.pop()!.samples, expected.subarray(160));
    assert.equal(jb.insert(2, 320, new Uint8Array(100), 40), 'malformed');
    assert.equal(jb.stats().malformed, 1);
    assert.equal(l16().pop(), undefined, 'nothing before the first packet');
  });
});
