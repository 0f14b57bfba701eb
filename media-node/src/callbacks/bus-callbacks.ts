import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { ReplyRecord } from '@sipms/shared/data/session-store';
import { CALLBACK_DETAIL_TYPE, type CallbackEnvelope, EVENT_SOURCE } from '@sipms/shared/events/envelope';
import type { Logger } from '@sipms/shared/util/logger';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../ports/callbacks.js';

export interface ReplyReader {
  getReply(sessionId: string, eventId: string): Promise<ReplyRecord | undefined>;
}

/** Poll delays for the reply item: fast while a quick webhook is likely to have answered, then backing off. */
export const REPLY_POLL_SCHEDULE_MS = [2, 3, 5, 5, 10, 10, 20, 20, 40, 40, 80];
const MAX_POLL_MS = 100;

/**
 * The callback path of the design: PutEvents to the bus (EventBridge, or the local endpoint speaking its
 * API), a rule routes to the dispatcher, which stores the validated reply on the session; this side reads
 * it with consistent reads on an adaptive schedule until the deadline.
 */
export class BusCallbacks implements CallbackPort {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly busName: string,
    private readonly replies: ReplyReader,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  private async publish(req: CallbackRequest, expectsReply: boolean): Promise<void> {
    const envelope: CallbackEnvelope = {
      id: req.eventId,
      tenantId: req.tenantId,
      sessionId: req.sessionId,
      seq: req.seq,
      type: req.type,
      time: new Date().toISOString(),
      nodeId: this.nodeId,
      expectsReply,
      payload: req.payload,
    };
    const res = await this.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: EVENT_SOURCE,
            DetailType: CALLBACK_DETAIL_TYPE,
            Detail: JSON.stringify(envelope),
          },
        ],
      }),
    );
    if (res.FailedEntryCount) {
      const entry = res.Entries?.[0];
      throw new Error(`PutEvents refused the event: ${entry?.ErrorCode ?? ''} ${entry?.ErrorMessage ?? ''}`.trim());
    }
  }

  async notify(req: CallbackRequest): Promise<void> {
    await this.publish(req, false).catch((err) =>
      this.logger.error({ err, sessionId: req.sessionId, type: req.type }, 'callback could not be published'),
    );
  }

  async request(req: CallbackRequest, deadlineMs: number, signal?: AbortSignal): Promise<CallbackResult> {
    const fallback = (reason: string): CallbackResult => ({
      reply: FALLBACK_REPLIES[req.type as keyof typeof FALLBACK_REPLIES] ?? {},
      fallback: true,
      reason,
    });
    try {
      await this.publish(req, true);
    } catch (err) {
      this.logger.error({ err, sessionId: req.sessionId, type: req.type }, 'callback could not be published');
      return fallback(`event could not be published: ${(err as Error).message}`);
    }
    const deadline = Date.now() + deadlineMs;
    for (let i = 0; ; i++) {
      if (signal?.aborted) return fallback('aborted');
      const delay = REPLY_POLL_SCHEDULE_MS[i] ?? MAX_POLL_MS;
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal);
      if (signal?.aborted) return fallback('aborted');
      try {
        const record = await this.replies.getReply(req.sessionId, req.eventId);
        if (record) {
          return record.outcome === 'reply'
            ? { reply: record.reply, fallback: false }
            : { reply: record.reply, fallback: true, reason: record.reason ?? 'callback failed' };
        }
      } catch (err) {
        this.logger.warn({ err, sessionId: req.sessionId }, 'reply read failed; retrying');
      }
      if (Date.now() >= deadline) return fallback(`no reply within ${deadlineMs} ms`);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
