/** Building responses (§8.2.6) and routing them back (§18.2.2, RFC 3581). */

import { createHash } from 'node:crypto';
import type { SourceAddress } from '../../ports/signaling.js';
import {
  Headers,
  type ParsedRequest,
  reasonPhrase,
  type SipRequest,
  type SipResponse,
  splitListValue,
} from './message.js';
import type { Destination } from './transport.js';
import { formatVia, isIpAddress, parseVia, type Via } from './uri.js';

const DEFAULT_SIP_PORT = 5060;

/**
 * Adds `received` when the source IP differs from sent-by (§18.2.1) and fills a valueless `rport`
 * with the source port (RFC 3581 §4). Rewrites the top Via of `request.headers` accordingly.
 */
export function stampTopVia(request: ParsedRequest, source: SourceAddress): void {
  stampVia(request.headers, request.vias[0]!, source);
}

/** stampTopVia for a request known only as far as its headers (a malformed one being answered). */
export function stampTopViaHeader(headers: Headers, source: SourceAddress): Via {
  const top = parseVia(headers.get('via')!);
  stampVia(headers, top, source);
  return top;
}

function stampVia(headers: Headers, top: Via, source: SourceAddress): void {
  let changed = false;
  if (normalizeIp(top.host) !== normalizeIp(source.address)) {
    top.received = source.address;
    top.params.set('received', source.address);
    changed = true;
  }
  if (top.rport === null) {
    top.rport = source.port;
    top.params.set('rport', String(source.port));
    changed = true;
  }
  if (changed) replaceTopVia(headers, top);
}

function normalizeIp(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, '');
}

function replaceTopVia(headers: Headers, top: Via): void {
  const lines = headers.lines('via');
  const first = splitListValue(lines[0] ?? '');
  first[0] = formatVia(top);
  headers.set('via', [first.join(', '), ...lines.slice(1)]);
}

/** Where a response to a request carrying `top` as its top Via goes (§18.2.2, RFC 3581 §4). */
export function responseDestination(top: Via, source: SourceAddress): Destination {
  // Reliable transports: back on the connection the request came in on (§18.2.2).
  if (source.transport !== 'udp') return { address: source.address, port: source.port, transport: source.transport };
  if (top.received !== undefined || top.rport !== undefined) {
    const address = top.received ?? (isIpAddress(top.host) ? top.host : source.address);
    const port = typeof top.rport === 'number' ? top.rport : (top.port ?? DEFAULT_SIP_PORT);
    return { address, port };
  }
  // sent-by equals the source IP here (otherwise `received` would be set).
  return { address: isIpAddress(top.host) ? top.host : source.address, port: top.port ?? DEFAULT_SIP_PORT };
}

export interface ResponseOptions {
  reason?: string;
  /** Added to To when the request's To has no tag (not on 100 Trying, §8.2.6.2). */
  toTag?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  contentType?: string;
}

/** A response copying Via, From, To, Call-ID and CSeq from the request (§8.2.6.2). */
export function buildResponse(request: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
  const headers = new Headers();
  headers.copyFrom(request.headers, 'Via', 'From');
  // A request being answered for its faults may lack To, Call-ID or CSeq: the response then lacks them too.
  const to = request.headers.get('to');
  if (to !== undefined) {
    const afterUri = to.slice(to.lastIndexOf('>') + 1);
    const needsTag = status > 100 && options.toTag !== undefined && !/;\s*tag\s*=/i.test(afterUri);
    headers.add('To', needsTag ? `${to};tag=${options.toTag}` : to);
  }
  headers.copyFrom(request.headers, 'Call-ID', 'CSeq');
  if (status === 100) headers.copyFrom(request.headers, 'Timestamp'); // §8.2.6.1
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) headers.add(name, v);
  }
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
  if (body.length > 0) headers.set('Content-Type', options.contentType ?? 'application/sdp');
  return { type: 'response', status, reason: options.reason ?? reasonPhrase(status), headers, body };
}

/**
 * The To tag of a response sent without a transaction (§8.2.7: "generated ... in a manner that will
 * generate the same tag for the same request consistently"): a retransmitted request gets the same
 * tag again. Derived from the top Via branch, From tag, Call-ID and CSeq as received.
 */
export function statelessToTag(request: SipRequest): string {
  const h = request.headers;
  const key = [h.get('via'), h.get('from'), h.get('call-id'), h.get('cseq')].join('\n');
  return createHash('sha1').update(key).digest('hex').slice(0, 16);
}
