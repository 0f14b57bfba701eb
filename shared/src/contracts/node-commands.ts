import { z } from 'zod';
import { ConferenceName } from './ivr-command.js';
import { callDestination, callerIdField } from './sip-fields.js';

/**
 * Commands the API hands to the media node that owns a call (or that should place one), through the
 * node's inbox. The API produces them and the node validates each at its edge: one schema, no casts.
 */

const id = z.string().min(1).max(64);

const Envelope = {
  commandId: id,
  tenantId: id,
  createdAt: z.string(),
};

export const PlaceIvrCallPayload = z.object({
  sessionId: id,
  participantId: id,
  /** The participant joins an existing session (owned by the node this command went to). */
  joinExisting: z.boolean(),
  destination: callDestination,
  callerId: callerIdField.optional(),
  sessionReferenceId: z.string().min(1).max(128).optional(),
  timeoutSec: z.number().int().min(1).max(300),
});
export type PlaceIvrCallPayload = z.infer<typeof PlaceIvrCallPayload>;

const ParticipantPayload = z.object({ sessionId: id, participantId: id });
const ConnectPayload = z.object({ sessionId: id, participantIds: z.tuple([id, id]), connectionId: id });
const SplitPayload = z.object({ sessionId: id, connectionId: id });
/** A recording names a connection (both parties mixed) or a replyId (the participant it was sent for). */
const RecordingPayload = z.union([
  z.object({ sessionId: id, connectionId: id }),
  z.object({ sessionId: id, replyId: id }),
]);

/** A conference command names the instance the API saw (a later conference of the same name is another). */
const ConferenceRef = { name: ConferenceName, conferenceId: id };
const ConferenceUpdatePayload = z.object({
  ...ConferenceRef,
  participantId: id,
  muted: z.boolean().optional(),
  deaf: z.boolean().optional(),
});
const ConferenceParticipantPayload = z.object({ ...ConferenceRef, participantId: id });
const ConferencePayload = z.object(ConferenceRef);
const ConferenceRecordingPayload = z.object({
  ...ConferenceRef,
  fileName: z.string().min(1).max(200),
  /** The participant whose session gets recordingReady (none: the recording is announced to no session). */
  notify: z.object({ sessionId: id, participantId: id }).optional(),
});

/**
 * A participant whose call is on another media node asks the host to admit it (docs/conferences.md, "Across
 * nodes"): the leg token and the relay address its frames come from travel only through the inbox, so the host
 * accepts frames for that leg from that address alone.
 */
const ConferenceAdmitPayload = z.object({
  ...ConferenceRef,
  participantId: id,
  sessionId: id,
  /** The node holding the participant's call. */
  nodeId: id,
  token: z.string().regex(/^[0-9a-f]{32}$/),
  relay: z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) }),
  codec: z.enum(['pcmu', 'pcma']),
  muted: z.boolean(),
  deaf: z.boolean(),
  beep: z.boolean(),
  endOnExit: z.boolean(),
});
export type ConferenceAdmitPayload = z.infer<typeof ConferenceAdmitPayload>;

/** Commands for the node hosting a conference (docs/conferences.md). */
export const ConferenceNodeCommand = z.discriminatedUnion('kind', [
  z.object({ ...Envelope, kind: z.literal('conferenceUpdate'), payload: ConferenceUpdatePayload }),
  z.object({ ...Envelope, kind: z.literal('conferenceKick'), payload: ConferenceParticipantPayload }),
  z.object({ ...Envelope, kind: z.literal('conferenceEnd'), payload: ConferencePayload }),
  z.object({ ...Envelope, kind: z.literal('conferenceStartRecording'), payload: ConferenceRecordingPayload }),
  z.object({ ...Envelope, kind: z.literal('conferenceStopRecording'), payload: ConferencePayload }),
  z.object({ ...Envelope, kind: z.literal('conferenceAdmit'), payload: ConferenceAdmitPayload }),
]);
export type ConferenceNodeCommand = z.infer<typeof ConferenceNodeCommand>;
const CONFERENCE_KINDS: ReadonlySet<string> = new Set(ConferenceNodeCommand.options.map((o) => o.shape.kind.value));

/** Commands for the node that owns a session. */
export const NodeCommand = z.discriminatedUnion('kind', [
  z.object({ ...Envelope, kind: z.literal('placeIvrCall'), payload: PlaceIvrCallPayload }),
  z.object({ ...Envelope, kind: z.literal('hangupParticipant'), payload: ParticipantPayload }),
  z.object({ ...Envelope, kind: z.literal('interruptIvrCommand'), payload: ParticipantPayload }),
  z.object({ ...Envelope, kind: z.literal('connect'), payload: ConnectPayload }),
  z.object({ ...Envelope, kind: z.literal('splitConnection'), payload: SplitPayload }),
  z.object({ ...Envelope, kind: z.literal('startRecording'), payload: RecordingPayload }),
  z.object({ ...Envelope, kind: z.literal('stopRecording'), payload: RecordingPayload }),
]);
export type NodeCommand = z.infer<typeof NodeCommand>;

/** Everything a node's inbox carries: session commands and conference commands. */
export const InboxCommand = z.discriminatedUnion('kind', [...NodeCommand.options, ...ConferenceNodeCommand.options]);
export type InboxCommand = z.infer<typeof InboxCommand>;

export function isConferenceCommand(command: InboxCommand): command is ConferenceNodeCommand {
  return CONFERENCE_KINDS.has(command.kind);
}
export type NodeCommandKind = InboxCommand['kind'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A command as the API sends it; the registry adds `commandId` (unless given) and `createdAt`. */
export type NewNodeCommand = DistributiveOmit<InboxCommand, 'commandId' | 'createdAt'> & { commandId?: string };
