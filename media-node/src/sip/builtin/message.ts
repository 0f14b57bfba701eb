/**
 * SIP message model: requests, responses and an ordered, case-insensitive header container.
 * Header values are stored as received (one entry per header line); list-valued headers
 * (RFC 3261 §7.3.1) are split into their elements on read.
 */

import type { NameAddress, Via } from './uri.js';

/** Compact header forms (RFC 3261 §7.3.3 and the IANA registry). */
const COMPACT_FORMS: Readonly<Record<string, string>> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
  y: 'identity',
};

/** Names whose canonical spelling is not plain Title-Case-Per-Word. */
const CANONICAL_SPECIAL: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
};

/** Well-known headers that are written Title-Case; others keep the spelling they were given. */
const TITLE_CASE_KNOWN = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'allow',
  'allow-events',
  'authentication-info',
  'authorization',
  'call-info',
  'contact',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-type',
  'date',
  'error-info',
  'event',
  'expires',
  'from',
  'identity',
  'in-reply-to',
  'max-forwards',
  'min-expires',
  'min-se',
  'organization',
  'priority',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-require',
  'reason',
  'record-route',
  'refer-to',
  'referred-by',
  'reply-to',
  'require',
  'retry-after',
  'route',
  'server',
  'session-expires',
  'subject',
  'supported',
  'timestamp',
  'to',
  'unsupported',
  'user-agent',
  'via',
  'warning',
]);

/**
 * Headers whose grammar is a comma-separated list (`#element`), so several values may share a line.
 * Headers such as WWW-Authenticate, Authorization or Date contain commas but are not lists.
 */
const LIST_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'allow',
  'allow-events',
  'call-info',
  'contact',
  'content-encoding',
  'content-language',
  'error-info',
  'in-reply-to',
  'p-asserted-identity',
  'p-preferred-identity',
  'path',
  'proxy-require',
  'reason',
  'record-route',
  'require',
  'route',
  'service-route',
  'supported',
  'unsupported',
  'via',
  'warning',
]);

/** The lower-case long form of a header name (compact forms expanded). */
export function normalizeHeaderName(name: string): string {
  const lower = name.trim().toLowerCase();
  return COMPACT_FORMS[lower] ?? lower;
}

/** The spelling used on the wire. Unknown names (e.g. `X-Foo`) keep the caller's spelling. */
export function canonicalHeaderName(name: string): string {
  const key = normalizeHeaderName(name);
  const special = CANONICAL_SPECIAL[key];
  if (special) return special;
  if (TITLE_CASE_KNOWN.has(key)) {
    return key
      .split('-')
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join('-');
  }
  return name.trim();
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(normalizeHeaderName(name));
}

/** Splits a list header value at top-level commas: not inside quoted strings or `<...>`. */
export function splitListValue(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let inQuotes = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (inQuotes) {
      current += ch;
      if (ch === '\\' && i + 1 < value.length) {
        current += value[++i];
      } else if (ch === '"') {
        inQuotes = false;
      }
      continue;
    }
    if (ch === '"') inQuotes = true;
    else if (ch === '<') inAngle = true;
    else if (ch === '>') inAngle = false;
    else if (ch === ',' && !inAngle) {
      parts.push(current.trim());
      current = '';
      continue;
    }
    current += ch;
  }
  parts.push(current.trim());
  return parts.filter((p) => p.length > 0);
}

export interface HeaderEntry {
  /** The name as received or as added (used for `X-` headers, which keep their spelling). */
  readonly name: string;
  readonly value: string;
}

/** Ordered header list with case-insensitive, compact-form-aware lookup. */
export class Headers {
  private readonly entries: { key: string; name: string; value: string }[] = [];

  /** Appends a header line (the value is kept as one line even if it is a list). */
  add(name: string, value: string): this {
    this.entries.push({ key: normalizeHeaderName(name), name: name.trim(), value: value.trim() });
    return this;
  }

  /** Inserts a header line before all others (our Via on requests we send). */
  prepend(name: string, value: string): this {
    this.entries.unshift({ key: normalizeHeaderName(name), name: name.trim(), value: value.trim() });
    return this;
  }

  /** Replaces every line of `name` with one line (or several, one per value). */
  set(name: string, value: string | readonly string[]): this {
    const key = normalizeHeaderName(name);
    const values = typeof value === 'string' ? [value] : value;
    const firstIndex = this.entries.findIndex((e) => e.key === key);
    this.remove(name);
    const fresh = values.map((v) => ({ key, name: name.trim(), value: v.trim() }));
    if (firstIndex < 0 || firstIndex > this.entries.length) this.entries.push(...fresh);
    else this.entries.splice(firstIndex, 0, ...fresh);
    return this;
  }

  remove(name: string): this {
    const key = normalizeHeaderName(name);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i]!.key === key) this.entries.splice(i, 1);
    }
    return this;
  }

  has(name: string): boolean {
    const key = normalizeHeaderName(name);
    return this.entries.some((e) => e.key === key);
  }

  /** The first value; for list headers the first list element. */
  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  /** All values in order; list headers are split into elements, other headers one per line. */
  getAll(name: string): string[] {
    const key = normalizeHeaderName(name);
    const list = LIST_HEADERS.has(key);
    const out: string[] = [];
    for (const e of this.entries) {
      if (e.key !== key) continue;
      if (list) out.push(...splitListValue(e.value));
      else out.push(e.value);
    }
    return out;
  }

  /** The raw lines of one header, unsplit. */
  lines(name: string): string[] {
    const key = normalizeHeaderName(name);
    return this.entries.filter((e) => e.key === key).map((e) => e.value);
  }

  /** Every header line in order, with the name as received. */
  all(): HeaderEntry[] {
    return this.entries.map((e) => ({ name: e.name, value: e.value }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** Copies the lines of the given headers from `other`, in their original order. */
  copyFrom(other: Headers, ...names: string[]): this {
    for (const name of names) {
      for (const value of other.lines(name)) this.add(canonicalHeaderName(name), value);
    }
    return this;
  }

  clone(): Headers {
    const copy = new Headers();
    for (const e of this.entries) copy.entries.push({ ...e });
    return copy;
  }
}

export interface SipRequest {
  readonly type: 'request';
  method: string;
  uri: string;
  headers: Headers;
  body: Buffer;
}

export interface SipResponse {
  readonly type: 'response';
  status: number;
  reason: string;
  headers: Headers;
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

export interface CSeq {
  seq: number;
  method: string;
}

/** The mandatory headers (RFC 3261 §8.1.1), parsed and validated by the parser. */
export interface MessageEssentials {
  callId: string;
  cseq: CSeq;
  from: NameAddress;
  to: NameAddress;
  /** All Via values, top first. */
  vias: Via[];
}

export type ParsedRequest = SipRequest & MessageEssentials;
export type ParsedResponse = SipResponse & MessageEssentials;
export type ParsedMessage = ParsedRequest | ParsedResponse;

/** Max-Forwards of requests we originate, and of an INVITE that arrived without one (§8.1.1.6). */
export const DEFAULT_MAX_FORWARDS = 70;

/** Standard reason phrases for the statuses this stack sends. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  422: 'Session Interval Too Small',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Progress' : status < 300 ? 'OK' : 'Error');
}
