import { z } from 'zod';
import { CallbackName } from '../contracts/callbacks.js';
import { TRACEPARENT_PATTERN } from '../observability/trace-context.js';
import { MAX_CARRIED } from './delivery-budget.js';
import { SealedFields } from './sensitive-fields.js';

/**
 * The event envelope: what the media node puts on the bus (`Detail` of a PutEvents entry) and the
 * dispatcher consumes. One schema for AWS EventBridge and the local bus.
 */

export const EVENT_SOURCE = 'sip-mediaserver.media-node';
export const CALLBACK_DETAIL_TYPE = 'callback';

/**
 * A notification carried by a later callback of its session: delivered first (its own POST, event id,
 * signature, journal entry and stored outcome), in order, by the later callback's delivery. The node
 * waits for one outcome instead of one per callback: on AWS one EventBridge round trip less per notification.
 */
export const CarriedCallback = z.object({
  id: z.string().min(1),
  seq: z.number().int().nonnegative(),
  type: CallbackName,
  time: z.iso.datetime(),
  payload: z.record(z.string(), z.unknown()),
  sealed: SealedFields.optional(),
  traceparent: z.string().regex(TRACEPARENT_PATTERN).optional(),
});
export type CarriedCallback = z.infer<typeof CarriedCallback>;

export const CallbackEnvelope = z.object({
  /** Event id: stable across retries, sent as X-Mediaserver-Event-Id, keys the reply item. */
  id: z.string().min(1),
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  type: CallbackName,
  time: z.iso.datetime(),
  /** The node that owns the session and waits for the reply. */
  nodeId: z.string().min(1),
  expectsReply: z.boolean(),
  /**
   * The callback body as the tenant receives it, except for the fields in `sealed`: those read "***"
   * here, so the bus, its archive and the journal never hold them in the clear.
   */
  payload: z.record(z.string(), z.unknown()),
  /** Sensitive fields (`dtmf.sensitive`) by path in `payload`, sealed; the dispatcher opens them to POST. */
  sealed: SealedFields.optional(),
  /** W3C trace context of this callback (one trace per call); the webhook receives a child of it. */
  traceparent: z.string().regex(TRACEPARENT_PATTERN).optional(),
  /** Earlier notifications of the session this delivery sends first, in `seq` order (delivery-budget.ts). */
  carried: z.array(CarriedCallback).max(MAX_CARRIED).optional(),
});
export type CallbackEnvelope = z.infer<typeof CallbackEnvelope>;

/** The EventBridge event as delivered to a rule target. */
export interface BusEvent<D = unknown> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}
