import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import type { ReplyRecord } from '@sipms/shared/domain/session';
import { type CallbackPublisher, EventBridgeCallbackPublisher } from '@sipms/shared/events/callback-publisher';
import type { CallbackEnvelope, CarriedCallback } from '@sipms/shared/events/envelope';
import { type SealedFields, sealSensitiveFields, sensitivePathsIn } from '@sipms/shared/events/sensitive-fields';
import type { Logger } from '@sipms/shared/util/logger';
import type { CallbackPort, CallbackRequest, CallbackResult } from '../ports/callbacks.js';
import type { ReplyPoller } from './reply-poller.js';

/**
 * The callback path of the design: PutEvents to the bus (EventBridge, or the local endpoint speaking its
 * API), a rule routes to the dispatcher, which stores the outcome on the session (the validated reply, or
 * the defined fallback and why); the node's reply poller picks it up. Fields a request marks sensitive
 * are sealed with `secrets` before they leave the node (the bus and its archive hold ciphertext and "***";
 * the dispatcher opens them to POST); without a box such a callback is not sent at all.
 */
export class BusCallbacks implements CallbackPort {
  private readonly bus: CallbackPublisher;

  constructor(
    events: EventBridgeClient,
    busName: string,
    private readonly poller: ReplyPoller,
    private readonly nodeId: string,
    private readonly logger: Logger,
    private readonly secrets?: Pick<SecretBox, 'seal'>,
    /** Told each round trip's platform share: publish → record found, less the webhook's time (OverloadGuard). */
    private readonly observeOverhead?: (ms: number) => void,
  ) {
    this.bus = new EventBridgeCallbackPublisher(events, busName);
  }

  /** The payload as the bus may carry it: sensitive fields sealed, "***" in their place. */
  private async sealed(req: CallbackRequest): Promise<{ payload: CallbackEnvelope['payload']; sealed?: SealedFields }> {
    const payload = req.payload as CallbackEnvelope['payload'];
    const paths = sensitivePathsIn(payload, req.sensitive);
    if (paths.length === 0) return { payload };
    if (!this.secrets) {
      throw new Error('sensitive fields cannot be sealed: no secrets key (SECRETS_KEY or SECRETS_KMS_KEY_ID)');
    }
    return sealSensitiveFields(payload, paths, this.secrets, { tenantId: req.tenantId, eventId: req.eventId });
  }

  /** One callback as the bus carries it: ids, its (sealed) body and trace context. */
  private async carriedForm(req: CallbackRequest, time: string): Promise<CarriedCallback> {
    const { payload, sealed } = await this.sealed(req);
    return {
      id: req.eventId,
      seq: req.seq,
      type: req.type,
      time,
      payload,
      ...(sealed ? { sealed } : {}),
      ...(req.traceparent ? { traceparent: req.traceparent } : {}),
    };
  }

  private async publish(req: CallbackRequest, expectsReply: boolean): Promise<void> {
    const time = new Date().toISOString();
    const carried = await Promise.all((req.carried ?? []).map((c) => this.carriedForm(c, time)));
    const envelope: CallbackEnvelope = {
      ...(await this.carriedForm(req, time)),
      tenantId: req.tenantId,
      sessionId: req.sessionId,
      nodeId: this.nodeId,
      expectsReply,
      ...(carried.length > 0 ? { carried } : {}),
    };
    await this.bus.publish(envelope);
  }

  /** The platform's share of a round trip that began at `started`: the rest is the tenant's webhook. */
  private observed(started: number, record: ReplyRecord): void {
    this.observeOverhead?.(performance.now() - started - (record.webhookMs ?? 0));
  }

  async notify(req: CallbackRequest, deadlineMs: number): Promise<void> {
    const started = performance.now();
    try {
      await this.publish(req, false);
    } catch (err) {
      this.logger.error({ err, sessionId: req.sessionId, type: req.type }, 'callback could not be published');
      return;
    }
    // Wait for the delivery record, so the session's next callback cannot overtake this one.
    const record = await this.poller.wait(req.sessionId, req.eventId, deadlineMs);
    if (record) this.observed(started, record);
    else this.logger.warn({ sessionId: req.sessionId, type: req.type }, 'no delivery record before the deadline');
  }

  async request(req: CallbackRequest, deadlineMs: number, signal?: AbortSignal): Promise<CallbackResult> {
    const fallback = (reason: string): CallbackResult => ({
      reply: FALLBACK_REPLIES[req.type as keyof typeof FALLBACK_REPLIES] ?? {},
      fallback: true,
      reason,
    });
    const started = performance.now();
    try {
      await this.publish(req, true);
    } catch (err) {
      this.logger.error({ err, sessionId: req.sessionId, type: req.type }, 'callback could not be published');
      return fallback(`event could not be published: ${(err as Error).message}`);
    }
    const record = await this.poller.wait(req.sessionId, req.eventId, deadlineMs, signal);
    if (!record && signal?.aborted) return fallback('aborted');
    if (!record) {
      // The dispatcher writes an outcome within the tenant's retries and fallback URL: none means a delivery
      // or a read that went wrong, which the operator needs to see.
      this.logger.warn({ sessionId: req.sessionId, type: req.type, deadlineMs }, 'no reply before the deadline');
      return fallback(`no reply within ${deadlineMs} ms`);
    }
    this.observed(started, record);
    return record.outcome === 'reply'
      ? { reply: record.reply, fallback: false }
      : { reply: record.reply, fallback: true, reason: record.reason ?? 'callback failed' };
  }
}
