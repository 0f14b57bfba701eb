/** DTMF carried in SIP INFO bodies: application/dtmf-relay (`Signal=5\r\nDuration=160`) and application/dtmf. */

import type { DtmfFromSignaling } from '../../ports/signaling.js';

/** Used when the body carries no duration (application/dtmf never does). */
export const DEFAULT_DTMF_DURATION_MS = 100;

const DIGIT_RE = /^[0-9*#A-D]$/;
/** RFC 4733 event codes some senders put in Signal= instead of the character. */
const EVENT_DIGITS: Readonly<Record<string, string>> = {
  '10': '*',
  '11': '#',
  '12': 'A',
  '13': 'B',
  '14': 'C',
  '15': 'D',
};

function normalizeDigit(raw: string): string | undefined {
  const value = raw.trim().toUpperCase();
  const digit = EVENT_DIGITS[value] ?? value;
  return DIGIT_RE.test(digit) ? digit : undefined;
}

/** The bare media type, lower-case, without parameters. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Returns the digit carried by an INFO body, or undefined when it is not (valid) DTMF. */
export function parseDtmfInfo(contentType: string | undefined, body: string): DtmfFromSignaling | undefined {
  const type = mediaType(contentType);
  if (type === 'application/dtmf') {
    const digit = normalizeDigit(body);
    return digit === undefined ? undefined : { digit, durationMs: DEFAULT_DTMF_DURATION_MS, via: 'info' };
  }
  if (type !== 'application/dtmf-relay') return undefined;
  let digit: string | undefined;
  let durationMs = DEFAULT_DTMF_DURATION_MS;
  for (const line of body.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'signal') digit = normalizeDigit(value);
    else if (key === 'duration' && /^\d{1,6}$/.test(value)) durationMs = Number(value);
  }
  return digit === undefined ? undefined : { digit, durationMs, via: 'info' };
}
