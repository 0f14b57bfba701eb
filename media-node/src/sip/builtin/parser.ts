/**
 * Datagram → SIP message (RFC 3261 §7, §18.3). Every failure is a SipParseError; nothing else
 * escapes parseMessage, whatever the input.
 *
 * A malformed request is answerable when its top Via can be read (a response can then be routed,
 * §18.2.2): the error then carries the request as far as it was read, and a reason phrase naming the
 * fault (`Missing Call-ID`, `Bad CSeq`, `Content-Length Mismatch`, …) for a `400 <reason>`, or 505
 * Version Not Supported, or 513 Message Too Large (§21.4.1, §21.5.6, §21.5.7). Anything else is
 * unanswerable and is dropped by the caller. The reason phrases are constants: none carries text
 * from the message.
 */

import {
  Headers,
  type MessageEssentials,
  normalizeHeaderName,
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
   * @param reason reason phrase for the `status` answer, naming the fault (a constant, safe to send)
   * @param request set when the input was a request whose top Via could be read, so the caller can
   *   answer it; it holds the request line and the headers read so far (at least Via)
   * @param status 400, 505 or 513
   * @param detail what exactly was wrong, for logs (may quote the parser's own messages)
   */
  constructor(
    readonly reason: string,
    readonly request?: SipRequest,
    readonly status: number = 400,
    readonly detail?: string,
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'SipParseError';
  }
}

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
/** Headers a response copies from the request (§8.2.6.2), kept when the rest of a bad request is not. */
const RESPONSE_HEADERS = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'timestamp']);

/** The first thing found wrong with a message whose headers could still be read. */
interface Fault {
  reason: string;
  status: number;
  detail?: string;
}

/** Parses one UDP datagram (or one framed stream message). Throws SipParseError only. */
export function parseMessage(data: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParsedMessage {
  try {
    return parseUnchecked(data, limits);
  } catch (err) {
    if (err instanceof SipParseError) throw err;
    if (err instanceof SipSyntaxError) throw new SipParseError('Bad Request', undefined, 400, err.message);
    // Defensive: a bug here must not take the socket handler down.
    throw new SipParseError('Bad Request', undefined, 400, 'unexpected parser failure');
  }
}

function parseUnchecked(data: Buffer, limits: ParseLimits): ParsedMessage {
  // Tolerate leading CRLFs (keep-alives, §7.5).
  let start = 0;
  while (start < data.length && (data[start] === 0x0d || data[start] === 0x0a)) start++;
  if (start >= data.length) throw new SipParseError('Bad Request', undefined, 400, 'empty message');

  // Faults found while reading the head are kept until the top Via is known: the first one is
  // reported, and the request answered if the Via can be read. All of this is bounded by the
  // datagram (≤ 64 KiB) or the framer's size limit.
  let fault: Fault | undefined;
  const note = (reason: string, status = 400, detail?: string): void => {
    fault ??= { reason, status, ...(detail ? { detail } : {}) };
  };
  if (data.length > limits.maxMessageBytes) note('Message Too Large', 513);

  const end = findHeaderEnd(data, start);
  if (!end) note('Missing Empty Line'); // §7: the empty line ends the headers, body or not
  const headEnd = end?.headEnd ?? data.length;
  const bodyStart = end?.bodyStart ?? data.length;
  const head = data.subarray(start, headEnd).toString('utf8');
  if (head.includes('\0')) note('Invalid Character', 400, 'NUL in the head');
  const rawLines = head.split(/\r?\n/);
  for (const line of rawLines) {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: only long lines need counting.
    if (line.length * 3 > limits.maxLineBytes && Buffer.byteLength(line) > limits.maxLineBytes) {
      note('Line Too Long');
      break;
    }
  }
  const startLine = rawLines[0]!;
  const headerLines = unfold(rawLines.slice(1), note);
  if (headerLines.length > limits.maxHeaders) note('Too Many Headers');

  // With a fault already found, only the headers a response needs are kept.
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      note('Malformed Header Line');
      continue;
    }
    const name = line.slice(0, colon).trim();
    if (!TOKEN_RE.test(name)) {
      note('Bad Header Name');
      continue;
    }
    if (fault && !RESPONSE_HEADERS.has(normalizeHeaderName(name))) continue;
    headers.add(name, line.slice(colon + 1));
  }

  const isResponse = startLine.startsWith('SIP/');
  if (fault) {
    throw new SipParseError(
      fault.reason,
      isResponse ? undefined : answerable(startLine, headers),
      fault.status,
      fault.detail,
    );
  }
  if (isResponse) return parseResponse(startLine, headers, data, bodyStart);
  return parseRequest(startLine, headers, data, bodyStart);
}

/** Locates the empty line; bare-LF line endings are accepted for robustness. */
function findHeaderEnd(data: Buffer, start: number): { headEnd: number; bodyStart: number } | undefined {
  const crlf = data.indexOf('\r\n\r\n', start);
  const lf = data.indexOf('\n\n', start);
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headEnd: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headEnd: lf, bodyStart: lf + 2 };
  return undefined;
}

/** Joins continuation lines (leading SP/HTAB) to the previous header (§7.3.1). */
function unfold(lines: string[], note: (reason: string) => void): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (out.length === 0) note('Malformed Header Line');
      else out[out.length - 1] += ` ${line.trim()}`;
    } else {
      out.push(line);
    }
  }
  return out;
}

/**
 * The request as read so far, when it can be answered: the start line begins with a method token
 * and the top Via parses (so the response can be routed). Undefined otherwise.
 */
function answerable(startLine: string, headers: Headers): SipRequest | undefined {
  const [method, uri = ''] = startLine.split(' ');
  if (!method || !TOKEN_RE.test(method)) return undefined;
  const top = headers.get('via');
  if (top === undefined) return undefined;
  try {
    parseVia(top);
  } catch (err) {
    return onSyntaxError(err, undefined);
  }
  return { type: 'request', method, uri, headers, body: Buffer.alloc(0) };
}

function parseRequest(startLine: string, headers: Headers, data: Buffer, bodyStart: number): ParsedRequest {
  // Only a request that fails is looked at again, to see whether it can be answered.
  const fail = (reason: string, status = 400, detail?: string): never => {
    throw new SipParseError(reason, answerable(startLine, headers), status, detail);
  };
  const parts = startLine.split(' ');
  if (parts.length !== 3) fail('Bad Request-Line');
  const [method, uri, version] = parts as [string, string, string];
  if (!TOKEN_RE.test(method)) fail('Bad Request-Line');
  if (version.toUpperCase() !== 'SIP/2.0') fail('Version Not Supported', 505); // §21.5.7
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(uri)) fail('Bad Request-URI');
  const scheme = uri.slice(0, uri.indexOf(':')).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') {
    try {
      parseSipUri(uri);
    } catch (err) {
      fail('Bad Request-URI', 400, errorText(err));
    }
  }
  const essentials = readEssentials(headers, fail);
  // §8.1.1.7: the branch is mandatory. RFC 2543 peers (no branch) are not served.
  if (!essentials.vias[0]!.branch) fail('Missing Via Branch');
  if (essentials.cseq.method !== method) fail('CSeq Method Mismatch');
  const body = readBody(headers, data, bodyStart, fail);
  const maxForwards = headers.get('max-forwards');
  if (maxForwards !== undefined && !isMaxForwards(maxForwards)) fail('Bad Max-Forwards');
  return { type: 'request', method, uri, headers, body, ...essentials };
}

/** §20.22: an integer 0-255. */
function isMaxForwards(text: string): boolean {
  return /^\d{1,3}$/.test(text) && Number(text) <= 255;
}

function parseResponse(startLine: string, headers: Headers, data: Buffer, bodyStart: number): ParsedResponse {
  const m = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/i.exec(startLine);
  const fail = (reason: string, _status?: number, detail?: string): never => {
    throw new SipParseError(reason, undefined, 400, detail);
  };
  if (!m) fail('Bad Status-Line');
  const essentials = readEssentials(headers, fail);
  const body = readBody(headers, data, bodyStart, fail);
  return { type: 'response', status: Number(m![1]), reason: m![2] ?? '', headers, body, ...essentials };
}

type Fail = (reason: string, status?: number, detail?: string) => never;

/** The mandatory headers (§8.1.1), in the order a response needs them: Via first. */
function readEssentials(headers: Headers, fail: Fail): MessageEssentials {
  const vias: Via[] = [];
  for (const value of headers.getAll('via')) {
    try {
      vias.push(parseVia(value));
    } catch (err) {
      fail('Bad Via', 400, errorText(err));
    }
  }
  if (vias.length === 0) fail('Missing Via');
  for (const name of ['Call-ID', 'CSeq', 'From', 'To']) {
    const lines = headers.lines(name);
    if (lines.length === 0) fail(`Missing ${name}`);
    if (lines.length > 1) fail(`Duplicate ${name}`);
  }
  const callId = headers.get('call-id')!;
  if (callId === '' || /\s/.test(callId)) fail('Bad Call-ID');
  const cseqMatch = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(headers.get('cseq')!);
  if (!cseqMatch) fail('Bad CSeq');
  const seq = Number(cseqMatch![1]);
  if (seq > 2 ** 31 - 1) fail('Bad CSeq', 400, 'sequence number not below 2**31'); // §8.1.1.5
  const from = parseAddressHeader(headers, 'From', fail);
  const to = parseAddressHeader(headers, 'To', fail);
  return { callId, cseq: { seq, method: cseqMatch![2]! }, from, to, vias };
}

function parseAddressHeader(headers: Headers, name: string, fail: Fail): NameAddress {
  try {
    return parseNameAddress(headers.get(name)!);
  } catch (err) {
    return fail(`Bad ${name}`, 400, errorText(err));
  }
}

/** Content-Length framing (§18.3): shorter body → error; longer → truncated; absent → rest (UDP). */
function readBody(headers: Headers, data: Buffer, bodyStart: number, fail: Fail): Buffer {
  const available = data.subarray(bodyStart);
  const lengths = headers.lines('content-length');
  if (lengths.length === 0) return Buffer.from(available);
  if (lengths.length > 1 && new Set(lengths).size > 1) fail('Conflicting Content-Length');
  const text = lengths[0]!;
  if (!/^\d{1,10}$/.test(text)) fail('Bad Content-Length');
  const length = Number(text);
  if (length > available.length)
    fail('Content-Length Mismatch', 400, `Content-Length ${length}, body ${available.length} bytes`);
  return Buffer.from(available.subarray(0, length));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : 'syntax error';
}
