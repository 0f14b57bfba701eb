/**
 * 16-bit linear PCM on the wire, and the base64 framing of Twilio-style `media.payload`. The two sides of a
 * stream disagree on byte order: WebSocket bots (`audio/l16`, as Twilio-compatible frameworks send it) use
 * little-endian, RTP's L16 (RFC 3551) is big-endian. The engine works on Int16Array in host order; these
 * helpers convert at the edges, byte by byte so they work on any alignment and any host.
 */

export type Encoding = 'mulaw' | 'l16';

/** Every frame the engine handles is 20 ms. */
export const FRAME_MS = 20;

/** Samples in one 20 ms frame at `sampleRate`. */
export function frameSamples(sampleRate: number): number {
  return (sampleRate * FRAME_MS) / 1000;
}

/** Bytes in one 20 ms frame: μ-law is 1 byte per sample (8 kHz only), L16 is 2. */
export function frameBytes(encoding: Encoding, sampleRate: number): number {
  return frameSamples(sampleRate) * (encoding === 'l16' ? 2 : 1);
}

function checkEven(what: string, bytes: Uint8Array): void {
  if (bytes.length % 2 !== 0) throw new RangeError(`${what}: ${bytes.length} bytes is not a whole number of samples`);
}

function room(what: string, need: number, have: number): void {
  if (have < need) throw new RangeError(`${what}: output holds ${have}, ${need} needed`);
}

/** Samples → little-endian bytes (WebSocket side), into `out` (allocated when omitted). */
export function int16ToLe(src: Int16Array, out: Uint8Array = new Uint8Array(src.length * 2)): Uint8Array {
  room('int16ToLe', src.length * 2, out.length);
  for (let i = 0, j = 0; i < src.length; i++, j += 2) {
    const v = src[i]!;
    out[j] = v;
    out[j + 1] = v >> 8;
  }
  return out;
}

/** Little-endian bytes → samples. */
export function leToInt16(src: Uint8Array, out: Int16Array = new Int16Array(src.length >> 1)): Int16Array {
  checkEven('leToInt16', src);
  room('leToInt16', src.length >> 1, out.length);
  for (let i = 0, j = 0; j < src.length; i++, j += 2) out[i] = src[j]! | (src[j + 1]! << 8);
  return out;
}

/** Samples → big-endian bytes (RTP L16, network byte order). */
export function int16ToBe(src: Int16Array, out: Uint8Array = new Uint8Array(src.length * 2)): Uint8Array {
  room('int16ToBe', src.length * 2, out.length);
  for (let i = 0, j = 0; i < src.length; i++, j += 2) {
    const v = src[i]!;
    out[j] = v >> 8;
    out[j + 1] = v;
  }
  return out;
}

/** Big-endian bytes (RTP L16) → samples. */
export function beToInt16(src: Uint8Array, out: Int16Array = new Int16Array(src.length >> 1)): Int16Array {
  checkEven('beToInt16', src);
  room('beToInt16', src.length >> 1, out.length);
  for (let i = 0, j = 0; j < src.length; i++, j += 2) out[i] = (src[j]! << 8) | src[j + 1]!;
  return out;
}

/** Swaps each byte pair in place: little-endian ↔ big-endian L16 without decoding. */
export function swap16(bytes: Uint8Array): Uint8Array {
  checkEven('swap16', bytes);
  for (let j = 0; j < bytes.length; j += 2) {
    const a = bytes[j]!;
    bytes[j] = bytes[j + 1]!;
    bytes[j + 1] = a;
  }
  return bytes;
}

/** Bytes → `media.payload` (standard base64 with padding). */
export function encodePayload(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A `media.payload` that is not base64, or larger than allowed: the bot sent something the node refuses. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `media.payload` → bytes. Node's decoder skips characters it does not know; a bot that sends garbage must
 * get a clear error instead of noise at the caller, so the text is checked first: standard alphabet, padding
 * only at the end, a length that is a whole number of base64 quanta (padding may be omitted), and at most
 * `maxBytes` once decoded.
 */
export function decodePayload(payload: string, maxBytes = Number.POSITIVE_INFINITY): Buffer {
  if (typeof payload !== 'string') throw new PayloadError(`media payload is a ${typeof payload}, not a string`);
  const decodedLength = Math.floor((payload.length * 3) / 4);
  if (decodedLength > maxBytes + 2) {
    throw new PayloadError(`media payload of ~${decodedLength} bytes is larger than the ${maxBytes} allowed`);
  }
  if (payload.length % 4 === 1 || !BASE64.test(payload) || (payload.includes('=') && payload.length % 4 !== 0)) {
    throw new PayloadError(`media payload is not base64 (${payload.length} characters)`);
  }
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > maxBytes) {
    throw new PayloadError(`media payload of ${bytes.length} bytes is larger than the ${maxBytes} allowed`);
  }
  return bytes;
}
