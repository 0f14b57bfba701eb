/**
 * The conference's join and leave tones at 8 kHz: two short notes, rising when someone joins, falling when
 * someone leaves, so the two are told apart without looking. About −12 dBFS, with 5 ms fades so the notes
 * do not click. Made once; the mix reads them.
 */

const RATE = 8000;
const LOW_HZ = 660;
const HIGH_HZ = 990;
const NOTE_MS = 120;
const GAP_MS = 30;
const AMPLITUDE = 8000;
const FADE_SAMPLES = 40;

function note(hz: number, ms: number): Int16Array {
  const n = (RATE * ms) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const fade = Math.min(1, i / FADE_SAMPLES, (n - 1 - i) / FADE_SAMPLES);
    out[i] = Math.round(AMPLITUDE * fade * Math.sin((2 * Math.PI * hz * i) / RATE));
  }
  return out;
}

function sequence(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const gap = new Int16Array((RATE * GAP_MS) / 1000);

export const BEEP_HZ = { low: LOW_HZ, high: HIGH_HZ } as const;

export const BEEPS: Readonly<Record<'join' | 'leave', Int16Array>> = {
  join: sequence(note(LOW_HZ, NOTE_MS), gap, note(HIGH_HZ, NOTE_MS)),
  leave: sequence(note(HIGH_HZ, NOTE_MS), gap, note(LOW_HZ, NOTE_MS)),
};
