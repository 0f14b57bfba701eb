import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw } from '../../src/audio/index.js';
import { BEEP_HZ } from '../../src/conference/beep.js';
import { ConferenceMix, CONFERENCE_FRAME_SAMPLES as N } from '../../src/conference/conference-mix.js';
import type { TapCodec } from '../../src/ports/media.js';
import { concat, db, tone, toneAmplitude } from '../audio/signal.js';

// The conference mix with its real parts (jitter buffers, audio/mixer.ts, G.711): RTP payloads in, the frames
// each participant is sent out, decoded and measured with Goertzel. No fakes: `send` only collects the frames.

const RATE = 8000;
const AMP = 6000;

interface Caller {
  id: string;
  hz: number;
  codec: TapCodec;
  amplitude?: number;
  /** Sends nothing while this returns false for the tick. */
  speaking?: (tick: number) => boolean;
  muted?: boolean;
  deaf?: boolean;
}

/** Runs `ticks` ticks: each caller sends its tone as 20 ms RTP packets; returns what each one was sent, decoded. */
function run(
  callers: Caller[],
  ticks: number,
  hooks: { beforeTick?: (tick: number, mix: ConferenceMix) => void; mixed?: Int16Array[] } = {},
): Map<string, Int16Array> {
  const mix = new ConferenceMix();
  const heard = new Map<string, Int16Array[]>();
  const signals = new Map<string, Int16Array>();
  for (const c of callers) {
    heard.set(c.id, []);
    signals.set(c.id, tone(RATE, c.hz, c.amplitude ?? AMP, N * ticks));
    mix.add(c.id, {
      muted: c.muted ?? false,
      deaf: c.deaf ?? false,
      codec: () => c.codec,
      send: (frame) => heard.get(c.id)!.push(c.codec === 'pcma' ? decodeAlaw(frame) : decodeUlaw(frame)),
    });
  }
  if (hooks.mixed) mix.onMixed = (m) => hooks.mixed!.push(m.slice());
  for (let t = 0; t < ticks; t++) {
    for (const c of callers) {
      if (c.speaking && !c.speaking(t)) continue;
      const pcm = signals.get(c.id)!.subarray(t * N, (t + 1) * N);
      const payload = c.codec === 'pcma' ? encodeAlaw(pcm) : encodeUlaw(pcm);
      mix.get(c.id)!.receive(payload, c.codec, (1000 + t) & 0xffff, t * N, t * 20);
    }
    hooks.beforeTick?.(t, mix);
    mix.tick();
  }
  return new Map([...heard].map(([id, frames]) => [id, concat(frames)]));
}

/** dB of the tone at `hz` in `x` relative to AMP. */
const level = (x: Int16Array, hz: number, amplitude = AMP) => db(toneAmplitude(x, RATE, hz) / amplitude);
/** The part of a recording from `fromTick` (past the jitter buffers' pre-roll) for `ticks` ticks. */
const part = (x: Int16Array, fromTick: number, ticks: number) => x.subarray(fromTick * N, (fromTick + ticks) * N);

const THREE: Caller[] = [
  { id: 'a', hz: 500, codec: 'pcmu' },
  { id: 'b', hz: 1100, codec: 'pcmu' },
  { id: 'c', hz: 1700, codec: 'pcma' },
];

describe('ConferenceMix', () => {
  test('each participant hears the other two tones at full level and not its own; one frame per tick each', () => {
    const heard = run(THREE, 100);
    for (const c of THREE) {
      const x = heard.get(c.id)!;
      assert.equal(x.length, 100 * N, `${c.id} is sent a frame every tick`);
      const steady = part(x, 10, 80);
      for (const other of THREE) {
        const l = level(steady, other.hz);
        if (other.id === c.id) assert.ok(l < -35, `${c.id} hears itself at ${l.toFixed(1)} dB`);
        else assert.ok(Math.abs(l) < 0.5, `${c.id} hears ${other.id} at ${l.toFixed(1)} dB`);
      }
    }
  });

  test('a muted participant is not heard, and still hears the others; unmuted, it is heard again', () => {
    const heard = run(THREE, 150, {
      beforeTick: (t, mix) => {
        if (t === 0) mix.get('a')!.muted = true;
        if (t === 100) mix.get('a')!.muted = false;
      },
    });
    const b = heard.get('b')!;
    assert.ok(level(part(b, 10, 80), 500) < -40, 'a is muted: b does not hear 500 Hz');
    assert.ok(Math.abs(level(part(b, 10, 80), 1700)) < 0.5, 'b still hears c');
    assert.ok(Math.abs(level(part(b, 110, 35), 500)) < 0.5, 'a unmuted: b hears 500 Hz');
    const a = heard.get('a')!;
    assert.ok(Math.abs(level(part(a, 10, 80), 1100)) < 0.5, 'muted a still hears b');
    assert.ok(Math.abs(level(part(a, 10, 80), 1700)) < 0.5, 'muted a still hears c');
  });

  test('a deaf participant hears nothing (not even the join tone), and is still heard', () => {
    const heard = run(
      THREE.map((c) => (c.id === 'c' ? { ...c, deaf: true } : c)),
      100,
      { beforeTick: (t, mix) => t === 5 && mix.beep('join') },
    );
    const c = heard.get('c')!;
    assert.ok(
      c.every((s) => Math.abs(s) <= 8),
      `deaf c is sent silence (peak ${Math.max(...c.map(Math.abs))})`,
    );
    assert.ok(Math.abs(level(part(heard.get('a')!, 30, 60), 1700)) < 0.5, 'a hears deaf c');
  });

  test('loud talkers saturate instead of wrapping around', () => {
    // Two in-phase tones at 30000: their sum reaches 60000, beyond 16 bits.
    const loud: Caller[] = [
      { id: 'x', hz: 400, codec: 'pcmu', amplitude: 30000 },
      { id: 'y', hz: 400, codec: 'pcmu', amplitude: 30000 },
      { id: 'z', hz: 1000, codec: 'pcmu', amplitude: 10, speaking: () => false },
    ];
    const z = part(run(loud, 60)!.get('z')!, 10, 40);
    // 400 Hz is 20 samples a period, 8 to a frame: the jitter buffers' delay of whole frames keeps the phase.
    const expected = (i: number) => 60000 * Math.sin((2 * Math.PI * 400 * i) / RATE);
    let clipped = 0;
    for (let i = 0; i < z.length; i++) {
      // Wrap-around would flip the sign of the peaks; saturation keeps it and flattens them near full scale.
      if (Math.abs(expected(i)) > 2000) assert.equal(Math.sign(z[i]!), Math.sign(expected(i)), `sample ${i}`);
      if (Math.abs(z[i]!) >= 32000) clipped++;
    }
    assert.ok(clipped > z.length / 4, `${clipped} of ${z.length} samples at full scale`);
  });

  test('join and leave tones: rising for a join, falling for a leave; a burst of joins beeps once', () => {
    const quiet: Caller[] = [
      { id: 'a', hz: 300, codec: 'pcmu', speaking: () => false },
      { id: 'b', hz: 300, codec: 'pcmu', speaking: () => false },
    ];
    const heard = run(quiet, 60, {
      beforeTick: (t, mix) => {
        if (t === 0) for (let i = 0; i < 20; i++) mix.beep('join');
        if (t === 30) mix.beep('leave');
      },
    });
    const a = heard.get('a')!;
    const first = part(a, 0, 6);
    const second = part(a, 8, 6);
    assert.ok(level(first, BEEP_HZ.low) > level(first, BEEP_HZ.high) + 20, 'the join tone starts low');
    assert.ok(level(second, BEEP_HZ.high) > level(second, BEEP_HZ.low) + 20, 'and ends high');
    assert.ok(
      part(a, 15, 14).every((s) => Math.abs(s) <= 8),
      'twenty joins queued at once made one tone (silence after it)',
    );
    const leaveStart = part(a, 30, 6);
    const leaveEnd = part(a, 38, 6);
    assert.ok(level(leaveStart, BEEP_HZ.high) > level(leaveStart, BEEP_HZ.low) + 20, 'the leave tone starts high');
    assert.ok(level(leaveEnd, BEEP_HZ.low) > level(leaveEnd, BEEP_HZ.high) + 20, 'and ends low');
    const beepLevel = db(toneAmplitude(part(a, 0, 6), RATE, BEEP_HZ.low) / 32768);
    assert.ok(beepLevel > -15 && beepLevel < -9, `about −12 dBFS: ${beepLevel.toFixed(1)} dB`);
  });

  test('the recorded mix holds every tone, muted ones excepted', () => {
    const mixed: Int16Array[] = [];
    run(
      THREE.map((c) => (c.id === 'b' ? { ...c, muted: true } : c)),
      80,
      { mixed },
    );
    const all = part(concat(mixed), 10, 60);
    assert.ok(Math.abs(level(all, 500)) < 0.5);
    assert.ok(Math.abs(level(all, 1700)) < 0.5);
    assert.ok(level(all, 1100) < -40, 'muted b is not in the recording');
  });

  test('a participant who says nothing (no packets) hears the others; one who stops is silent after concealment', () => {
    const callers: Caller[] = [
      { id: 'a', hz: 500, codec: 'pcmu', speaking: (t) => t < 40 },
      { id: 'b', hz: 1100, codec: 'pcmu', speaking: () => false },
    ];
    const b = run(callers, 80).get('b')!;
    assert.ok(Math.abs(level(part(b, 10, 25), 500)) < 0.5, 'b hears a');
    assert.ok(
      part(b, 50, 30).every((s) => Math.abs(s) <= 8),
      'a stopped sending: after the loss concealment b hears silence',
    );
  });
});
