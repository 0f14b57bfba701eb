/** Test signals and measurements for the audio-engine tests: tones, Goertzel, sine fits, dB. */

export function tone(rate: number, hz: number, amplitude: number, samples: number, phase = 0): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate + phase));
  return out;
}

/** A reproducible pseudo-random generator (mulberry32), so failures can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function noise(samples: number, amplitude: number, seed = 1): Int16Array {
  const rnd = prng(seed);
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round((rnd() * 2 - 1) * amplitude);
  return out;
}

/**
 * Amplitude of the component at `hz` (Goertzel on a Hann-windowed signal, any frequency, not only bins):
 * a pure tone of amplitude A measures A.
 */
export function toneAmplitude(x: ArrayLike<number>, rate: number, hz: number): number {
  const n = x.length;
  const w = (2 * Math.PI * hz) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    wsum += win;
    const s0 = x[i]! * win + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const re = s1 - s2 * Math.cos(w);
  const im = s2 * Math.sin(w);
  return (2 * Math.hypot(re, im)) / wsum;
}

/** The frequency with the largest Goertzel amplitude between lo and hi (step Hz). */
export function peakFrequency(x: ArrayLike<number>, rate: number, lo: number, hi: number, step: number): number {
  let best = lo;
  let bestAmp = -1;
  for (let f = lo; f <= hi + 1e-9; f += step) {
    const a = toneAmplitude(x, rate, f);
    if (a > bestAmp) {
      bestAmp = a;
      best = f;
    }
  }
  return best;
}

/** Least-squares fit of a·sin + b·cos + c at `hz`: the fitted amplitude and the signal-to-residual ratio in dB. */
export function sineFit(x: ArrayLike<number>, rate: number, hz: number): { amplitude: number; snrDb: number } {
  const n = x.length;
  // Normal equations for [sin, cos, 1].
  const m = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const v = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const basis = [Math.sin((2 * Math.PI * hz * i) / rate), Math.cos((2 * Math.PI * hz * i) / rate), 1];
    for (let r = 0; r < 3; r++) {
      v[r]! += basis[r]! * x[i]!;
      for (let c = 0; c < 3; c++) m[r]![c]! += basis[r]! * basis[c]!;
    }
  }
  const coef = solve3(m, v);
  let signal = 0;
  let residual = 0;
  for (let i = 0; i < n; i++) {
    const fit =
      coef[0]! * Math.sin((2 * Math.PI * hz * i) / rate) +
      coef[1]! * Math.cos((2 * Math.PI * hz * i) / rate) +
      coef[2]!;
    signal += fit * fit;
    residual += (x[i]! - fit) ** 2;
  }
  return { amplitude: Math.hypot(coef[0]!, coef[1]!), snrDb: 10 * Math.log10(signal / residual) };
}

function solve3(m: number[][], v: number[]): number[] {
  const a = m.map((row, i) => [...row, v[i]!]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < 4; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return [a[0]![3]! / a[0]![0]!, a[1]![3]! / a[1]![1]!, a[2]![3]! / a[2]![2]!];
}

export function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

export function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
