import type { CallbackName } from '@sipms/shared/contracts/callbacks';
import type { TenantRecord } from '@sipms/shared/data/tenant-store';
import { randomId } from '@sipms/shared/util/ids';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../ports/callbacks.js';

/**
 * One session as this node sees it: its ids, the per-session `seq`, and the callbacks it sends. The
 * node owns the session, so the counter lives here, and so does the ordering: a callback is published
 * only after the previous one of the session has been delivered, so the tenant never sees them reordered.
 */
export class CallSession {
  readonly sessionId: string;
  readonly startedAt = Date.now();
  private seq = 0;
  /** Which participant each replyId was sent for (REST commands may name a participant by replyId). */
  private readonly replyOwners = new Map<string, string>();

  participantForReply(replyId: string): string | undefined {
    return this.replyOwners.get(replyId);
  }

  /** The tail of the session's callback queue. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly tenant: TenantRecord,
    private readonly callbacks: CallbackPort,
    readonly sessionReferenceId?: string,
    sessionId?: string,
  ) {
    this.sessionId = sessionId ?? randomId('s');
  }

  /** How long to wait for a reply: every attempt, the backoff between them and the fallback URL, plus slack. */
  get replyDeadlineMs(): number {
    const t = this.tenant.callbackTimeoutMs;
    return (t + 1000) * (this.tenant.callbackRetries + 1) + t + 2000;
  }

  private build(type: CallbackName, fields: Record<string, unknown>): CallbackRequest {
    const eventId = randomId('e');
    const payload: Record<string, unknown> = {
      sessionId: this.sessionId,
      seq: ++this.seq,
      timestamp: new Date().toISOString(),
      ...(this.sessionReferenceId ? { sessionReferenceId: this.sessionReferenceId } : {}),
      ...fields,
    };
    // A reply-bearing callback's replyId is its event id: the key the reply is stored under.
    if (type === 'newCall' || type === 'getIvrCommand' || type === 'callAnswered') {
      payload.replyId ??= eventId;
      if (typeof fields.participantId === 'string') this.replyOwners.set(String(payload.replyId), fields.participantId);
    }
    return {
      eventId,
      tenantId: this.tenant.tenantId,
      sessionId: this.sessionId,
      seq: payload.seq as number,
      type,
      payload,
    };
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** A reply-bearing callback; resolves with the reply or the defined fallback. */
  request(
    type: 'newCall' | 'getIvrCommand' | 'callEvent',
    fields: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<CallbackResult> {
    const req = this.build(type, fields);
    return this.enqueue(() => this.callbacks.request(req, this.replyDeadlineMs, signal));
  }

  /** A callback whose reply is ignored; resolves once delivered (callers need not wait). */
  notify(type: 'callAnswered' | 'callNotify' | 'sessionCompleted', fields: Record<string, unknown>): Promise<void> {
    const req = this.build(type, fields);
    return this.enqueue(() => this.callbacks.notify(req, this.replyDeadlineMs));
  }
}
