import { type CallbackFields, type CallbackName, FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import { carriedDeliveryFits } from '@sipms/shared/events/delivery-budget';
import { redactPayload, type SensitivePath } from '@sipms/shared/events/sensitive-fields';
import { type Tracer, type TraceSpan, UNRECORDED_TRACER } from '@sipms/shared/observability/tracing';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { SessionRepository } from '../../ports/call-data.js';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../../ports/callbacks.js';
import type { JournalInput } from './journal.js';

type ReplyCallback = 'newCall' | 'getIvrCommand' | 'callEvent';
type NotifyCallback = 'callAnswered' | 'callNotify' | 'sessionCompleted';
/** Callbacks that carry a `replyId` (the key a REST command may name the participant by). */
const WITH_REPLY_ID: ReadonlySet<CallbackName> = new Set(['newCall', 'getIvrCommand', 'callAnswered']);
/**
 * How long a notification sent ahead of the session's end (notifyBeforeEnd) waits at its turn for the next
 * callback to carry it: the participant's teardown and the session's end write, with room for a slow table.
 */
export const BEFORE_END_WAIT_MS = 5_000;

export interface SessionDeps {
  callbacks: CallbackPort;
  sessions: SessionRepository;
  logger: Logger;
  /** The call's spans (none: ids and traceparents only, nothing recorded). */
  tracer?: Tracer | undefined;
  /** How long notifyBeforeEnd waits for a callback to carry it (BEFORE_END_WAIT_MS). */
  beforeEndWaitMs?: number;
}

/**
 * One session as this node sees it: its ids, the per-session `seq`, its callbacks and its journal. The
 * node owns the session, so the counter lives here, and so does the ordering: a callback is published
 * only after the previous one of the session has been delivered, so the tenant never sees them reordered.
 */
export class CallSession {
  readonly sessionId: string;
  /** The call's W3C trace id: on every callback (traceparent), log line and journal entry of the session. */
  readonly traceId: string;
  /** The session's span, from the INVITE (or placement) to sessionCompleted; each callback is a child. */
  private readonly span: TraceSpan;
  private readonly tracer: Tracer;
  readonly startedAt = Date.now();
  /** The id was drawn by this session, not given by a command (a REST placement names its session's id). */
  readonly idDrawnHere: boolean;
  readonly log: Logger;
  private seq = 0;
  private completed = false;
  /** Which participant each replyId was sent for (REST commands may name a participant by replyId). */
  private readonly replyOwners = new Map<string, string>();
  /** The tail of the session's callback queue. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Callbacks queued so far: a notification whose turn comes sees whether a later one is queued behind it. */
  private queued = 0;
  /** Notifications handed to the next callback to carry (delivered first, by its delivery). */
  private carry: { req: CallbackRequest; delivered: () => void }[] = [];
  /** Wakes a notification waiting at its turn for the next callback (notifyBeforeEnd). */
  private wakeWaiting: (() => void) | undefined;
  /** Participants that joined and have not ended yet; the session ends after the last one. */
  private members = 0;
  /** The participant that left last: marked ended with the session's end. */
  private lastMember: string | undefined;
  private readonly onEmpty: (() => void)[] = [];

  constructor(
    readonly tenant: TenantRecord,
    private readonly deps: SessionDeps,
    readonly sessionReferenceId?: string,
    sessionId?: string,
  ) {
    this.sessionId = sessionId ?? randomId('s');
    this.idDrawnHere = sessionId === undefined;
    this.tracer = deps.tracer ?? UNRECORDED_TRACER;
    this.span = this.tracer.startSpan('session', {
      kind: 'server',
      attributes: { 'sipms.session_id': this.sessionId, 'sipms.tenant_id': tenant.tenantId },
    });
    this.traceId = this.span.traceId;
    this.log = deps.logger.child({ sessionId: this.sessionId, tenantId: tenant.tenantId, traceId: this.traceId });
  }

  participantForReply(replyId: string): string | undefined {
    return this.replyOwners.get(replyId);
  }

  /** How long to wait for a reply: every attempt, the backoff between them and the fallback URL, plus slack. */
  get replyDeadlineMs(): number {
    const t = this.tenant.callbackTimeoutMs;
    return (t + 1000) * (this.tenant.callbackRetries + 1) + t + 2000;
  }

  get isCompleted(): boolean {
    return this.completed;
  }

  /** A participant joined the session (Participant.join). */
  addMember(): void {
    this.members += 1;
    // The session goes on: a notification waiting for its end to carry it goes alone.
    this.wakeWaiting?.();
    const left = this.lastMember;
    if (left === undefined) return;
    // Joined an emptied session before it completed: the one that left is not written with the end after all.
    this.lastMember = undefined;
    this.deps.sessions
      .setParticipantState(this.sessionId, left, 'ended')
      .catch((err) => this.log.warn({ err, participantId: left }, 'participant state write failed'));
  }

  /**
   * A participant ended (Participant.end). True when it was the last: the session completes next, and its end
   * write marks that participant ended too.
   */
  removeMember(participantId: string): boolean {
    this.members = Math.max(0, this.members - 1);
    if (this.members > 0) return false;
    this.lastMember = participantId;
    for (const resolve of this.onEmpty.splice(0)) resolve();
    return true;
  }

  /** Participants that joined and have not ended yet. */
  get memberCount(): number {
    return this.members;
  }

  /** Resolves once every participant has ended: only then may the flow owning the session complete it. */
  whenEmpty(): Promise<void> {
    if (this.members === 0) return Promise.resolve();
    return new Promise((resolve) => this.onEmpty.push(resolve));
  }

  private build<N extends CallbackName>(
    type: N,
    fields: CallbackFields<N>,
    sensitive?: readonly SensitivePath[],
  ): { req: CallbackRequest; span: TraceSpan } {
    const eventId = randomId('e');
    const seq = ++this.seq;
    // A reply-bearing callback's replyId is its event id: the key the reply is stored under.
    const replyId = WITH_REPLY_ID.has(type) ? eventId : undefined;
    if (replyId && 'participantId' in fields) this.replyOwners.set(replyId, fields.participantId);
    const payload = {
      sessionId: this.sessionId,
      seq,
      timestamp: new Date().toISOString(),
      ...(this.sessionReferenceId ? { sessionReferenceId: this.sessionReferenceId } : {}),
      ...(replyId ? { replyId } : {}),
      ...fields,
    } as CallbackRequest['payload'];
    // Each callback is a span of the call's trace, from publish to reply; the dispatcher's POST is its child.
    const span = this.tracer.startSpan(`callback ${type}`, {
      parent: this.span,
      kind: 'producer',
      attributes: { 'sipms.event_id': eventId, 'sipms.callback': type, 'sipms.seq': seq },
    });
    const req = {
      eventId,
      tenantId: this.tenant.tenantId,
      sessionId: this.sessionId,
      seq,
      type,
      payload,
      traceparent: span.traceparent,
    };
    return { req: sensitive?.length ? { ...req, sensitive } : req, span };
  }

  /** Ends a callback's span with how its wait ended. */
  private static settled(span: TraceSpan, res: CallbackResult | undefined): void {
    if (res?.fallback) span.fail(res.reason ?? 'fallback');
    span.end();
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    this.queued += 1;
    this.wakeWaiting?.();
    const next = this.tail.then(run, run);
    this.tail = next.catch((err) => this.log.error({ err }, 'callback queue step failed'));
    return next;
  }

  /**
   * Sends `req` with the notifications handed to it, and waits as long as delivering them all may take; they
   * count as delivered when it does.
   */
  private async sendCarrying<T>(
    req: CallbackRequest,
    send: (req: CallbackRequest, deadlineMs: number) => Promise<T>,
  ): Promise<T> {
    const carried = this.carry.splice(0);
    if (carried.length === 0) return send(req, this.replyDeadlineMs);
    try {
      return await send({ ...req, carried: carried.map((c) => c.req) }, this.replyDeadlineMs * (carried.length + 1));
    } finally {
      for (const c of carried) c.delivered();
    }
  }

  /**
   * At a notification's turn: when another callback of the session is queued behind it by the next turn of
   * the event loop (or within `waitMs`), and one delivery of them all fits the longest a delivery may take,
   * the notification is handed to it to carry (true) instead of being delivered and waited for on its own —
   * one round trip through the bus and the table less (docs/callback-delivery.md).
   */
  private async handOn(
    req: CallbackRequest,
    position: number,
    delivered: () => void,
    waitMs: number,
  ): Promise<boolean> {
    const { callbackTimeoutMs, callbackRetries } = this.tenant;
    if (!carriedDeliveryFits(callbackTimeoutMs, callbackRetries, this.carry.length + 2)) return false;
    if (this.queued <= position) await new Promise((resolve) => setImmediate(resolve));
    if (this.queued <= position && waitMs > 0) await this.nextQueued(waitMs);
    if (this.queued <= position) return false;
    this.carry.push({ req, delivered });
    return true;
  }

  /** Resolves when a callback is queued, a participant joins, the session completes or `waitMs` passes. */
  private nextQueued(waitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(wake, waitMs);
      function wake(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeWaiting = wake;
    }).finally(() => {
      this.wakeWaiting = undefined;
    });
  }

  /**
   * A reply-bearing callback; resolves with the reply or the defined fallback. `sensitive` names fields the
   * tenant marked sensitive (`dtmf.sensitive`): only the tenant sees them, journals show "***".
   */
  request<N extends ReplyCallback>(
    type: N,
    fields: CallbackFields<N>,
    signal?: AbortSignal,
    sensitive?: readonly SensitivePath[],
  ): Promise<CallbackResult> {
    if (this.completed) {
      // sessionCompleted is always a session's last callback: journaled instead, the flow gets the fallback.
      this.journalUnsent(type, redactPayload(fields, sensitive));
      return Promise.resolve({ reply: FALLBACK_REPLIES[type], fallback: true, reason: 'session completed' });
    }
    const { req, span } = this.build(type, fields, sensitive);
    return this.enqueue(() =>
      this.sendCarrying(req, (r, deadlineMs) => this.deps.callbacks.request(r, deadlineMs, signal)),
    ).then(
      (res) => {
        CallSession.settled(span, res);
        return res;
      },
      (err: unknown) => {
        span.fail(err instanceof Error ? err.message : String(err));
        span.end();
        throw err;
      },
    );
  }

  /** A callback whose reply is ignored; resolves once delivered (callers need not wait). */
  notify<N extends Exclude<NotifyCallback, 'sessionCompleted'>>(type: N, fields: CallbackFields<N>): Promise<void> {
    return this.queueNotification(type, fields, 0);
  }

  /**
   * A callEvent whose reply nothing can act on, sent while the session is about to end: the drop of its last
   * participant. Queued as a notification that waits at its turn (at most BEFORE_END_WAIT_MS) for the next
   * callback — sessionCompleted, once the session's end is written — to carry it: the tenant gets both, in
   * order, for one delivery. A participant that joins meanwhile (the session goes on) sends it at once.
   * Resolves once delivered: a caller that waits for it must not be what the session's end waits for.
   */
  notifyBeforeEnd(type: 'callEvent', fields: CallbackFields<'callEvent'>): Promise<void> {
    return this.queueNotification(type, fields, this.deps.beforeEndWaitMs ?? BEFORE_END_WAIT_MS);
  }

  private queueNotification<N extends Exclude<CallbackName, 'sessionCompleted'>>(
    type: N,
    fields: CallbackFields<N>,
    waitMs: number,
  ): Promise<void> {
    if (this.completed) {
      // sessionCompleted is always a session's last callback: anything later is journaled instead.
      this.journalUnsent(type, fields);
      return Promise.resolve();
    }
    const { req, span } = this.build(type, fields);
    const position = this.queued + 1;
    let delivered!: () => void;
    let failed!: (err: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      delivered = resolve;
      failed = reject;
    });
    void this.enqueue(async () => {
      if (await this.handOn(req, position, delivered, waitMs)) return;
      try {
        await this.sendCarrying(req, (r, deadlineMs) => this.deps.callbacks.notify(r, deadlineMs));
        delivered();
      } catch (err) {
        failed(err);
        throw err; // logged by the queue, which goes on
      }
    });
    return done.finally(() => span.end());
  }

  /** A callback not sent because the session has completed (its fields kept apart: they have an `event` too). */
  private journalUnsent(type: CallbackName, fields: object): void {
    this.journal({ kind: 'error', event: `${type} after sessionCompleted not sent`, callback: type, fields });
  }

  /** Writes a journal entry without delaying the call; a failed write is logged with its error. */
  journal(entry: JournalInput): void {
    this.deps.sessions
      .journal(this.sessionId, { ...entry, traceId: this.traceId })
      .catch((err) => this.log.warn({ err, entry: entry.event }, 'journal write failed'));
  }

  /**
   * Ends the session once: the session item is closed and `sessionCompleted` is the last callback.
   * Resolves after it has been delivered (or failed). Idempotent.
   */
  async complete(reason: string): Promise<void> {
    if (this.completed) return;
    this.completed = true;
    const lastMember = this.lastMember ? [this.lastMember] : [];
    const ended = await this.deps.sessions.end(this.sessionId, reason, lastMember).catch((err) => {
      this.log.warn({ err }, 'session end write failed');
      return undefined;
    });
    this.span.setAttributes({ 'sipms.end_reason': reason });
    if (ended === false) {
      // Nothing follows: a notification waiting for sessionCompleted to carry it goes alone.
      this.wakeWaiting?.();
      // A sweeper presumed this node dead and completed the session (`nodeFailed`): reported once, then.
      this.journal({ kind: 'error', event: 'sessionCompleted not sent: the session was already completed', reason });
      this.log.warn({ reason }, 'session already completed by a dead-node sweeper; not reported again');
      this.span.end();
      return;
    }
    const { req, span } = this.build('sessionCompleted', {
      sessionDuration: Math.round((Date.now() - this.startedAt) / 100) / 10,
      reason,
    });
    // The node batches journal entries: a tenant that reads the session when sessionCompleted arrives sees
    // its whole journal. Only this session's: other sessions' entries keep waiting to share their items.
    await this.deps.sessions
      .flushJournal(this.sessionId)
      .catch((err) => this.log.warn({ err }, 'journal flush before sessionCompleted failed'));
    await this.enqueue(() =>
      this.sendCarrying(req, (r, deadlineMs) => this.deps.callbacks.notify(r, deadlineMs)),
    ).finally(() => {
      span.end();
      this.span.end();
    });
    this.log.info({ reason }, 'session completed');
  }
}
