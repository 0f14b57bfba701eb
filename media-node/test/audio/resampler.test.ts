import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Resampler, SAMPLE_RATES, type SampleRate } from '../../src/audio/resampler.js';
import { concat, db, noise, peakFrequency, sineFit, tone, toneAmplitude } from './signal.js';

const A = 16000; // −6 dBFS test tones

/** Feeds `x` through a fresh resampler in chunks of `chunk` samples (20 ms by default); returns all output. */
function run(from: SampleRate, to: SampleRate, x: Int16Array, chunk = from / 50): Int16Array {
  const r = new Resampler(from, to);
  const out: Int16Array[] = [];
  for (let i = 0; i < x.length; i += chunk) out.push(r.process(x.subarray(i, Math.min(x.length, i + chunk))));
  return concat(out);
}

/** The output after the filter's start-up transient (the first 100 ms). */
const settled = (y: Int16Array, rate: number) => y.subarray(rate / 10);

const PAIRS = SAMPLE_RATES.flatMap((a) => SAMPLE_RATES.filter((b) => b !== a).map((b) => [a, b] as const));

describe('Resampler', () => {
  test('a 1 kHz tone through 8 → 16 → 8 kHz, 20 ms frames, keeps its frequency (±1 Hz) and amplitude (±0.05 dB)', () => {
    const x = tone(8000, 1000, A, 8000);
    const up = run(8000, 16000, x);
    const back = run(16000, 8000, up);
    assert.equal(up.length, 16000);
    assert.equal(back.length, 8000);
    for (const [rate, y] of [
      [16000, settled(up, 16000)],
      [8000, settled(back, 8000)],
    ] as const) {
      const fit = sineFit(y, rate, 1000);
      assert.ok(Math.abs(db(fit.amplitude / A)) <= 0.05, `${rate} Hz: amplitude ${fit.amplitude.toFixed(1)}`);
      // Residual (filter images, rounding) well below the tone: measured ≈ 76 dB at 16 kHz, ≈ 90 dB after both.
      assert.ok(fit.snrDb >= 60, `${rate} Hz: tone-to-residual ${fit.snrDb.toFixed(1)} dB`);
      assert.equal(peakFrequency(y, rate, 950, 1050, 1), 1000, `${rate} Hz: peak frequency`);
    }
    // The upsampler's image of 1 kHz at 16 − … = 7 kHz is suppressed (measured ≈ −76 dB).
    const image = db(toneAmplitude(settled(up, 16000), 16000, 7000) / A);
    assert.ok(image <= -55, `image at 7 kHz: ${image.toFixed(1)} dB`);
  });

  test('every rate pair passes 1 kHz within ±0.05 dB and turns 20 ms frames into 20 ms frames', () => {
    for (const [from, to] of PAIRS) {
      const r = new Resampler(from, to);
      assert.equal(r.outputLength(from / 50), to / 50, `${from} → ${to}`);
      const y = run(from, to, tone(from, 1000, A, from));
      assert.equal(y.length, to, `${from} → ${to}: one second in, one second out`);
      const fit = sineFit(settled(y, to), to, 1000);
      assert.ok(Math.abs(db(fit.amplitude / A)) <= 0.05, `${from} → ${to}: ${db(fit.amplitude / A).toFixed(3)} dB`);
      assert.ok(fit.snrDb >= 60, `${from} → ${to}: tone-to-residual ${fit.snrDb.toFixed(1)} dB`);
    }
  });

  test('24 → 8 kHz: the passband to 3.4 kHz is flat, 3.5 kHz is kept in place, tones above 4.4 kHz are ≥ 55 dB down', () => {
    const through = (hz: number, at: number) =>
      db(toneAmplitude(settled(run(24000, 8000, tone(24000, hz, A, 24000)), 8000), 8000, at) / A);
    for (const hz of [300, 1000, 2000, 3000, 3400]) {
      const gain = through(hz, hz);
      assert.ok(Math.abs(gain) <= 0.1, `${hz} Hz: ${gain.toFixed(2)} dB`);
    }
    // 3.5 kHz is below the 4 kHz Nyquist frequency, at the edge of the transition band: measured −0.17 dB.
    const edge = through(3500, 3500);
    assert.ok(edge <= -0.05 && edge >= -1, `3.5 kHz: ${edge.toFixed(2)} dB`);
    // Above 4 kHz a tone would fold back to 8 − f: 6 kHz → 2 kHz (must be ≥ 40 dB down; measured ≈ −78 dB),
    // 4.5 kHz → 3.5 kHz, 10 kHz → 2 kHz.
    for (const [hz, alias] of [
      [6000, 2000],
      [4500, 3500],
      [10000, 2000],
      [4400, 3600],
    ] as const) {
      const leak = through(hz, alias);
      assert.ok(leak <= -55, `${hz} Hz folds to ${alias} Hz at ${leak.toFixed(1)} dB (design: ≥ 55 dB)`);
    }
  });

  test('48 → 8 kHz and 16 → 8 kHz suppress what would alias (≥ 55 dB)', () => {
    for (const [from, hz, alias] of [
      [48000, 7000, 1000],
      [48000, 20000, 4000],
      [16000, 5000, 3000],
      [16000, 7500, 500],
    ] as const) {
      const y = settled(run(from, 8000, tone(from, hz, A, from)), 8000);
      const leak = db(toneAmplitude(y, 8000, alias) / A);
      assert.ok(leak <= -55, `${from} Hz: ${hz} Hz folds to ${alias} Hz at ${leak.toFixed(1)} dB`);
    }
  });

  test('upsampling 8 → 48 kHz leaves the images of a 3 kHz tone ≥ 55 dB down', () => {
    const y = settled(run(8000, 48000, tone(8000, 3000, A, 8000)), 48000);
    assert.ok(Math.abs(db(toneAmplitude(y, 48000, 3000) / A)) < 0.05);
    for (const image of [5000, 11000, 13000, 19000, 21000]) {
      const level = db(toneAmplitude(y, 48000, image) / A);
      assert.ok(level <= -55, `image at ${image} Hz: ${level.toFixed(1)} dB`);
    }
  });

  test('frame by frame, in odd chunks or whole: the same samples (no clicks at frame edges)', () => {
    const x = noise(24000, 20000, 7);
    for (const [from, to] of PAIRS) {
      const input = x.subarray(0, from / 2); // 0.5 s
      const whole = run(from, to, input, input.length);
      const frames = run(from, to, input);
      assert.deepEqual(frames, whole, `${from} → ${to}: 20 ms frames`);
      // Irregular chunk sizes, including 1 sample, exercise the carried phase.
      const r = new Resampler(from, to);
      const parts: Int16Array[] = [];
      const sizes = [1, 7, 333, 2, 160, 59];
      for (let i = 0, k = 0; i < input.length; k++) {
        const n = Math.min(sizes[k % sizes.length]!, input.length - i);
        parts.push(r.process(input.subarray(i, i + n)));
        i += n;
      }
      assert.deepEqual(concat(parts), whole, `${from} → ${to}: odd chunks`);
    }
  });

  test('a constant passes unchanged after the start-up transient (each polyphase branch has unity gain)', () => {
    for (const [from, to] of PAIRS) {
      const y = settled(run(from, to, new Int16Array(from / 2).fill(-12345)), to);
      assert.ok(
        y.every((v) => v === -12345),
        `${from} → ${to}: ${[...new Set(y)].slice(0, 5)}`,
      );
    }
  });

  test('full-scale input saturates instead of wrapping', () => {
    // A full-scale square wave overshoots in the filter (Gibbs); the output must clamp, not wrap sign.
    const x = new Int16Array(1600);
    for (let i = 0; i < x.length; i++) x[i] = (i >> 3) % 2 ? -32768 : 32767;
    const y = settled(run(8000, 16000, x), 16000);
    let wrapped = 0;
    for (let i = 1; i < y.length; i++) if (Math.abs(y[i]! - y[i - 1]!) > 40000) wrapped++;
    assert.equal(wrapped, 0);
    assert.ok(y.includes(32767) && y.includes(-32768), 'the overshoot reached the clamp');
  });

  test('into a caller’s buffer without allocating, reset, and refused rates', () => {
    const r = new Resampler(16000, 24000);
    const out = new Int16Array(1000);
    const x = tone(16000, 440, A, 320);
    const y = r.process(x, out);
    assert.equal(y.buffer, out.buffer);
    assert.equal(y.length, 480);
    assert.throws(() => r.process(x, new Int16Array(10)), RangeError);
    r.reset();
    assert.deepEqual(r.process(x), new Resampler(16000, 24000).process(x));
    assert.throws(() => new Resampler(8000, 44100 as SampleRate), /rates must be one of/);
    const same = new Resampler(16000, 16000);
    assert.deepEqual(same.process(x), x);
    assert.ok(new Resampler(8000, 16000).delaySamples < 40, 'the filter delay stays below 2.5 ms');
  });
});
