import { z } from 'zod';
import { IvrCommand } from './ivr-command.js';
import { callDestination, callerIdField, sipText, sipUri, tenantHeaders } from './sip-fields.js';

/** The callbacks (docs/contract.md, "Callbacks"): their names, the body each carries, and the reply each expects. */

export const CALLBACK_NAMES = [
  'newCall',
  'getIvrCommand',
  'callAnswered',
  'callNotify',
  'callEvent',
  'sessionCompleted',
] as const;
export const CallbackName = z.enum(CALLBACK_NAMES);
export type CallbackName = z.infer<typeof CallbackName>;

/** Callbacks whose reply steers the call; the media node waits for these. */
export const CALLBACKS_WITH_REPLY: ReadonlySet<CallbackName> = new Set(['newCall', 'getIvrCommand', 'callEvent']);

const Common = {
  sessionId: z.string(),
  seq: z.number().int().nonnegative(),
  timestamp: z.iso.datetime(),
  sessionReferenceId: z.string().optional(),
};

export const Party = z.object({ uri: z.string(), user: z.string(), displayName: z.string().optional() });

export const NewCallBody = z.object({
  ...Common,
  participantId: z.string(),
  replyId: z.string(),
  sipCallId: z.string(),
  from: Party,
  to: Party.omit({ displayName: true }),
  requestUri: z.string(),
  headers: z.record(z.string(), z.string()),
  sourceAddress: z.string(),
  /** `ws`/`wss`: a browser (the console's softphone) over SIP over WebSocket, RFC 7118. */
  transport: z.enum(['udp', 'tcp', 'tls', 'ws', 'wss']),
});
export type NewCallBody = z.infer<typeof NewCallBody>;

export const DtmfParams = z.object({
  digits: z.string(),
  terminationKey: z.string(),
  reason: z.enum(['maxDigits', 'terminationKey', 'timeout']),
});
export type DtmfParams = z.infer<typeof DtmfParams>;

export const STREAM_END_REASONS = ['stopped', 'closed', 'failed', 'dtmf', 'maxDuration'] as const;
export const StreamResult = z.object({
  reason: z.enum(STREAM_END_REASONS),
  durationMs: z.number().int().nonnegative(),
  /** With `failed` (and a `closed` with an error code): what went wrong, for the tenant's logs. */
  error: z.string().optional(),
});
export type StreamResult = z.infer<typeof StreamResult>;

/**
 * Why a participant left a conference (docs/conferences.md): `kicked` (REST), `ended` (the conference was ended
 * by REST), `endOnExit` (an endOnExit participant left), `interrupted` (interruptivrcommand), `full`
 * (maxParticipants reached: not joined), `hostElsewhere` (the conference runs on another media node and the
 * nodes have no conference relay to join across them: not joined), `hostFailed` (the host node died while this
 * participant was in it from another node), `failed` (could not join: `error` says why).
 */
export const CONFERENCE_END_REASONS = [
  'kicked',
  'ended',
  'endOnExit',
  'interrupted',
  'full',
  'hostElsewhere',
  'hostFailed',
  'failed',
] as const;
export type ConferenceEndReason = (typeof CONFERENCE_END_REASONS)[number];
export const ConferenceResult = z.object({
  reason: z.enum(CONFERENCE_END_REASONS),
  /** Time spent in the conference (0 when not joined). */
  durationMs: z.number().int().nonnegative(),
  /** With `failed` and `hostElsewhere`: what went wrong, for the tenant's logs. */
  error: z.string().optional(),
});
export type ConferenceResult = z.infer<typeof ConferenceResult>;

export const GetIvrCommandBody = z.object({
  ...Common,
  participantId: z.string(),
  replyId: z.string(),
  dtmfParams: DtmfParams.optional(),
  recording: z.object({ fileName: z.string(), durationMs: z.number() }).optional(),
  /** After a `stream` command: why it ended and how long it ran. */
  streamResult: StreamResult.optional(),
  /** After a `conference` command: why the participant left and how long it was in. */
  conferenceResult: ConferenceResult.optional(),
});
export type GetIvrCommandBody = z.infer<typeof GetIvrCommandBody>;

export const CallAnsweredBody = z.object({
  ...Common,
  participantId: z.string(),
  replyId: z.string(),
  connectionId: z.string().optional(),
});
export const RecordingInfo = z.object({ fileName: z.string(), durationMs: z.number() });
export const CallNotifyBody = z.object({
  ...Common,
  participantId: z.string(),
  event: z.string(),
  reason: z.string().optional(),
  /** With `recordingReady` of an IVR `record` command: the stored prompt file and its length. */
  recording: RecordingInfo.optional(),
  /** With `conferenceJoined` / `conferenceLeft`: the conference's name. */
  name: z.string().optional(),
  /** With `conferenceJoined` / `conferenceLeft`: participants in the conference after the join or leave. */
  count: z.number().int().nonnegative().optional(),
});
export const CALL_EVENTS = [
  'callingPartyDrop',
  'calledPartyDrop',
  'calledPartyBusy',
  'calledPartyNoAnswer',
  'calledPartyFailed',
  'calledPartyAnswered',
  'connectionSplit',
  'ivrFailed',
] as const;
export const CallEventBody = z.object({
  ...Common,
  participantId: z.string(),
  event: z.enum(CALL_EVENTS),
  reason: z.string().optional(),
  /** With `connectionSplit`: the connection that was split. */
  connectionId: z.string().optional(),
});
export const SessionCompletedBody = z.object({
  ...Common,
  sessionDuration: z.number().nonnegative(),
  reason: z.string(),
});

export const CALLBACK_BODIES = {
  newCall: NewCallBody,
  getIvrCommand: GetIvrCommandBody,
  callAnswered: CallAnsweredBody,
  callNotify: CallNotifyBody,
  callEvent: CallEventBody,
  sessionCompleted: SessionCompletedBody,
} as const;

/** The body the tenant receives for each callback. */
export type CallbackBody<N extends CallbackName> = z.infer<(typeof CALLBACK_BODIES)[N]>;
export type AnyCallbackBody = CallbackBody<CallbackName>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What the media node fills in for a callback; the session adds the common fields and the replyId. */
export type CallbackFields<N extends CallbackName> = DistributiveOmit<
  CallbackBody<N>,
  'sessionId' | 'seq' | 'timestamp' | 'sessionReferenceId' | 'replyId'
>;
export type CallEventName = (typeof CALL_EVENTS)[number];

// ---- replies -------------------------------------------------------------------------------------

/** A rejection: 4xx-6xx (a 3xx needs a Contact: that is `redirect`). */
const rejectStatus = z.number().int().min(400).max(699);

export const NewCallReply = z.discriminatedUnion('action', [
  z.object({ action: z.literal('ivr') }),
  z.object({ action: z.literal('drop'), sipStatus: rejectStatus.default(603), reason: sipText(200).optional() }),
  z.object({
    action: z.literal('call'),
    destination: callDestination,
    callerId: callerIdField.optional(),
    timeoutSec: z.number().int().min(1).max(300).optional(),
    headers: tenantHeaders.optional(),
  }),
  z.object({ action: z.literal('redirect'), contact: sipUri }),
]);
export type NewCallReply = z.infer<typeof NewCallReply>;

export const CallEventReply = z.union([
  z.object({ action: z.literal('drop') }),
  z.object({ action: z.literal('ivr') }),
  z.object({ action: z.literal('bridge'), participantIds: z.tuple([z.string(), z.string()]) }),
  z.object({ action: z.undefined().optional() }),
]);
export type CallEventReply = z.infer<typeof CallEventReply>;

/** The schema each reply-bearing callback's reply must satisfy. */
export const CALLBACK_REPLIES = {
  newCall: NewCallReply,
  getIvrCommand: IvrCommand,
  callEvent: CallEventReply,
} as const;

/** The defined fallback when no valid reply could be had (docs/callback-delivery.md, "Defined fallbacks"). */
export const FALLBACK_REPLIES = {
  newCall: { action: 'drop', sipStatus: 480, reason: 'callback failed' },
  // The caller hears an apology rather than silence, then the call ends.
  getIvrCommand: {
    phrases: [{ format: 'tts', text: 'We are sorry, this service is not available right now. Goodbye.' }],
    bargeIn: 'none',
    hangup: true,
  },
  callEvent: {},
} as const;
