import { z } from 'zod';
import { ConferenceName } from './ivr-command.js';
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
/**
 * A recording names a connection or a replyId of a session, or a conference (`conferenceName`: the mix; with
 * `sessionId` and `participantId`, that participant's session gets recordingReady).
 */
export const RecordingRequest = z
  .object({
    sessionId: id.optional(),
    connectionId: id.optional(),
    replyId: id.optional(),
    conferenceName: ConferenceName.optional(),
    participantId: id.optional(),
  })
  .superRefine((r, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (r.conferenceName !== undefined) {
      if (r.connectionId || r.replyId) issue('conferenceName', 'conferenceName goes without connectionId and replyId');
      else if (r.participantId && !r.sessionId) issue('sessionId', 'participantId needs the sessionId it belongs to');
      else if (r.sessionId && !r.participantId)
        issue('participantId', 'participantId goes with sessionId: the participant whose session gets recordingReady');
      return;
    }
    if (!r.sessionId) issue('sessionId', 'sessionId is required (or conferenceName)');
    else if (!r.connectionId && !r.replyId) issue('connectionId', 'connectionId or replyId is required');
  });
export type RecordingRequest = z.infer<typeof RecordingRequest>;

/** `POST …/conference/{name}/participants/{participantId}`: what changes. */
export const ConferenceParticipantUpdate = z
  .object({
    muted: z.boolean().optional().describe('not heard by the others'),
    deaf: z.boolean().optional().describe('hears nothing'),
  })
  .refine((u) => u.muted !== undefined || u.deaf !== undefined, {
    message: 'muted or deaf is required',
    path: ['muted'],
  });
