/**
 * Datagram → SIP message (RFC 3261 §7, §18.3). Every failure is a SipParseError; nothing else
 * escapes parseMessage, whatever the input.
 */

import {
  Headers,
  type MessageEssentials,
  type ParsedMessage,
  type ParsedRequest,
  type ParsedResponse,
  type SipRequest,
} from './message.js';
import {
  type NameAddress,
  onSyntaxError,
  parseNameAddress,
  parseSipUri,
  parseVia,
  SipSyntaxError,
  type Via,
} from './uri.js';

export interface ParseLimits {
  maxMessageBytes: number;
  maxHeaders: number;
  maxLineBytes: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxMessageBytes: 65535, maxHeaders: 128, maxLineBytes: 8192 };

export class SipParseError extends Error {
  /**
   * @param reason reason phrase for a `400 <reason>` (or `status`) answer
   * @param request set when the input was a request whose Via/From/To/Call-ID/CSeq could be read,
   *   so the caller can answer it
   */
  constructor(
    readonly reason: string,
    readonly request?: SipRequest,
    readonly status: number = 400,
  ) {
    super(reason);
    this.name = 'SipParseError';
  }
}

const METHOD_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const HEADER_NAME_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** Parses one UDP datagram. Throws SipParseError only. */
export function parseMessage(data: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParsedMessage {
  try {
    return parseUnchecked(data, limits);
  } catch (err) {
    if (err instanceof SipParseError) throw err;
    if (err instanceof SipSyntaxError) throw new SipParseError(err.message);
    // Defensive: a bug here must not take the socket handler down.
    throw new SipParseError('Malformed message');
  }
}

function parseUnchecked(data: Buffer, limits: ParseLimits): ParsedMessage {
  if (data.length > limits.maxMessageBytes) throw new SipParseError('Message Too Large', undefined, 513);
  // Tolerate leading CRLFs (keep-alives, §7.5).
  let start = 0;
  while (start < data.length && (data[start] === 0x0d || data[start] === 0x0a)) start++;
  if (start >= data.length) throw new SipParseError('Empty message');

  const { headEnd, bodyStart } = findHeaderEnd(data, start);
  const head = data.subarray(start, headEnd).toString('utf8');
  if (head.includes('\0')) throw new SipParseError('Invalid character in header');
  const rawLines = head.split(/\r?\n/);
  for (const line of rawLines) {
    if (Buffer.byteLength(line) > limits.maxLineBytes) throw new SipParseError('Line Too Long');
  }
  const startLine = rawLines[0]!;
  const headerLines = unfold(rawLines.slice(1));
  if (headerLines.length > limits.maxHeaders) throw new SipParseError('Too Many Headers');

  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SipParseError('Malformed header line');
    const name = line.slice(0, colon).trim();
    if (!HEADER_NAME_RE.test(name)) throw new SipParseError('Malformed header name');
    headers.add(name, line.slice(colon + 1));
  }

  if (startLine.startsWith('SIP/')) return parseResponse(startLine, headers, data, bodyStart);
  return parseRequest(startLine, headers, data, bodyStart);
}

/** Locates the empty line; bare-LF line endings are accepted for robustness. */
function findHeaderEnd(data: Buffer, start: number): { headEnd: number; bodyStart: number } {
  const crlf = data.indexOf('\r\n\r\n', start);
  const lf = data.indexOf('\n\n', start);
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headEnd: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headEnd: lf, bodyStart: lf + 2 };
  // A datagram that ends right after the last header's CRLF lacks only the empty line.
  if (data.subarray(data.length - 2).toString('latin1') === '\r\n') {
    return { headEnd: data.length - 2, bodyStart: data.length };
  }
  throw new SipParseError('Missing empty line after headers');
}

/** Joins continuation lines (leading SP/HTAB) to the previous header (§7.3.1). */
function unfold(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (out.length === 0) throw new SipParseError('Continuation line without header');
      out[out.length - 1] += ` ${line.trim()}`;
    } else {
      out.push(line);
    }
  }
  return out;
}

function parseRequest(startLine: string, headers: Headers, data: Buffer, bodyStart: number): ParsedRequest {
  const parts = startLine.split(' ');
  if (parts.length !== 3) throw new SipParseError('Malformed Request-Line');
  const [method, uri, version] = parts as [string, string, string];
  if (!METHOD_RE.test(method)) throw new SipParseError('Malformed Request-Line');
  // From here on the request is answerable if its mandatory headers are present.
  const partial: SipRequest = { type: 'request', method, uri, headers, body: Buffer.alloc(0) };
  const answerable = hasAnswerableHeaders(headers) ? partial : undefined;
  const fail = (reason: string, status = 400): never => {
    throw new SipParseError(reason, answerable, status);
  };
  if (version.toUpperCase() !== 'SIP/2.0') fail('Version Not Supported', 505);
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(uri)) fail('Malformed Request-URI');
  const scheme = uri.slice(0, uri.indexOf(':')).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') {
    try {
      parseSipUri(uri);
    } catch (err) {
      fail(`Malformed Request-URI: ${errorText(err)}`);
    }
  }
  const essentials = readEssentials(headers, fail);
  if (essentials.cseq.method !== method) fail('CSeq method does not match Request-Line');
  const body = readBody(headers, data, bodyStart, fail);
  const maxForwards = headers.get('max-forwards');
  if (maxForwards !== undefined && !/^\d{1,3}$/.test(maxForwards)) fail('Invalid Max-Forwards');
  return { ...partial, body, ...essentials };
}

function parseResponse(startLine: string, headers: Headers, data: Buffer, bodyStart: number): ParsedResponse {
  const m = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/i.exec(startLine);
  if (!m) throw new SipParseError('Malformed Status-Line');
  const fail = (reason: string): never => {
    throw new SipParseError(reason);
  };
  const essentials = readEssentials(headers, fail);
  const body = readBody(headers, data, bodyStart, fail);
  return { type: 'response', status: Number(m[1]), reason: m[2] ?? '', headers, body, ...essentials };
}

function hasAnswerableHeaders(headers: Headers): boolean {
  if (!['via', 'from', 'to', 'call-id', 'cseq'].every((h) => headers.has(h))) return false;
  try {
    parseVia(headers.get('via')!);
    return true;
  } catch (err) {
    return onSyntaxError(err, false);
  }
}

function readEssentials(headers: Headers, fail: (reason: string) => never): MessageEssentials {
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    if (!headers.has(name)) fail(`Missing ${name} header`);
  }
  for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
    if (headers.lines(name).length > 1) fail(`Duplicate ${name} header`);
  }
  const callId = headers.get('call-id')!;
  if (callId === '' || /\s/.test(callId)) fail('Invalid Call-ID');
  const cseqMatch = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(headers.get('cseq')!);
  if (!cseqMatch) fail('Invalid CSeq');
  const seq = Number(cseqMatch![1]);
  if (seq > 2 ** 31 - 1) fail('Invalid CSeq'); // §8.1.1.5: less than 2**31
  const from = parseAddressHeader(headers, 'From', fail);
  const to = parseAddressHeader(headers, 'To', fail);
  const vias: Via[] = [];
  for (const value of headers.getAll('via')) {
    try {
      vias.push(parseVia(value));
    } catch (err) {
      fail(`Invalid Via: ${errorText(err)}`);
    }
  }
  if (vias.length === 0) fail('Missing Via header');
  return { callId, cseq: { seq, method: cseqMatch![2]! }, from, to, vias };
}

function parseAddressHeader(headers: Headers, name: string, fail: (reason: string) => never): NameAddress {
  try {
    return parseNameAddress(headers.get(name)!);
  } catch (err) {
    return fail(`Invalid ${name}: ${errorText(err)}`);
  }
}

/** Content-Length framing (§18.3): shorter body → error; longer → truncated; absent → rest (UDP). */
function readBody(headers: Headers, data: Buffer, bodyStart: number, fail: (reason: string) => never): Buffer {
  const available = data.subarray(bodyStart);
  const lengths = headers.lines('content-length');
  if (lengths.length === 0) return Buffer.from(available);
  if (lengths.length > 1 && new Set(lengths).size > 1) fail('Conflicting Content-Length');
  const text = lengths[0]!;
  if (!/^\d{1,10}$/.test(text)) fail('Invalid Content-Length');
  const length = Number(text);
  if (length > available.length) fail('Content-Length exceeds body');
  return Buffer.from(available.subarray(0, length));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : 'syntax error';
}
