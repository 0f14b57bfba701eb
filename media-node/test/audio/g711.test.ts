import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ALAW_TO_LINEAR,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  ULAW_TO_LINEAR,
} from '../../src/audio/g711.js';
import { sineFit, tone } from './signal.js';

// The reference below is built a different way from the module: from G.711's decision levels, listed per
// segment (where each segment starts and its step), and a search for the interval a magnitude falls in.

/** Decision thresholds on the magnitude: level k covers [t[k-1], t[k]). */
function thresholds(segments: { from: number; step: number; levels: number }[]): number[] {
  const t: number[] = [];
  for (const s of segments) for (let i = 0; i < s.levels; i++) t.push(s.from + i * s.step);
  return t.slice(1); // level 0 starts at 0
}

// μ-law on the 14-bit magnitude: level 0 is [0, 1), then 15 steps of 2 up to 31, 16 of 4 up to 95, …
const ULAW_LEVELS = thresholds([
  { from: 0, step: 1, levels: 1 },
  { from: 1, step: 2, levels: 15 },
  ...[1, 2, 3, 4, 5, 6, 7].map((s) => ({ from: 32 * 2 ** s - 33, step: 2 ** (s + 1), levels: 16 })),
]);
// A-law on the 13-bit magnitude: 32 steps of 2 up to 64 (segments 0 and 1), then 16 steps per doubling.
const ALAW_LEVELS = thresholds([
  { from: 0, step: 2, levels: 32 },
  ...[2, 3, 4, 5, 6, 7].map((s) => ({ from: 16 * 2 ** s, step: 2 ** (s - 1) * 2, levels: 16 })),
]);

function level(levels: number[], magnitude: number): number {
  let k = 0;
  while (k < levels.length && levels[k]! <= magnitude) k++;
  return k;
}

function refUlaw(x: number): number {
  const m = (x < 0 ? ~x : x) >> 2;
  return ~((x < 0 ? 0x80 : 0) | level(ULAW_LEVELS, m)) & 0xff;
}

function refAlaw(x: number): number {
  const m = (x < 0 ? ~x : x) >> 3;
  return ((x < 0 ? 0 : 0x80) | level(ALAW_LEVELS, m)) ^ 0x55;
}

describe('G.711', () => {
  test('the decision-level tables have 128 levels per sign and end at the codecs’ full scale', () => {
    assert.equal(ULAW_LEVELS.length, 127);
    assert.equal(ULAW_LEVELS.at(-1), 8159 - 256);
    assert.equal(ALAW_LEVELS.length, 127);
    assert.equal(ALAW_LEVELS.at(-1), 4096 - 128);
  });

  test('μ-law and A-law encode every 16-bit sample as the decision-level reference does', () => {
    const uMismatch: string[] = [];
    const aMismatch: string[] = [];
    for (let x = -32768; x <= 32767; x++) {
      if (linearToUlaw(x) !== refUlaw(x)) uMismatch.push(`${x}: ${linearToUlaw(x)} ≠ ${refUlaw(x)}`);
      if (linearToAlaw(x) !== refAlaw(x)) aMismatch.push(`${x}: ${linearToAlaw(x)} ≠ ${refAlaw(x)}`);
    }
    assert.deepEqual(uMismatch.slice(0, 5), []);
    assert.deepEqual(aMismatch.slice(0, 5), []);
  });

  test('decoding gives the middle of each quantization interval (×4 μ-law, ×8 A-law), ±0 and full scale', () => {
    const uBounds = [0, ...ULAW_LEVELS, 8159];
    const aBounds = [0, ...ALAW_LEVELS, 4096];
    for (let k = 1; k < 128; k++) {
      const mid = (uBounds[k]! + uBounds[k + 1]!) / 2;
      assert.equal(ULAW_TO_LINEAR[(~k & 0x7f) | 0x80], 4 * mid, `μ-law level ${k}`);
      assert.equal(ULAW_TO_LINEAR[~k & 0x7f], -4 * mid, `μ-law level −${k}`);
    }
    for (let k = 0; k < 128; k++) {
      const mid = (aBounds[k]! + aBounds[k + 1]!) / 2;
      assert.equal(ALAW_TO_LINEAR[(0x80 | k) ^ 0x55], 8 * mid, `A-law level ${k}`);
      assert.equal(ALAW_TO_LINEAR[k ^ 0x55], -8 * mid, `A-law level −${k}`);
    }
    // Well-known points: silence and full scale of each law.
    assert.deepEqual(
      [ULAW_TO_LINEAR[0xff], ULAW_TO_LINEAR[0x7f], ULAW_TO_LINEAR[0x80], ULAW_TO_LINEAR[0x00]],
      [0, 0, 32124, -32124],
    );
    assert.deepEqual(
      [ALAW_TO_LINEAR[0xd5], ALAW_TO_LINEAR[0x55], ALAW_TO_LINEAR[0xaa], ALAW_TO_LINEAR[0x2a]],
      [8, -8, 32256, -32256],
    );
    assert.equal(linearToUlaw(0), 0xff);
    assert.equal(linearToAlaw(0), 0xd5);
  });

  test('decode then encode returns every code (μ-law’s negative zero 0x7F becomes 0xFF)', () => {
    for (let c = 0; c < 256; c++) {
      assert.equal(linearToUlaw(ULAW_TO_LINEAR[c]!), c === 0x7f ? 0xff : c, `μ-law ${c}`);
      assert.equal(linearToAlaw(ALAW_TO_LINEAR[c]!), c, `A-law ${c}`);
    }
  });

  test('quantization error stays within half a step (+1 LSB on the negative side), clipping beyond full scale', () => {
    for (let x = -32768; x <= 32767; x++) {
      for (const [name, enc, dec, bounds, scale] of [
        ['μ-law', linearToUlaw, ULAW_TO_LINEAR, [0, ...ULAW_LEVELS, 8159], 4],
        ['A-law', linearToAlaw, ALAW_TO_LINEAR, [0, ...ALAW_LEVELS, 4096], 8],
      ] as const) {
        const y = dec[enc(x)]!;
        const magnitude = Math.abs(x);
        if (magnitude >= bounds[128]! * scale) {
          assert.equal(Math.abs(y), dec[enc(32767)], `${name} ${x} clips to full scale`);
          continue;
        }
        let k = 0;
        while (bounds[k + 1]! * scale <= magnitude) k++;
        const halfStep = ((bounds[k + 1]! - bounds[k]!) * scale) / 2;
        assert.ok(Math.abs(x - y) <= halfStep + scale, `${name} ${x} → ${y}: error above ${halfStep}`);
      }
    }
  });

  test('buffer codecs: whole arrays, into a given output, from a view with an offset', () => {
    const pcm = new Int16Array([0, 1000, -1000, 32767, -32768, 12345]);
    const u = encodeUlaw(pcm);
    const a = encodeAlaw(pcm);
    assert.deepEqual([...u], [...pcm].map(linearToUlaw));
    assert.deepEqual([...a], [...pcm].map(linearToAlaw));
    assert.deepEqual(
      [...decodeUlaw(u)],
      [...u].map((c) => ULAW_TO_LINEAR[c]),
    );
    assert.deepEqual(
      [...decodeAlaw(a)],
      [...a].map((c) => ALAW_TO_LINEAR[c]),
    );

    const out = new Int16Array(10).fill(7);
    const view = new Uint8Array([9, 9, ...u]).subarray(2);
    assert.equal(decodeUlaw(view, out), out);
    assert.deepEqual([...out], [...decodeUlaw(u), 7, 7, 7, 7]);
    assert.throws(() => encodeUlaw(pcm, new Uint8Array(3)), RangeError);
    assert.throws(() => decodeAlaw(a, new Int16Array(2)), RangeError);
  });

  test('a 1 kHz tone at −6 dBFS keeps a signal-to-quantization-noise ratio ≥ 35 dB in both laws', () => {
    const x = tone(8000, 1000, 16000, 8000, 0.3);
    for (const [name, y] of [
      ['μ-law', decodeUlaw(encodeUlaw(x))],
      ['A-law', decodeAlaw(encodeAlaw(x))],
    ] as const) {
      const fit = sineFit(y, 8000, 1000);
      assert.ok(fit.snrDb >= 35, `${name}: SNR ${fit.snrDb.toFixed(1)} dB`);
      assert.ok(Math.abs(fit.amplitude / 16000 - 1) < 0.01, `${name}: amplitude ${fit.amplitude.toFixed(0)}`);
    }
  });
});
