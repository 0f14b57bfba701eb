import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Callback and stream-handshake signatures (docs/contract.md, "Callbacks"; docs/streams.md):
 * `X-Mediaserver-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + payload)>`, one `v1=` per
 * secret the platform holds (two during a rotation). The payload is the raw request body of a callback, and the
 * URL exactly as the `stream` command gave it for a bot's WebSocket handshake.
 */

export const SIGNATURE_HEADER = 'x-mediaserver-signature';
export const EVENT_ID_HEADER = 'x-mediaserver-event-id';
export const ATTEMPT_HEADER = 'x-mediaserver-attempt';

export type SignatureFailure =
  | 'missing_header'
  | 'malformed_header'
  | 'no_secret'
  | 'timestamp_out_of_tolerance'
  | 'mismatch';

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; code: SignatureFailure; reason: string };

export interface VerifyOptions {
  /** How far the signature's `t` may be from now, in seconds (default 300): an old capture cannot be replayed. */
  toleranceSec?: number;
  /** The current time in unix seconds (default: the clock). */
  now?: number;
}

/** Headers are short; a longer one is not ours and is not parsed. */
const MAX_HEADER_LENGTH = 8192;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

export function computeSignature(secret: string, timestamp: number, payload: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest('hex');
}

/**
 * The header value the platform would send for `payload`: for a tenant's own tests (a signed request to its
 * handler) and the test kit. `timestamp` defaults to now.
 */
export function signPayload(
  payload: string | Uint8Array,
  secrets: string | readonly string[],
  timestamp = Math.floor(Date.now() / 1000),
): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return [`t=${timestamp}`, ...list.map((s) => `v1=${computeSignature(s, timestamp, payload)}`)].join(',');
}

function fail(code: SignatureFailure, reason: string): SignatureCheck {
  return { ok: false, code, reason };
}

function parseHeader(header: string): { timestamp: number; candidates: Buffer[] } | SignatureCheck {
  if (header.length > MAX_HEADER_LENGTH) return fail('malformed_header', 'signature header too long');
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return fail('malformed_header', 'bad t= in signature');
      timestamp = Number(value);
    } else if (key === 'v1' && HEX_SHA256.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other keys (a future scheme v2=, …) are skipped: a newer platform still verifies with v1.
  }
  if (timestamp === undefined) return fail('malformed_header', 'no t= in signature');
  if (candidates.length === 0) return fail('malformed_header', 'no v1= signature');
  return { timestamp, candidates };
}

function verify(
  payload: string | Uint8Array,
  header: string | null | undefined,
  secrets: string | readonly string[],
  options: VerifyOptions,
): SignatureCheck {
  if (!header) return fail('missing_header', `no ${SIGNATURE_HEADER} header`);
  const list = (typeof secrets === 'string' ? [secrets] : [...secrets]).filter((s) => s.length > 0);
  if (list.length === 0) return fail('no_secret', 'no signing secret configured');
  const parsed = parseHeader(header);
  if ('ok' in parsed) return parsed;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSec ?? 300;
  if (Math.abs(now - parsed.timestamp) > tolerance) {
    return fail('timestamp_out_of_tolerance', `signature timestamp is more than ${tolerance} s from now`);
  }
  // Every secret against every v1: during a rotation the platform signs with both, the tenant may know either.
  let matched = false;
  for (const secret of list) {
    const expected = Buffer.from(computeSignature(secret, parsed.timestamp, payload), 'hex');
    for (const given of parsed.candidates) if (timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true, timestamp: parsed.timestamp } : fail('mismatch', 'signature does not match');
}

/**
 * Verifies a callback: `rawBody` exactly as received (before any JSON parsing), the `X-Mediaserver-Signature`
 * header, and every secret currently valid (the old and the new one during a rotation).
 */
export function verifySignature(
  rawBody: string | Uint8Array,
  header: string | null | undefined,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): SignatureCheck {
  return verify(rawBody, header, secrets, options);
}

/**
 * Verifies a bot's WebSocket handshake (IVR command `stream`): the signature covers the URL as the command
 * gave it (`wss://bot.example.com/media?x=1`), not the request line a proxy may have rewritten, so the bot
 * passes the URL it put in the command.
 */
export function verifyStreamSignature(
  url: string,
  header: string | null | undefined,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): SignatureCheck {
  return verify(url, header, secrets, options);
}
