/**
 * A session's journal as ladder-diagram rows: which lane a message leaves and which it reaches, and a
 * short label. Pure (no DOM), so it is unit-tested on journal entries as the API returns them.
 */

import type { JournalEntry } from './sessions.js';

export const LANES = ['Caller', 'Media node', 'Platform', 'Tenant webhook'] as const;
export type Lane = 0 | 1 | 2 | 3;
const CALLER: Lane = 0;
const NODE: Lane = 1;
const PLATFORM: Lane = 2;
const WEBHOOK: Lane = 3;

export interface LadderRow {
  /** Milliseconds from the first entry. */
  offsetMs: number;
  from: Lane;
  to: Lane;
  label: string;
  /** sip, callback, reply, command, dtmf, media, error: for styling and for tests. */
  kind: string;
  error: boolean;
  /** The journal entry the row came from (shown raw on demand). */
  entry: JournalEntry;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** What the caller's side sends: everything else on the SIP leg comes from the node. */
const FROM_CALLER = /^(invite|cancel|bye|caller|reinvite|re-invite|info)|cancelled|hung up|callingPartyDrop/i;

const why = (e: JournalEntry): string | undefined => text(e.reason);

/** The parts of an IVR command reply, e.g. `phrases+dtmf`. */
export function commandParts(reply: unknown): string {
  const r = obj(reply);
  const parts = ['phrases', 'record', 'echo', 'stream', 'conference', 'dtmf'].filter(
    (k) => r[k] !== undefined && !(Array.isArray(r[k]) && r[k].length === 0),
  );
  if (r.hangup === true) parts.push('hangup');
  return parts.length ? parts.join('+') : 'nothing';
}

export function ladderRows(journal: readonly JournalEntry[]): LadderRow[] {
  const t0 = journal.length ? Date.parse(journal[0]!.at) : 0;
  const rows: LadderRow[] = [];
  for (const e of journal) {
    const offsetMs = Math.max(0, Date.parse(e.at) - t0) || 0;
    const push = (from: Lane, to: Lane, label: string, kind: string, error = false) =>
      rows.push({ offsetMs, from, to, label, kind, error, entry: e });
    const event = text(e.event) ?? '';
    switch (e.kind) {
      case 'sip': {
        // The leg's SIP messages, journaled together when it ends: one row each, at its own time.
        if (Array.isArray(e.messages)) {
          for (const m of e.messages as unknown[]) {
            const msg = obj(m);
            const at = Date.parse(text(msg.at) ?? e.at);
            const label = sipLabel(text(msg.firstLine) ?? '?', text(obj(msg.headers).CSeq));
            rows.push({
              offsetMs: Math.max(0, at - t0) || 0,
              from: msg.direction === 'in' ? CALLER : NODE,
              to: msg.direction === 'in' ? NODE : CALLER,
              label,
              kind: 'sip',
              error: /^[456]\d\d /.test(label),
              entry: msg as JournalEntry,
            });
          }
          break;
        }
        const status = text(e.status) ?? text(e.sipStatus);
        const label = [event || 'SIP', status, text(e.reason)].filter(Boolean).join(' ');
        if (FROM_CALLER.test(event)) push(CALLER, NODE, label, 'sip');
        else push(NODE, CALLER, label, 'sip');
        break;
      }
      case 'callback': {
        const name = text(e.callback) ?? 'callback';
        const request = obj(e.request);
        const dtmf = obj(request.dtmfParams);
        const digits = text(dtmf.digits);
        const reqLabel = [
          name,
          digits !== undefined ? `digits=${digits}` : undefined,
          text(dtmf.reason) ? `(${text(dtmf.reason)})` : undefined,
          text(request.event),
        ]
          .filter(Boolean)
          .join(' ');
        // The caller's keys, as the node collected them (the callback's timestamp is when collection ended).
        if (digits !== undefined) {
          const keyedAt = Date.parse(text(request.timestamp) ?? e.at);
          const key = text(dtmf.terminationKey) && dtmf.reason === 'terminationKey' ? text(dtmf.terminationKey) : '';
          rows.push({
            offsetMs: Math.max(0, keyedAt - t0) || offsetMs,
            from: CALLER,
            to: NODE,
            label: `DTMF ${digits}${key}`.trim(),
            kind: 'dtmf',
            error: false,
            entry: e,
          });
        }
        push(NODE, PLATFORM, `${name} event`, 'callback');
        const attempts = Array.isArray(e.attempts) ? e.attempts.length : text(e.attempts);
        const latency = text(e.latencyMs);
        const meta = [
          attempts !== undefined ? `${attempts} attempt${attempts === 1 ? '' : 's'}` : undefined,
          latency !== undefined ? `${latency} ms` : undefined,
        ]
          .filter(Boolean)
          .join(', ');
        push(PLATFORM, WEBHOOK, `POST /${reqLabel}${meta ? ` · ${meta}` : ''}`, 'callback');
        if (e.fallback === true) {
          push(WEBHOOK, PLATFORM, `no usable reply: ${text(e.reason) ?? 'failed'} → fallback`, 'reply', true);
        } else {
          const reply = obj(e.reply);
          const what =
            name === 'getIvrCommand' ? commandParts(reply) : text(reply.action) ? `action=${text(reply.action)}` : 'ok';
          push(WEBHOOK, PLATFORM, `${text(e.httpStatus) ?? ''} ${what}`.trim(), 'reply');
        }
        break;
      }
      case 'command': {
        const cb = text(e.callback);
        const what =
          e.command !== undefined
            ? commandParts(e.command)
            : e.reply !== undefined
              ? (text(obj(e.reply).action) ?? commandParts(e.reply))
              : text(e.action);
        if (cb && what) {
          const why = text(e.reason);
          const fallback = e.fallback === true ? ` (fallback${why ? `: ${why}` : ''})` : '';
          push(PLATFORM, NODE, `${cb} → ${what}${fallback}`, 'command', e.fallback === true);
        } else {
          push(PLATFORM, NODE, [cb, event, why(e)].filter(Boolean).join(' ') || 'command', 'command');
        }
        break;
      }
      case 'media': {
        if (/dtmf|digit/i.test(event)) {
          const digit = text(e.digit) ?? text(e.digits) ?? '';
          push(CALLER, NODE, `DTMF ${digit}`.trim(), 'dtmf');
        } else push(NODE, NODE, [event || 'media', text(e.reason)].filter(Boolean).join(' '), 'media');
        break;
      }
      case 'error':
        push(NODE, NODE, [event || 'error', text(e.reason)].filter(Boolean).join(': '), 'error', true);
        break;
      default:
        push(NODE, NODE, [e.kind, event].filter(Boolean).join(' '), e.kind);
    }
  }
  // Entries are journaled as they are written (a leg's SIP messages at its end): shown in time order.
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.offsetMs - b.r.offsetMs || a.i - b.i)
    .map(({ r }) => r);
}

/** `INVITE sip:…` → `INVITE`; `SIP/2.0 200 OK` with CSeq `1 INVITE` → `200 OK (INVITE)`. */
function sipLabel(firstLine: string, cseq: string | undefined): string {
  const status = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(firstLine);
  const method = cseq?.split(/\s+/)[1];
  if (status) return `${status[1]} ${status[2]}${method ? ` (${method})` : ''}`.replace('  ', ' ');
  return firstLine.split(' ')[0] ?? firstLine;
}
