import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { CALLBACK_DETAIL_TYPE, type CallbackEnvelope, EVENT_SOURCE } from '@sipms/shared/events/envelope';
import type { Logger } from '@sipms/shared/util/logger';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../ports/callbacks.js';
import type { ReplyPoller } from './reply-poller.js';

/**
 * The callback path of the design: PutEvents to the bus (EventBridge, or the local endpoint speaking its
 * API), a rule routes to the dispatcher, which stores the outcome on the session (the validated reply, or
 * the defined fallback and why); the node's reply poller picks it up.
 */
export class BusCallbacks implements CallbackPort {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly busName: string,
    private readonly poller: ReplyPoller,
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

  async notify(req: CallbackRequest, deadlineMs: number): Promise<void> {
    try {
      await this.publish(req, false);
    } catch (err) {
      this.logger.error({ err, sessionId: req.sessionId, type: req.type }, 'callback could not be published');
      return;
    }
    // Wait for the delivery record, so the session's next callback cannot overtake this one.
    const record = await this.poller.wait(req.sessionId, req.eventId, deadlineMs);
    if (!record)
      this.logger.warn({ sessionId: req.sessionId, type: req.type }, 'no delivery record before the deadline');
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
    const record = await this.poller.wait(req.sessionId, req.eventId, deadlineMs, signal);
    if (!record) return fallback(signal?.aborted ? 'aborted' : `no reply within ${deadlineMs} ms`);
    return record.outcome === 'reply'
      ? { reply: record.reply, fallback: false }
      : { reply: record.reply, fallback: true, reason: record.reason ?? 'callback failed' };
  }
}
