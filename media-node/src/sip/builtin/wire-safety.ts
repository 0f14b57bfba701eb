/**
 * What may be written into a SIP message, checked where text becomes wire bytes. A SIP message is
 * lines of text framed by CRLF and an empty line (RFC 3261 §7), and on TCP/TLS by Content-Length
 * (§18.3); a CR or LF inside a header value, reason phrase or URI ends that line early and lets the
 * rest become headers of its own, or a whole second message on a connection shared with a carrier.
 * Nothing here escapes or repairs: text that does not fit is refused.
 *
 * Two levels:
 *   - the serializer (serializer.ts) and the drachtio adapter's sends refuse, with a SipWireError,
 *     any header name that is not a token (§25.1) and any header value, reason phrase or URI with a
 *     character that can end a line: every C0 control but HTAB, and DEL (HTAB is whitespace in SIP's
 *     grammar, §25.1 LWS, and may arrive in values we copy from a peer);
 *   - the port's entry points (reject, redirect, placeCall) refuse input from the call core with a
 *     SignalingError('invalid-input') before anything is built: there no control character at all
 *     (HTAB included, like shared/src/contracts/sip-fields.ts), and no header the stack owns.
 */

import { SignalingError } from '../../ports/signaling.js';
import { normalizeHeaderName } from './message.js';
import { onSyntaxError, parseNameAddress, parseSipUri } from './uri.js';

/** Raised when a message would put unsafe text on the wire; nothing of the message is written. */
export class SipWireError extends Error {
  constructor(
    /** Which part: 'header name', 'header value', 'reason phrase', 'Request-URI', 'method', 'status'. */
    readonly part: string,
    message: string,
  ) {
    super(message);
    this.name = 'SipWireError';
  }
}

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const LINE_BREAKING = /[\u0000-\u0008\u000a-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const ANY_CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const URI_BREAKING = /[\s\u0000-\u001f\u007f]/;

export function isWireToken(text: string): boolean {
  return TOKEN.test(text);
}

/** True when `text` has a character that could end a SIP line (C0 controls but HTAB, DEL). */
export function breaksLine(text: string): boolean {
  return LINE_BREAKING.test(text);
}

/** True when `text` has any control character, HTAB included. */
export function hasControl(text: string): boolean {
  return ANY_CONTROL.test(text);
}

/** A short, printable rendering of refused text for error messages and logs (never the raw bytes). */
export function describeText(text: string): string {
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  return shown;
}

export function assertWireHeader(name: string, value: string): void {
  if (!isWireToken(name)) throw new SipWireError('header name', `header name ${describeText(name)} is not a token`);
  if (breaksLine(value))
    throw new SipWireError('header value', `${name} value ${describeText(value)} contains a control character`);
}

export function assertWireReason(reason: string): void {
  if (breaksLine(reason))
    throw new SipWireError('reason phrase', `reason phrase ${describeText(reason)} contains a control character`);
}

export function assertWireStatus(status: number): void {
  if (!Number.isInteger(status) || status < 100 || status > 699)
    throw new SipWireError('status', `status ${status} is not 100-699`);
}

export function assertWireRequestLine(method: string, uri: string): void {
  if (!isWireToken(method)) throw new SipWireError('method', `method ${describeText(method)} is not a token`);
  if (uri === '' || URI_BREAKING.test(uri))
    throw new SipWireError(
      'Request-URI',
      `Request-URI ${describeText(uri)} is empty or contains whitespace or controls`,
    );
}

// ---- the port's entry points ----

/**
 * Headers the stack writes itself (RFC 3261 §8.1.1 and §20: routing, dialog and framing); a second
 * one from the call core would misroute the message or make it malformed. Compact forms included.
 */
const STACK_OWNED = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'content-length',
  'max-forwards',
  'contact',
  'route',
  'record-route',
]);

function invalid(message: string): SignalingError {
  return new SignalingError('invalid-input', message);
}

/** Extra headers from the call core: token names, no control characters, none the stack owns. */
export function checkExtraHeaders(headers: Record<string, string> | undefined, what: string): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!isWireToken(name)) throw invalid(`${what}: header name ${describeText(name)} is not a token`);
    if (STACK_OWNED.has(normalizeHeaderName(name)))
      throw invalid(`${what}: header ${name} is set by the SIP stack, not by the caller`);
    if (typeof value !== 'string' || hasControl(value))
      throw invalid(`${what}: header ${name} value ${describeText(String(value))} contains a control character`);
  }
}

/** A reason phrase or display name from the call core: text without control characters. */
export function checkText(text: string | undefined, what: string): void {
  if (text === undefined) return;
  if (typeof text !== 'string' || hasControl(text))
    throw invalid(`${what} ${describeText(String(text))} contains a control character`);
}

/** A SIP or SIPS URI from the call core (target, From, a redirect Contact). */
export function checkSipUri(uri: string, what: string): void {
  if (typeof uri !== 'string' || hasControl(uri))
    throw invalid(`${what} ${describeText(String(uri))} contains a control character`);
  try {
    parseSipUri(uri);
  } catch (err) {
    onSyntaxError(err, undefined);
    throw invalid(`${what} ${describeText(uri)} is not a SIP URI: ${(err as Error).message}`);
  }
}

/** A redirect target: a SIP URI, or a name-addr (`"Name" <sip:...>;params`) whose URI is one. */
export function checkContact(contact: string): void {
  if (typeof contact !== 'string' || hasControl(contact))
    throw invalid(`redirect contact ${describeText(String(contact))} contains a control character`);
  if (!contact.includes('<')) {
    checkSipUri(contact, 'redirect contact');
    return;
  }
  try {
    const addr = parseNameAddress(contact);
    if (!addr.sipUri) throw invalid(`redirect contact ${describeText(contact)} is not a SIP URI`);
  } catch (err) {
    if (err instanceof SignalingError) throw err;
    onSyntaxError(err, undefined);
    throw invalid(`redirect contact ${describeText(contact)} is not a name-addr: ${(err as Error).message}`);
  }
}

/** Max-Forwards as RFC 3261 §20.22 has it: an integer 0-255. */
export function checkMaxForwards(value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 255)
    throw invalid(`maxForwards ${value} is not an integer 0-255`);
}
