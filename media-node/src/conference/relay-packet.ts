import type { TapCodec } from '../ports/media.js';

/**
 * The datagrams of a node-to-node conference leg (docs/conferences.md, "Across nodes"). One header for all:
 *
 *   0  version (1)    1  type    2..17  leg token (16 random bytes)    18..19  sequence    20..23  timestamp
 *
 * then the payload: for audio, one G.711 packet (20 ms: 160 bytes; the type says PCMU or PCMA); for control, a
 * small JSON object. Anything else (another version, type or size) is not a relay packet.
 */
export const RELAY_VERSION = 1;
export const RELAY_HEADER_BYTES = 24;
export const RELAY_TOKEN_BYTES = 16;
/** The largest audio payload accepted: 60 ms of G.711 (a caller may send 30 or 60 ms packets). */
export const RELAY_AUDIO_MAX_BYTES = 480;
/** Control messages stay far below a path MTU: never fragmented. */
export const RELAY_CONTROL_MAX_BYTES = 1200;

const TYPE_PCMU = 1;
const TYPE_PCMA = 2;
const TYPE_CONTROL = 3;

export type RelayPacket =
  | { kind: 'audio'; token: string; seq: number; timestamp: number; codec: TapCodec; payload: Uint8Array }
  | { kind: 'control'; token: string; seq: number; timestamp: number; message: Record<string, unknown> };

export function encodeAudio(token: string, seq: number, timestamp: number, codec: TapCodec, frame: Uint8Array): Buffer {
  if (frame.length === 0 || frame.length > RELAY_AUDIO_MAX_BYTES) {
    throw new RangeError(`an audio payload is 1–${RELAY_AUDIO_MAX_BYTES} bytes`);
  }
  const out = header(token, codec === 'pcma' ? TYPE_PCMA : TYPE_PCMU, seq, timestamp, frame.length);
  out.set(frame, RELAY_HEADER_BYTES);
  return out;
}

export function encodeControl(token: string, seq: number, message: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > RELAY_CONTROL_MAX_BYTES) throw new RangeError('a control message is at most 1200 bytes');
  const out = header(token, TYPE_CONTROL, seq, 0, json.length);
  json.copy(out, RELAY_HEADER_BYTES);
  return out;
}

/** Parses a datagram; for anything that is not a well-formed relay packet, why (a string). Never throws. */
export function decodeRelayPacket(data: Buffer): RelayPacket | string {
  if (data.length < RELAY_HEADER_BYTES) return 'shorter than the header';
  if (data[0] !== RELAY_VERSION) return `version ${data[0]}`;
  const type = data[1];
  const token = data.subarray(2, 2 + RELAY_TOKEN_BYTES).toString('hex');
  const seq = data.readUInt16BE(18);
  const timestamp = data.readUInt32BE(20);
  const body = data.subarray(RELAY_HEADER_BYTES);
  if (type === TYPE_PCMU || type === TYPE_PCMA) {
    if (body.length === 0 || body.length > RELAY_AUDIO_MAX_BYTES) return `audio of ${body.length} bytes`;
    // Copied: the socket's buffer is not ours to keep.
    const payload = Uint8Array.from(body);
    return { kind: 'audio', token, seq, timestamp, codec: type === TYPE_PCMA ? 'pcma' : 'pcmu', payload };
  }
  if (type !== TYPE_CONTROL) return `type ${type}`;
  if (body.length === 0 || body.length > RELAY_CONTROL_MAX_BYTES) return `control of ${body.length} bytes`;
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return `control not JSON: ${(err as Error).message}`;
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'control not an object';
  return { kind: 'control', token, seq, timestamp, message: message as Record<string, unknown> };
}

/** A fresh leg token: 16 random bytes, as hex. */
export function newLegToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(RELAY_TOKEN_BYTES))).toString('hex');
}

export function isLegToken(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
}

function header(token: string, type: number, seq: number, timestamp: number, bodyBytes: number): Buffer {
  if (!isLegToken(token)) throw new RangeError('a leg token is 32 hex digits');
  const out = Buffer.alloc(RELAY_HEADER_BYTES + bodyBytes);
  out[0] = RELAY_VERSION;
  out[1] = type;
  out.write(token, 2, 'hex');
  out.writeUInt16BE(seq & 0xffff, 18);
  out.writeUInt32BE(timestamp >>> 0, 20);
  return out;
}
