import {
  CALLBACK_BODIES,
  CALLBACK_NAMES,
  CALLBACK_REPLIES,
  CALLBACKS_WITH_REPLY,
  type CallbackBody,
  type CallbackName,
  FALLBACK_REPLIES,
} from '@sipms/shared/contracts/callbacks';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../../src/ports/callbacks.js';

/**
 * A scriptable tenant behind the callback path. Like BusCallbacks + the dispatcher
 * (media-node/src/callbacks/bus-callbacks.ts, lambdas/src/dispatch/dispatch-callback.ts):
 *  - `request` never rejects; it resolves with the reply validated against the contract (defaults
 *    applied), or the defined fallback with a reason (invalid reply, tenant failure, no reply before the
 *    deadline, or the signal aborted);
 *  - `notify` resolves once the callback was delivered.
 * Every callback is recorded in the order it went out, with its body as the tenant receives it (JSON), and
 * checked: the body against CALLBACK_BODIES strictly (unknown fields too), the envelope against the body,
 * seq increasing per session, one callback of a session at a time, nothing after sessionCompleted. What
 * fails is collected in `violations`; `assertNoViolations()` (called by the kit's close()) fails the test.
 */

const SCRIPT = Symbol('reply script');

type Scripted =
  | { [SCRIPT]: 'fallback'; reason: string }
  | { [SCRIPT]: 'raw'; value: unknown }
  | { [SCRIPT]: 'never' }
  | { [SCRIPT]: 'delay'; ms: number; then: ReplyScript };

/** What the tenant answers: a plain value is the reply body; `reply.*` builds the other cases. */
export type ReplyScript = unknown;

export const reply = {
  /** The tenant failed (HTTP errors, timeouts, fallbackUrl too): the defined fallback with this reason. */
  fallback: (reason = 'callbackUrl: HTTP 500'): ReplyScript => ({ [SCRIPT]: 'fallback', reason }),
  /** Reaches the node exactly as given, skipping the dispatcher's validation (tests the node's own check). */
  raw: (value: unknown): ReplyScript => ({ [SCRIPT]: 'raw', value }),
  /** No reply at all: the request resolves with the fallback when the deadline passes or the signal aborts. */
  never: (): ReplyScript => ({ [SCRIPT]: 'never' }),
  /** The reply (or script) after `ms`. */
  after: (ms: number, then: ReplyScript = {}): ReplyScript => ({ [SCRIPT]: 'delay', ms, then }),
};

export type ReplyHandler<N extends CallbackName> = (
  body: CallbackBody<N>,
  req: CallbackRequest,
) => ReplyScript | Promise<ReplyScript>;

/** One callback as it went out. */
export interface CallbackCall<N extends CallbackName = CallbackName> {
  type: N;
  kind: 'request' | 'notify';
  eventId: string;
  tenantId: string;
  sessionId: string;
  seq: number;
  /** The body as the tenant receives it (JSON round trip of the payload). */
  body: CallbackBody<N>;
  deadlineMs: number;
  startedAt: number;
  finishedAt?: number;
  /** For requests: what the node got back. */
  result?: CallbackResult;
}

/** Replies used when a test scripted nothing for a callback. */
export const DEFAULT_REPLIES: Record<'newCall' | 'getIvrCommand' | 'callEvent', unknown> = {
  newCall: { action: 'ivr' },
  getIvrCommand: { hangup: true },
  callEvent: {},
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys of `input` the schema's output dropped (zod strips unknown keys): the fields the contract lacks. */
function unknownKeys(input: unknown, output: unknown, path: string[] = []): string[] {
  if (Array.isArray(input) && Array.isArray(output))
    return input.flatMap((v, i) => unknownKeys(v, output[i], [...path, String(i)]));
  if (isPlainObject(input) && isPlainObject(output)) {
    const found: string[] = [];
    for (const k of Object.keys(input)) {
      if (!(k in output)) found.push([...path, k].join('.'));
      else found.push(...unknownKeys(input[k], output[k], [...path, k]));
    }
    return found;
  }
  return [];
}

export class FakeCallbacks implements CallbackPort {
  /** Every callback, in the order it went out. */
  readonly calls: CallbackCall[] = [];
  /** Contract violations seen (see the class comment). */
  readonly violations: string[] = [];
  private readonly handlers = new Map<CallbackName, ReplyHandler<CallbackName>>();
  private readonly queues = new Map<CallbackName, ReplyScript[]>();
  private readonly lastSeq = new Map<string, number>();
  private readonly inFlight = new Map<string, CallbackCall>();
  private readonly completed = new Set<string>();
  private readonly waiters = new Set<() => void>();

  /** `maxDeadlineMs` caps how long a request waits for a reply (the session's deadline is seconds). */
  constructor(private readonly options: { maxDeadlineMs?: number } = {}) {}

  /** The tenant's answer to every callback `name` (also called for notify callbacks, to observe or delay them). */
  on<N extends CallbackName>(name: N, handler: ReplyHandler<N>): this {
    this.handlers.set(name, handler as ReplyHandler<CallbackName>);
    return this;
  }

  /** Answers for the next callbacks `name`, one each, before the handler (or default) applies again. */
  queue(name: CallbackName, ...scripts: ReplyScript[]): this {
    const q = this.queues.get(name) ?? [];
    q.push(...scripts);
    this.queues.set(name, q);
    return this;
  }

  /** Notifications a callback carries go out first, one after another, as the dispatcher sends them. */
  private async sendCarried(req: CallbackRequest, deadlineMs: number): Promise<void> {
    for (const carried of req.carried ?? []) await this.notify(carried, deadlineMs);
  }

  async request(req: CallbackRequest, deadlineMs: number, signal?: AbortSignal): Promise<CallbackResult> {
    await this.sendCarried(req, deadlineMs);
    const call = this.begin(req, 'request', deadlineMs);
    const fallback = (reason: string): CallbackResult => ({
      reply: FALLBACK_REPLIES[req.type as keyof typeof FALLBACK_REPLIES] ?? {},
      fallback: true,
      reason,
    });
    const wait = Math.min(deadlineMs, this.options.maxDeadlineMs ?? deadlineMs);
    let result: CallbackResult;
    if (signal?.aborted) {
      result = fallback('aborted');
    } else {
      const controller = new AbortController();
      const stop = AbortSignal.any([controller.signal, ...(signal ? [signal] : [])]);
      const timeout = new Promise<CallbackResult>((resolve) => {
        const timer = setTimeout(() => resolve(fallback(`no reply within ${deadlineMs} ms`)), wait);
        stop.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve(fallback('aborted'));
          },
          { once: true },
        );
      });
      const answered = this.answer(req, call, stop).then((r) => (r === undefined ? new Promise<never>(() => {}) : r));
      result = await Promise.race([answered, timeout]);
      controller.abort();
    }
    call.result = result;
    this.finish(call);
    return result;
  }

  async notify(req: CallbackRequest, deadlineMs: number): Promise<void> {
    await this.sendCarried(req, deadlineMs);
    const call = this.begin(req, 'notify', deadlineMs);
    const handler = this.handlers.get(req.type);
    const queued = this.queues.get(req.type)?.shift();
    if (handler || queued !== undefined) {
      const controller = new AbortController();
      const wait = Math.min(deadlineMs, this.options.maxDeadlineMs ?? deadlineMs);
      const timer = setTimeout(() => controller.abort(), wait);
      try {
        await this.resolveScript(queued !== undefined ? queued : handler!(call.body, req), controller.signal);
      } catch {
        // A tenant error on a notify callback changes nothing for the call.
      } finally {
        clearTimeout(timer);
      }
    }
    this.finish(call);
  }

  // ---- scripting internals ----

  /** The validated reply, a fallback, or undefined for "never". */
  private async answer(
    req: CallbackRequest,
    call: CallbackCall,
    stop: AbortSignal,
  ): Promise<CallbackResult | undefined> {
    const type = req.type;
    let script: ReplyScript;
    // A reply comes back over the network: never within the same turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      const queued = this.queues.get(type)?.shift();
      const handler = this.handlers.get(type);
      script =
        queued !== undefined
          ? queued
          : handler
            ? await handler(call.body, req)
            : DEFAULT_REPLIES[type as keyof typeof DEFAULT_REPLIES];
      script = await this.resolveScript(script, stop);
    } catch (err) {
      return this.asFallback(type, `callbackUrl: ${(err as Error).message}`);
    }
    if (isScript(script)) {
      if (script[SCRIPT] === 'never') return undefined;
      if (script[SCRIPT] === 'fallback') return this.asFallback(type, script.reason);
      if (script[SCRIPT] === 'raw') return { reply: script.value, fallback: false };
    }
    if (!CALLBACKS_WITH_REPLY.has(type)) return { reply: {}, fallback: false };
    const schema = CALLBACK_REPLIES[type as keyof typeof CALLBACK_REPLIES];
    // The tenant's body goes over HTTP as JSON.
    const wire = script === undefined ? {} : JSON.parse(JSON.stringify(script));
    const parsed = parseOrReason(schema, wire);
    if (parsed.ok) return { reply: parsed.value, fallback: false };
    return this.asFallback(type, `callbackUrl: reply fails the schema: ${parsed.reason}`);
  }

  private asFallback(type: CallbackName, reason: string): CallbackResult {
    return { reply: FALLBACK_REPLIES[type as keyof typeof FALLBACK_REPLIES] ?? {}, fallback: true, reason };
  }

  /** Unwraps delays (abortable); returns the final script. */
  private async resolveScript(script: ReplyScript, stop: AbortSignal): Promise<ReplyScript> {
    let s = await script;
    while (isScript(s) && s[SCRIPT] === 'delay') {
      const { ms, then } = s;
      if (stop.aborted) return { [SCRIPT]: 'never' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        stop.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      s = await then;
    }
    return s;
  }

  // ---- recording and contract checks ----

  private begin(req: CallbackRequest, kind: 'request' | 'notify', deadlineMs: number): CallbackCall {
    const body = JSON.parse(JSON.stringify(req.payload ?? null)) as CallbackBody<CallbackName>;
    const call: CallbackCall = {
      type: req.type,
      kind,
      eventId: req.eventId,
      tenantId: req.tenantId,
      sessionId: req.sessionId,
      seq: req.seq,
      body,
      deadlineMs,
      startedAt: performance.now(),
    };
    this.check(req, kind, body);
    this.calls.push(call);
    this.inFlight.set(req.sessionId, call);
    if (req.type === 'sessionCompleted') this.completed.add(req.sessionId);
    for (const w of [...this.waiters]) w();
    return call;
  }

  private finish(call: CallbackCall): void {
    call.finishedAt = performance.now();
    if (this.inFlight.get(call.sessionId) === call) this.inFlight.delete(call.sessionId);
    for (const w of [...this.waiters]) w();
  }

  private violation(req: CallbackRequest, what: string): void {
    this.violations.push(`${req.type} (session ${req.sessionId}, seq ${req.seq}): ${what}`);
  }

  private check(req: CallbackRequest, kind: 'request' | 'notify', body: unknown): void {
    if (!(CALLBACK_NAMES as readonly string[]).includes(req.type)) {
      this.violation(req, 'unknown callback name');
      return;
    }
    const expected = CALLBACKS_WITH_REPLY.has(req.type) ? 'request' : 'notify';
    if (kind !== expected && !unusedReply(req.type, body))
      this.violation(req, `sent with ${kind}(), but it is a ${expected} callback`);
    const parsed = CALLBACK_BODIES[req.type].safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      this.violation(req, `body fails the contract at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    } else {
      for (const field of unknownKeys(body, parsed.data)) this.violation(req, `unknown field "${field}" in the body`);
    }
    const b = (isPlainObject(body) ? body : {}) as Record<string, unknown>;
    if (b.sessionId !== req.sessionId) this.violation(req, `body.sessionId ${String(b.sessionId)} ≠ envelope`);
    if (b.seq !== req.seq) this.violation(req, `body.seq ${String(b.seq)} ≠ envelope`);
    if (!req.tenantId) this.violation(req, 'no tenantId');
    if (!req.eventId || this.calls.some((c) => c.eventId === req.eventId))
      this.violation(req, 'eventId missing or reused');
    const last = this.lastSeq.get(req.sessionId);
    if (last !== undefined && req.seq <= last) this.violation(req, `seq ${req.seq} after seq ${last} (reordered)`);
    this.lastSeq.set(req.sessionId, Math.max(last ?? 0, req.seq));
    if (this.completed.has(req.sessionId)) this.violation(req, 'sent after sessionCompleted');
    const busy = this.inFlight.get(req.sessionId);
    if (busy) this.violation(req, `sent while ${busy.type} (seq ${busy.seq}) of the session was still being delivered`);
  }

  assertNoViolations(): void {
    if (this.violations.length > 0) {
      throw new Error(`callback contract violated:\n  ${this.violations.join('\n  ')}`);
    }
  }

  // ---- queries for tests ----

  ofType<N extends CallbackName>(type: N, sessionId?: string): CallbackCall<N>[] {
    return this.calls.filter((c) => c.type === type && (!sessionId || c.sessionId === sessionId)) as CallbackCall<N>[];
  }

  bodies<N extends CallbackName>(type: N, sessionId?: string): CallbackBody<N>[] {
    return this.ofType(type, sessionId).map((c) => c.body);
  }

  /** Callback names in the order they went out, e.g. ['newCall', 'callAnswered', 'getIvrCommand', …]. */
  types(sessionId?: string): string[] {
    return this.calls.filter((c) => !sessionId || c.sessionId === sessionId).map((c) => c.type);
  }

  /** `callEvent:calledPartyBusy`, `callNotify:ringing`, … : names with their event, in order. */
  events(sessionId?: string): string[] {
    return this.calls
      .filter((c) => !sessionId || c.sessionId === sessionId)
      .map((c) => ('event' in c.body ? `${c.type}:${String(c.body.event)}` : c.type));
  }

  /** Resolves once the `count`-th callback `type` (matching `where`) went out (default 2 s). */
  async waitFor<N extends CallbackName>(
    type: N,
    options: { count?: number; where?: (body: CallbackBody<N>) => boolean; timeoutMs?: number } = {},
  ): Promise<CallbackCall<N>> {
    const count = options.count ?? 1;
    const match = () => this.ofType(type).filter((c) => !options.where || options.where(c.body))[count - 1];
    const found = match();
    if (found) return found;
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 2000;
      const waiter = () => {
        const hit = match();
        if (!hit) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${type} #${count} within ${timeoutMs} ms; callbacks so far: ${this.events().join(', ')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

function isScript(v: unknown): v is Scripted {
  return typeof v === 'object' && v !== null && SCRIPT in v;
}

/**
 * A drop of the session's last participant is a callEvent whose reply nothing can act on: the node may send
 * it as a notification (CallSession.notifyBeforeEnd), carried by sessionCompleted.
 */
function unusedReply(type: string, body: unknown): boolean {
  const event = (body as { event?: unknown } | undefined)?.event;
  return type === 'callEvent' && (event === 'callingPartyDrop' || event === 'calledPartyDrop');
}
