import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Mixer } from '../../src/audio/mixer.js';
import { concat, db, noise, tone, toneAmplitude } from './signal.js';

const RATE = 8000;
const N = 160;
const FREQS = [400, 650, 900, 1150, 1400];
const AMP = 3000;

/** Runs `frames` ticks; participant k says tone k (unless `silent`); returns what each one heard. */
function conference(
  setup: (m: Mixer) => void,
  frames = 50,
  speaking: (id: string) => boolean = () => true,
): Map<string, Int16Array> {
  const m = new Mixer(N);
  for (let k = 0; k < FREQS.length; k++) m.add(`p${k}`);
  setup(m);
  const signals = FREQS.map((f) => tone(RATE, f, AMP, N * frames));
  const heard = new Map<string, Int16Array[]>(FREQS.map((_, k) => [`p${k}`, []]));
  for (let t = 0; t < frames; t++) {
    FREQS.forEach((_, k) => {
      if (speaking(`p${k}`)) m.get(`p${k}`)!.put(signals[k]!.subarray(t * N, (t + 1) * N));
    });
    m.mix();
    for (const [id, chunks] of heard) chunks.push(m.get(id)!.output.slice());
  }
  return new Map([...heard].map(([id, chunks]) => [id, concat(chunks)]));
}

/** Level of each participant's tone in `x`, in dB relative to the tone's own amplitude. */
const levels = (x: Int16Array) => FREQS.map((f) => db(toneAmplitude(x, RATE, f) / AMP));

describe('Mixer', () => {
  test('each participant hears every other tone at full level (±0.1 dB) and not its own (≤ −80 dB)', () => {
    const heard = conference(() => undefined);
    FREQS.forEach((_, k) => {
      levels(heard.get(`p${k}`)!).forEach((level, j) => {
        if (j === k) assert.ok(level <= -80, `p${k} hears itself at ${level.toFixed(1)} dB`);
        else assert.ok(Math.abs(level) <= 0.1, `p${k} hears p${j} at ${level.toFixed(2)} dB`);
      });
    });
  });

  test('outputs equal a straightforward sum of the others, saturated, for random loud input', () => {
    const m = new Mixer(N);
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) m.add(id);
    const inputs = ids.map((_, i) => noise(N, 30000, i + 1));
    ids.forEach((id, i) => {
      m.get(id)!.put(inputs[i]!);
    });
    m.mix();
    ids.forEach((id, i) => {
      const expected = new Int16Array(N);
      for (let s = 0; s < N; s++) {
        let sum = 0;
        for (let j = 0; j < ids.length; j++) if (j !== i) sum += inputs[j]![s]!;
        expected[s] = Math.max(-32768, Math.min(32767, sum));
      }
      assert.deepEqual(m.get(id)!.output, expected, id);
    });
  });

  test('saturation clamps instead of wrapping around', () => {
    const m = new Mixer(4);
    for (const id of ['a', 'b', 'c']) m.add(id).put(new Int16Array([20000, -20000, 30000, 100]));
    m.mix();
    assert.deepEqual([...m.get('a')!.output], [32767, -32768, 32767, 200]);
    assert.deepEqual([...m.mixed], [32767, -32768, 32767, 300]);
  });

  test('muted: contributes nothing, still hears everyone; deaf: hears silence, still heard', () => {
    const heard = conference((m) => {
      m.get('p1')!.muted = true;
      m.get('p2')!.deaf = true;
    });
    for (const [id, x] of heard) {
      const l = levels(x);
      if (id === 'p2') {
        assert.ok(
          x.every((v) => v === 0),
          'deaf hears exact silence',
        );
        continue;
      }
      assert.ok(l[1]! <= -80, `${id} hears muted p1 at ${l[1]!.toFixed(1)} dB`);
      assert.ok(Math.abs(l[2]!) <= 0.1, `${id} hears deaf p2 at ${l[2]!.toFixed(2)} dB`);
    }
    // The muted participant hears all the others, including p0.
    assert.ok(Math.abs(levels(heard.get('p1')!)[0]!) <= 0.1);
  });

  test('a participant without a frame this tick is silence; leaving and joining', () => {
    const heard = conference(
      () => undefined,
      20,
      (id) => id !== 'p3',
    );
    assert.ok(levels(heard.get('p0')!)[3]! <= -80, 'p3 sent nothing');
    assert.ok(Math.abs(levels(heard.get('p3')!)[0]!) <= 0.1, 'p3 still hears');

    const m = new Mixer(2);
    m.add('x').put(new Int16Array([1, 2]));
    m.add('y').put(new Int16Array([10, 20]));
    m.add('z').put(new Int16Array([100, 200]));
    assert.throws(() => m.add('y'), /already in the mix/);
    assert.equal(m.remove('y'), true);
    assert.equal(m.remove('y'), false);
    assert.equal(m.size, 2);
    m.mix();
    assert.deepEqual([...m.get('x')!.output], [100, 200]);
    assert.deepEqual([...m.get('z')!.output], [1, 2]);
    m.mix(); // no new frames: everyone hears silence
    assert.deepEqual([...m.get('x')!.output], [0, 0]);
    assert.throws(() => m.get('x')!.put(new Int16Array(3)), RangeError);
  });

  test('100 participants: the same buffers every tick (no allocation) and each hears 99 others', () => {
    const m = new Mixer(N);
    for (let i = 0; i < 100; i++) m.add(`p${i}`);
    const before = m.get('p42')!.output;
    for (let t = 0; t < 3; t++) {
      for (let i = 0; i < 100; i++) m.get(`p${i}`)!.put(new Int16Array(N).fill(i));
      m.mix();
    }
    assert.equal(m.get('p42')!.output, before);
    assert.equal(m.get('p42')!.output[0], 4950 - 42);
    assert.equal(m.mixed[0], 4950);
  });
});
