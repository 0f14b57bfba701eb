import { z } from 'zod';
import { callDestination, callerIdField } from './sip-fields.js';

/** Bodies of the live-call REST API under /mediaservice/{domain}/… (docs/api.md). Unknown fields are ignored. */

const id = z.string().min(1).max(64);

export const PlaceIvrCallRequest = z.object({
  /** A SIP URI (`sip:alice@example.com`) or a number routed through the tenant's trunk. */
  destination: callDestination,
  callerId: callerIdField.optional(),
  /** Add the new participant to this existing session. */
  sessionId: id.optional(),
  sessionReferenceId: z.string().min(1).max(128).optional(),
  timeoutSec: z.number().int().min(1).max(300).default(60),
});
export type PlaceIvrCallRequest = z.infer<typeof PlaceIvrCallRequest>;

export const ParticipantRequest = z.object({ sessionId: id, participantId: id, replyId: id.optional() });
export const ConnectRequest = z.object({ sessionId: id, participantIds: z.tuple([id, id]) });
export const SplitRequest = z.object({ sessionId: id, connectionId: id });
export const RecordingRequest = z
  .object({ sessionId: id, connectionId: id.optional(), replyId: id.optional() })
  .refine((r) => r.connectionId || r.replyId, {
    message: 'connectionId or replyId is required',
    path: ['connectionId'],
  });
