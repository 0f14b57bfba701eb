/**
 * Sample-rate conversion between the rates the audio-frame engine meets: 8 kHz (G.711 callers), 16 and
 * 24 kHz (L16 streams a bot asks for) and 48 kHz. One `Resampler` per stream and direction, fed 20 ms
 * frames: it keeps the filter's history across calls, so frame edges add no clicks and feeding a signal
 * frame by frame gives exactly the samples of feeding it whole.
 *
 * Method: a rational L/M polyphase FIR (zero-stuff by L, low-pass, keep every M-th sample, done without
 * computing the discarded samples). The low-pass is a Kaiser-windowed sinc designed at the lower of the two
 * rates, `low`: passband to 0.425·low (3.4 kHz at 8 kHz, ripple < 0.01 dB), stopband from 0.55·low
 * (4.4 kHz at 8 kHz) at ≥ 60 dB. A tone between the output's Nyquist and 0.55·low folds onto 0.45·low…
 * 0.5·low (3.6–4 kHz at 8 kHz), above the telephone band; everything else that would alias is ≥ 60 dB down.
 * Each polyphase branch is normalised to unity gain, so DC and slow signals pass without a ripple at the
 * input rate. Cost: about 29·max(L, M)/L multiply-adds per output sample (8→16 kHz: 29; 16→8 kHz: 58).
 */

export type SampleRate = 8000 | 16000 | 24000 | 48000;
export const SAMPLE_RATES: readonly SampleRate[] = [8000, 16000, 24000, 48000];

/** Filter design, as fractions of the lower rate (see the module comment). */
const PASS_EDGE = 0.425;
const STOP_EDGE = 0.55;
const STOPBAND_DB = 60;

/** Coefficient sets are shared by every resampler of the same rate pair. */
const designs = new Map<string, { l: number; m: number; taps: number; coeffs: Float64Array }>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series; converges fast for the β used here). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function design(from: SampleRate, to: SampleRate): { l: number; m: number; taps: number; coeffs: Float64Array } {
  const key = `${from}:${to}`;
  const cached = designs.get(key);
  if (cached) return cached;
  const g = gcd(from, to);
  const l = to / g;
  const m = from / g;
  const fsUp = from * l;
  const low = Math.min(from, to);
  // Kaiser's estimates: β for the stopband attenuation, length for the transition width.
  const beta = 0.1102 * (STOPBAND_DB - 8.7);
  const transition = (2 * Math.PI * (STOP_EDGE - PASS_EDGE) * low) / fsUp;
  // Per polyphase branch, rounded up to a multiple of 4 for the unrolled inner loop.
  const taps = 4 * Math.ceil((STOPBAND_DB - 8) / (2.285 * transition) / l / 4);
  const n = taps * l;
  const fc = (((PASS_EDGE + STOP_EDGE) / 2) * low) / fsUp; // cycles per upsampled sample
  const centre = (n - 1) / 2;
  const h = new Float64Array(n);
  const i0beta = besselI0(beta);
  for (let i = 0; i < n; i++) {
    const t = i - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = (2 * i) / (n - 1) - 1;
    h[i] = sinc * (besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta);
  }
  // Branch p holds h[p], h[p+L], h[p+2L], … reversed, so the inner loop walks input and coefficients forward;
  // each branch sums to 1 (unity gain per output phase).
  const coeffs = new Float64Array(n);
  for (let p = 0; p < l; p++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) sum += h[p + k * l]!;
    for (let k = 0; k < taps; k++) coeffs[p * taps + (taps - 1 - k)] = h[p + k * l]! / sum;
  }
  const d = { l, m, taps, coeffs };
  designs.set(key, d);
  return d;
}

export class Resampler {
  readonly from: SampleRate;
  readonly to: SampleRate;
  private readonly l: number;
  private readonly m: number;
  private readonly taps: number;
  private readonly coeffs: Float64Array;
  /** The last `taps − 1` input samples, then the current input: grown to the largest input seen, then reused. */
  private work: Float64Array;
  /** Time of the next output sample, in upsampled samples from the start of the next input. */
  private t = 0;

  constructor(from: SampleRate, to: SampleRate) {
    if (!SAMPLE_RATES.includes(from) || !SAMPLE_RATES.includes(to)) {
      throw new RangeError(`resampling ${from} → ${to} Hz: rates must be one of ${SAMPLE_RATES.join(', ')}`);
    }
    this.from = from;
    this.to = to;
    if (from === to) {
      // A pass-through as a 4-tap filter whose newest tap is 1 (the inner loop works in fours).
      this.l = this.m = 1;
      this.taps = 4;
      this.coeffs = new Float64Array([0, 0, 0, 1]);
    } else {
      ({ l: this.l, m: this.m, taps: this.taps, coeffs: this.coeffs } = design(from, to));
    }
    this.work = new Float64Array(this.taps - 1 + 960);
  }

  /** Filter delay, in output samples (the group delay of the linear-phase FIR). */
  get delaySamples(): number {
    return ((this.taps * this.l - 1) / 2 / this.l) * (this.to / this.from);
  }

  /** Multiply-adds per output sample. */
  get tapsPerOutput(): number {
    return this.taps;
  }

  /** How many samples the next `process` of `inputLength` samples writes (20 ms in → 20 ms out). */
  outputLength(inputLength: number): number {
    const end = inputLength * this.l;
    return this.t >= end ? 0 : Math.ceil((end - this.t) / this.m);
  }

  /**
   * Resamples `input`, continuing from the previous call, into `out` (allocated when omitted; pass one of at
   * least `outputLength(input.length)` samples to avoid allocating). Returns the samples written, as a view of
   * `out` when `out` is longer.
   */
  process(input: Int16Array, out?: Int16Array): Int16Array {
    const count = this.outputLength(input.length);
    const dst = out ?? new Int16Array(count);
    if (dst.length < count) throw new RangeError(`Resampler.process: output holds ${dst.length}, ${count} needed`);
    const hist = this.taps - 1;
    if (this.work.length < hist + input.length) {
      const grown = new Float64Array(hist + input.length);
      grown.set(this.work.subarray(0, hist));
      this.work = grown;
    }
    const w = this.work;
    for (let i = 0; i < input.length; i++) w[hist + i] = input[i]!;
    const { l, m, taps, coeffs } = this;
    let t = this.t;
    for (let j = 0; j < count; j++, t += m) {
      // Output at upsampled time t uses inputs ≤ floor(t / L), i.e. w[start … start + taps − 1].
      const start = (t / l) | 0;
      const c = (t - start * l) * taps;
      // Four partial sums: one running sum would wait on each addition's latency.
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < taps; k += 4) {
        a0 += coeffs[c + k]! * w[start + k]!;
        a1 += coeffs[c + k + 1]! * w[start + k + 1]!;
        a2 += coeffs[c + k + 2]! * w[start + k + 2]!;
        a3 += coeffs[c + k + 3]! * w[start + k + 3]!;
      }
      const s = Math.round(a0 + a1 + (a2 + a3));
      dst[j] = Math.min(32767, Math.max(-32768, s));
    }
    this.t = t - input.length * l;
    // Keep the last `hist` inputs (history) at the front for the next call.
    w.copyWithin(0, input.length, input.length + hist);
    return dst.length === count ? dst : dst.subarray(0, count);
  }

  /** Forgets the history (a new stream starts from silence). */
  reset(): void {
    this.work.fill(0);
    this.t = 0;
  }
}
