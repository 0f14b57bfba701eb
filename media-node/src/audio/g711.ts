/**
 * G.711 μ-law and A-law (ITU-T G.711) for the audio-frame engine: RTP from rtpengine and Twilio-style
 * `audio/x-mulaw` payloads are G.711, while resampling, mixing and loss concealment work on 16-bit linear
 * samples. Every frame of every stream passes through here twice, so both directions are table lookups:
 * decode is a 256-entry table, encode a table indexed by the sample reduced to the codec's input width
 * (14 bits for μ-law, 13 for A-law), 24 KB in all.
 *
 * Conventions, as in the ITU reference: samples are 16-bit and left-justified (the low 2 resp. 3 bits are
 * below the codec's resolution); a negative sample's magnitude is taken as its one's complement (`~x`), so
 * the quantizer is symmetric around −½ LSB; decoding returns the middle of the quantization interval, so
 * encode(decode(code)) === code for every code except μ-law's negative zero (0x7F decodes to 0, which
 * encodes as 0xFF).
 */

/** μ-law bias in 14-bit units (0x84 in 16-bit units): it makes segment boundaries powers of two. */
const ULAW_BIAS = 33;
const ULAW_CLIP = 0x1fff;

/** μ-law code → linear sample (±32124). */
export const ULAW_TO_LINEAR: Readonly<Int16Array> = buildUlawDecode();
/** A-law code → linear sample (±32256). */
export const ALAW_TO_LINEAR: Readonly<Int16Array> = buildAlawDecode();
/** The silence byte of each law (the code for sample 0). */
export const ULAW_SILENCE = 0xff;
export const ALAW_SILENCE = 0xd5;

// Encode tables, indexed by the 14-bit (μ-law) or 13-bit (A-law) two's complement input, masked to unsigned.
const ULAW_ENCODE = buildUlawEncode();
const ALAW_ENCODE = buildAlawEncode();

function buildUlawDecode(): Int16Array {
  const t = new Int16Array(256);
  for (let code = 0; code < 256; code++) {
    const u = ~code & 0xff;
    const exponent = (u >> 4) & 7;
    const mantissa = u & 0x0f;
    const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    t[code] = u & 0x80 ? -magnitude : magnitude;
  }
  return t;
}

function buildAlawDecode(): Int16Array {
  const t = new Int16Array(256);
  for (let code = 0; code < 256; code++) {
    const a = code ^ 0x55;
    const segment = (a >> 4) & 7;
    const mantissa = a & 0x0f;
    const magnitude = segment === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (segment - 1);
    t[code] = a & 0x80 ? magnitude : -magnitude;
  }
  return t;
}

/** μ-law code of a 14-bit two's complement sample (−8192…8191). */
function ulawCode14(v: number): number {
  const negative = v < 0;
  const biased = Math.min((negative ? ~v : v) + ULAW_BIAS, ULAW_CLIP);
  // The segment is the position of the top bit above bit 5 (biased ≥ 33 always has bit 5 or higher set).
  const segment = 31 - Math.clz32(biased) - 5;
  const mantissa = (biased >> (segment + 1)) & 0x0f;
  return ~((negative ? 0x80 : 0) | (segment << 4) | mantissa) & 0xff;
}

/** A-law code of a 13-bit two's complement sample (−4096…4095). */
function alawCode13(v: number): number {
  const negative = v < 0;
  const magnitude = negative ? ~v : v; // 0…4095
  let segment: number;
  let mantissa: number;
  if (magnitude < 32) {
    segment = 0;
    mantissa = magnitude >> 1;
  } else {
    segment = 31 - Math.clz32(magnitude) - 4; // 32…63 → 1, …, 2048…4095 → 7
    mantissa = (magnitude >> segment) & 0x0f;
  }
  return ((negative ? 0 : 0x80) | (segment << 4) | mantissa) ^ 0x55;
}

function buildUlawEncode(): Uint8Array {
  const t = new Uint8Array(1 << 14);
  for (let v = -8192; v < 8192; v++) t[v & 0x3fff] = ulawCode14(v);
  return t;
}

function buildAlawEncode(): Uint8Array {
  const t = new Uint8Array(1 << 13);
  for (let v = -4096; v < 4096; v++) t[v & 0x1fff] = alawCode13(v);
  return t;
}

/** One 16-bit sample → μ-law. */
export function linearToUlaw(sample: number): number {
  return ULAW_ENCODE[(sample >> 2) & 0x3fff]!;
}

/** One 16-bit sample → A-law. */
export function linearToAlaw(sample: number): number {
  return ALAW_ENCODE[(sample >> 3) & 0x1fff]!;
}

export function ulawToLinear(code: number): number {
  return ULAW_TO_LINEAR[code & 0xff]!;
}

export function alawToLinear(code: number): number {
  return ALAW_TO_LINEAR[code & 0xff]!;
}

function checkRoom(what: string, need: number, have: number): void {
  if (have < need) throw new RangeError(`${what}: output holds ${have} samples, ${need} needed`);
}

/** μ-law bytes → samples, into `out` (allocated when omitted). Returns `out`; `src.length` samples are written. */
export function decodeUlaw(src: Uint8Array, out: Int16Array = new Int16Array(src.length)): Int16Array {
  checkRoom('decodeUlaw', src.length, out.length);
  const t = ULAW_TO_LINEAR;
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

export function decodeAlaw(src: Uint8Array, out: Int16Array = new Int16Array(src.length)): Int16Array {
  checkRoom('decodeAlaw', src.length, out.length);
  const t = ALAW_TO_LINEAR;
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

/** Samples → μ-law bytes, into `out` (allocated when omitted). Returns `out`. */
export function encodeUlaw(src: Int16Array, out: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  checkRoom('encodeUlaw', src.length, out.length);
  const t = ULAW_ENCODE;
  for (let i = 0; i < src.length; i++) out[i] = t[(src[i]! >> 2) & 0x3fff]!;
  return out;
}

export function encodeAlaw(src: Int16Array, out: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  checkRoom('encodeAlaw', src.length, out.length);
  const t = ALAW_ENCODE;
  for (let i = 0; i < src.length; i++) out[i] = t[(src[i]! >> 3) & 0x1fff]!;
  return out;
}
