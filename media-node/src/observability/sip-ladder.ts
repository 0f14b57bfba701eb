import type { SipMessageLog, SipMessageSummary } from '../ports/sip-messages.js';
import type { CapturedMessage } from '../sip/builtin/transport.js';

/**
 * Keeps a summary of every SIP message per Call-ID (from the built-in stack's capture hook) until the
 * call's participant ends and hands them to its journal: a session's SIP ladder, one journal entry per
 * leg. Bounded: messages per call, calls kept, and calls nobody claimed (scanners, OPTIONS pings, calls
 * refused before a session) are dropped once idle.
 */
export interface SipLadderLimits {
  /** Messages kept per Call-ID; later ones are counted, not kept. */
  maxMessagesPerCall: number;
  /** Call-IDs kept at once; the least recently seen goes first. */
  maxCalls: number;
  /** A Call-ID not seen for this long is dropped by `sweep`. */
  idleMs: number;
}

const DEFAULT_LIMITS: SipLadderLimits = { maxMessagesPerCall: 100, maxCalls: 20_000, idleMs: 120_000 };
/** Each header value is cut to this many characters: the journal is for reading a call, not for replaying it. */
const MAX_VALUE = 200;
const MAX_FIRST_LINE = 200;

/** Headers worth a line in the ladder, by lower-case long name; compact forms (RFC 3261 §7.3.3) map to them. */
const KEPT: Record<string, string> = {
  from: 'From',
  to: 'To',
  cseq: 'CSeq',
  via: 'Via',
  contact: 'Contact',
  reason: 'Reason',
  'retry-after': 'Retry-After',
  'session-expires': 'Session-Expires',
  'min-se': 'Min-SE',
  'user-agent': 'User-Agent',
  server: 'Server',
  'content-type': 'Content-Type',
  'max-forwards': 'Max-Forwards',
};
const COMPACT: Record<string, string> = {
  f: 'from',
  t: 'to',
  v: 'via',
  m: 'contact',
  c: 'content-type',
  x: 'session-expires',
};
const CALL_ID_NAMES = new Set(['call-id', 'i']);

interface Entry {
  messages: SipMessageSummary[];
  omitted: number;
  lastSeen: number;
}

/** First line, Call-ID and the kept headers of a raw message: a scan of the header section, no full parse. */
export function summarize(m: CapturedMessage): { callId: string | undefined; summary: SipMessageSummary } {
  const end = m.bytes.indexOf('\r\n\r\n', 0, 'latin1');
  const head = m.bytes.toString('latin1', 0, end < 0 ? Math.min(m.bytes.length, 8192) : end);
  const lines = head.split(/\r?\n/);
  let callId: string | undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line[0] === ' ' || line[0] === '\t') continue; // folded continuation lines are skipped
    const raw = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (CALL_ID_NAMES.has(raw)) {
      callId ??= value;
      continue;
    }
    const name = KEPT[COMPACT[raw] ?? raw];
    // The first Via is the one that names the last hop; later values of a kept header are dropped.
    if (name && headers[name] === undefined) headers[name] = value.slice(0, MAX_VALUE);
  }
  return {
    callId,
    summary: {
      at: new Date(m.at).toISOString(),
      direction: m.direction,
      transport: m.transport,
      peer: m.remote.address.includes(':')
        ? `[${m.remote.address}]:${m.remote.port}`
        : `${m.remote.address}:${m.remote.port}`,
      firstLine: (lines[0] ?? '').slice(0, MAX_FIRST_LINE),
      headers,
    },
  };
}

export class SipLadder implements SipMessageLog {
  /** Insertion order is recency order: a seen Call-ID is moved to the end. */
  private readonly calls = new Map<string, Entry>();
  private readonly limits: SipLadderLimits;

  constructor(limits: Partial<SipLadderLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** The capture hook: must return at once and never throw. */
  record(m: CapturedMessage): void {
    const { callId, summary } = summarize(m);
    if (!callId || summary.firstLine === '') return; // keepalives and garbage have no place in a ladder
    let entry = this.calls.get(callId);
    if (entry) this.calls.delete(callId);
    else {
      entry = { messages: [], omitted: 0, lastSeen: 0 };
      if (this.calls.size >= this.limits.maxCalls) {
        const oldest = this.calls.keys().next().value;
        if (oldest !== undefined) this.calls.delete(oldest);
      }
    }
    entry.lastSeen = m.at;
    if (entry.messages.length < this.limits.maxMessagesPerCall) entry.messages.push(summary);
    else entry.omitted++;
    this.calls.set(callId, entry);
  }

  take(callId: string): { messages: SipMessageSummary[]; omitted: number } | undefined {
    const entry = this.calls.get(callId);
    if (!entry) return undefined;
    this.calls.delete(callId);
    return { messages: entry.messages, omitted: entry.omitted };
  }

  /** Drops Call-IDs idle for `idleMs`; returns how many. */
  sweep(now = Date.now()): number {
    let dropped = 0;
    for (const [callId, entry] of this.calls) {
      // Recency order: the first one still fresh ends the scan.
      if (now - entry.lastSeen < this.limits.idleMs) break;
      this.calls.delete(callId);
      dropped++;
    }
    return dropped;
  }

  get size(): number {
    return this.calls.size;
  }
}
