/**
 * The call's session journal from the control-plane API: found by the SIP Call-ID of the INVITE
 * (`GET /v1/sessions?sipCallId=…`), then read whole (`GET /v1/sessions/{id}`). Both are retried for a
 * while: the node writes the session and the dispatcher writes each callback's journal entry after the
 * fact, so right after the call the session may not be listed yet or its last callbacks may be missing.
 */

import { JournalError } from './errors.js';
import type { TimelineEntry } from './types.js';

const POLL_MS = 250;
/** List pages read per lookup: 200 sessions each, filtered by the API. */
const MAX_LIST_PAGES = 10;
const REQUEST_TIMEOUT_MS = 5000;

interface JournalEntry {
  at: string;
  kind: string;
  [field: string]: unknown;
}

export interface SessionJson {
  sessionId: string;
  state?: string;
  createdAt: string;
  participants?: Record<string, { sipCallId?: string }>;
  journal?: JournalEntry[];
  [field: string]: unknown;
}

export interface JournalLookupOptions {
  /** When the call started: sessions created before it (less a margin for clock skew) are not searched. */
  since: Date;
  timeoutMs: number;
  /** Keep reading until the session has ended and its sessionCompleted callback is journaled. */
  untilComplete: boolean;
  signal?: AbortSignal;
}

/** Finds and reads the session whose participant has `sipCallId`. Throws JournalError when it cannot. */
export async function readCallJournal(
  api: { url: string; apiKey: string },
  sipCallId: string,
  opts: JournalLookupOptions,
): Promise<SessionJson> {
  const deadline = Date.now() + opts.timeoutMs;
  const from = new Date(opts.since.getTime() - 5 * 60_000).toISOString();
  let sessionId: string | undefined;
  for (;;) {
    const found = await findSessionId(api, sipCallId, from, opts.signal);
    sessionId = found.sessionId;
    if (sessionId) break;
    if (Date.now() >= deadline) {
      throw new JournalError(
        found.problem === undefined
          ? `no session with SIP Call-ID ${sipCallId} within ${opts.timeoutMs / 1000} s`
          : `GET /v1/sessions failed: ${found.problem}`,
        found.status,
      );
    }
    await sleep(POLL_MS, opts.signal);
  }
  for (;;) {
    const res = await getJson(api, `/v1/sessions/${encodeURIComponent(sessionId)}`, opts.signal);
    const session = res.ok ? (res.body as SessionJson) : undefined;
    if (session && (!opts.untilComplete || isComplete(session))) return session;
    if (Date.now() >= deadline) {
      // The session as far as it was written: still worth showing.
      if (session) return session;
      throw new JournalError(`GET /v1/sessions/${sessionId} failed: ${res.problem}`, res.status);
    }
    await sleep(POLL_MS, opts.signal);
  }
}

/** Pages of the filtered list, since `from` (a busy tenant's pages may hold none of ours). */
async function findSessionId(
  api: { url: string; apiKey: string },
  sipCallId: string,
  from: string,
  signal?: AbortSignal,
): Promise<{ sessionId?: string; problem?: string; status?: number }> {
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const query = new URLSearchParams({ sipCallId, from, limit: '200', ...(cursor ? { cursor } : {}) });
    const list = await getJson(api, `/v1/sessions?${query}`, signal);
    if (!list.ok) return { problem: list.problem, ...(list.status ? { status: list.status } : {}) };
    const body = list.body as { sessions?: SessionJson[]; nextCursor?: string };
    const match = (body.sessions ?? []).find((s) => hasCallId(s, sipCallId));
    if (match) return { sessionId: match.sessionId };
    cursor = body.nextCursor;
    if (!cursor) return {};
  }
  return {};
}

/** The list may come from a server that ignores the filter: only a participant with this Call-ID counts. */
function hasCallId(session: SessionJson, sipCallId: string): boolean {
  return Object.values(session.participants ?? {}).some((p) => p?.sipCallId === sipCallId);
}

function isComplete(session: SessionJson): boolean {
  return (
    session.state === 'ended' &&
    (session.journal ?? []).some((e) => e.kind === 'callback' && e.callback === 'sessionCompleted')
  );
}

type ApiResult =
  | { ok: true; status: number; body: unknown; problem?: undefined }
  | { ok: false; status?: number; problem: string };

/**
 * One GET. A refused key or a request the API calls invalid will not get better by waiting, so those
 * throw at once; network errors, 404 (not written yet), 429 and 5xx are returned to be retried.
 */
async function getJson(api: { url: string; apiKey: string }, path: string, signal?: AbortSignal): Promise<ApiResult> {
  // One controller per request, tied to the caller's signal only while the request runs (polling adds none).
  const request = new AbortController();
  const timer = setTimeout(() => request.abort(new Error('no answer within 5 s')), REQUEST_TIMEOUT_MS);
  const onAbort = () => request.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${api.url}${path}`, {
      headers: { authorization: `Bearer ${api.apiKey}`, accept: 'application/json' },
      signal: request.signal,
    });
    text = await res.text();
  } catch (err) {
    if (signal?.aborted) throw new JournalError('the journal lookup was aborted');
    return { ok: false, problem: `${api.url} unreachable (${(err as Error).cause ?? (err as Error).message})` };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch (err) {
    return { ok: false, status: res.status, problem: `${res.status}, not JSON (${(err as Error).message})` };
  }
  if (res.ok) return { ok: true, status: res.status, body };
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const problem = `${res.status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim();
  if (res.status === 401 || res.status === 403 || res.status === 400) {
    throw new JournalError(`GET ${path.split('?')[0]} failed: ${problem}`, res.status);
  }
  return { ok: false, status: res.status, problem };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new JournalError('the journal lookup was aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new JournalError('the journal lookup was aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---- the timeline -------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** The parts of an IVR command, e.g. `phrases+dtmf`, `record`, `hangup`; `none` for `{}`. */
export function commandKind(reply: unknown): string {
  const r = obj(reply);
  const parts = ['phrases', 'record', 'echo', 'stream', 'conference', 'dtmf'].filter(
    (k) => r[k] !== undefined && !(k === 'phrases' && Array.isArray(r[k]) && r[k].length === 0),
  );
  if (r.hangup === true) parts.push('hangup');
  return parts.length > 0 ? parts.join('+') : 'none';
}

function put(fields: Record<string, string>, key: string, v: unknown): void {
  const s = str(v);
  if (s !== undefined && s !== '') fields[key] = s;
}

/** What a callback entry says, in a few fields. */
function callbackFields(name: string, e: JournalEntry): Record<string, string> {
  const request = obj(e.request);
  const reply = obj(e.reply);
  const f: Record<string, string> = {};
  const set = (key: string, v: unknown) => put(f, key, v);
  if (name === 'newCall') {
    set('action', reply.action);
    set('sipStatus', reply.sipStatus);
    set('destination', reply.destination);
  } else if (name === 'getIvrCommand') {
    // What the previous command collected, then what the reply asks for next.
    const dtmf = obj(request.dtmfParams);
    if (request.dtmfParams !== undefined) {
      f.digits = str(dtmf.digits) ?? '';
      set('dtmfReason', dtmf.reason);
    }
    set('recording', obj(request.recording).fileName);
    set('streamResult', obj(request.streamResult).reason);
    if (e.reply !== undefined) f.command = commandKind(e.reply);
  } else if (name === 'callEvent' || name === 'callNotify') {
    set('event', request.event);
    set('reason', request.reason);
    set('action', reply.action);
  } else if (name === 'sessionCompleted') {
    set('reason', request.reason);
    set('duration', request.sessionDuration);
  }
  if (e.fallback === true) {
    set('fallback', e.ranInstead);
    set('why', e.reason);
  }
  return f;
}

/** A non-callback entry's name and fields: what happened, in the journal's own words, briefly. */
function otherEntry(e: JournalEntry): { name: string; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  if (e.kind === 'command') {
    // What the node ran on a callback's reply (or on its fallback), named by what it ran.
    const ran = e.command === undefined ? str(e.action) : commandKind(e.command);
    put(fields, 'callback', e.callback);
    if (e.fallback === true) fields.fallback = 'true';
    return { name: ran ?? 'command', fields };
  }
  if (e.kind === 'sip' && Array.isArray(e.messages)) {
    // The leg's SIP ladder: methods and status codes in order.
    fields.ladder = e.messages
      .map(
        (m) =>
          /^SIP\/2\.0 (\d{3})/.exec(str(obj(m).firstLine) ?? '')?.[1] ?? str(obj(m).firstLine)?.split(' ')[0] ?? '?',
      )
      .join(' ');
    return { name: 'messages', fields };
  }
  const skip = new Set(['at', 'kind', 'event', 'traceId', 'traceparent', 'sessionId', 'participantId']);
  for (const [k, v] of Object.entries(e)) {
    const s = skip.has(k) ? undefined : str(v);
    if (s !== undefined && s.length <= 120) fields[k] = s;
  }
  return { name: str(e.event) ?? str(e.action) ?? e.kind, fields };
}

/** When an entry happened: a callback when it was raised (its body's timestamp), others when written. */
function whenOf(e: JournalEntry): string {
  const raised = e.kind === 'callback' ? str(obj(e.request).timestamp) : undefined;
  return raised !== undefined && Number.isFinite(Date.parse(raised)) ? raised : e.at;
}

/** The journal as a timeline, oldest first, offsets from the session's creation. */
export function timelineOf(session: SessionJson): TimelineEntry[] {
  const start = Date.parse(session.createdAt);
  const entries = (session.journal ?? [])
    .filter((e) => typeof e?.at === 'string' && Number.isFinite(Date.parse(e.at)))
    .map((e) => ({ e, at: whenOf(e) }))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return entries.map(({ e, at }) => {
    const offsetMs = Number.isFinite(start) ? Date.parse(at) - start : 0;
    if (e.kind === 'callback' && typeof e.callback === 'string') {
      const entry: TimelineEntry = {
        offsetMs,
        at,
        kind: e.kind,
        name: e.callback,
        status: e.fallback !== true && typeof e.httpStatus === 'number' ? e.httpStatus : 'fallback',
        fields: callbackFields(e.callback, e),
      };
      if (typeof e.latencyMs === 'number') entry.latencyMs = e.latencyMs;
      if (Array.isArray(e.attempts)) entry.attempts = e.attempts.length;
      return entry;
    }
    const { name, fields } = otherEntry(e);
    return { offsetMs, at, kind: e.kind, name, fields };
  });
}
