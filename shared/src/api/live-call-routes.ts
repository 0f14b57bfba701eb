import { z } from 'zod';
import {
  ConnectRequest,
  ParticipantRequest,
  PlaceIvrCallRequest,
  RecordingRequest,
  SplitRequest,
} from '../contracts/live-calls.js';
import { DomainParam, Success } from '../contracts/rest.js';
import { defineRoute } from './route-definition.js';

const params = z.object({ domain: DomainParam });

export const ConnectResponse = z
  .object({ success: z.literal(true), connectionId: z.string() })
  .meta({ id: 'ConnectResponse' });

export const RecordingStarted = z
  .object({
    success: z.literal(true),
    fileName: z.string().optional().describe('with conferenceName: the prompt file the mix will be stored as'),
  })
  .meta({ id: 'RecordingStarted' });

export const PlaceIvrCallResponse = z
  .object({ success: z.literal(true), sessionId: z.string(), participantId: z.string() })
  .meta({ id: 'PlaceIvrCallResponse' });

/**
 * Live-call control under /mediaservice/{domain}: commands reach the media node that owns the call,
 * wherever the request landed. Every POST honours `Idempotency-Key`.
 */
export const liveCallRoutes = {
  placeIvrCall: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/placeivrcall',
    group: 'calls',
    auth: true,
    operationId: 'placeIvrCall',
    summary: 'Call a SIP URI or number and run IVR with it (optionally joining an existing session)',
    description:
      'Progress and answer arrive as callNotify/callAnswered, then getIvrCommand as for inbound calls; busy, no answer and failure as callEvent. ' +
      "The destination must be allowed by the operator's outbound allow-list and the tenant's own (403 destination_not_allowed).",
    tags: ['live calls'],
    params,
    body: PlaceIvrCallRequest,
    responses: { 200: { description: 'the call is being placed', schema: PlaceIvrCallResponse } },
    errors: ['not_found', 'conflict', 'unavailable', 'rate_limited', 'destination_not_allowed'],
    example: { destination: 'sip:agent@pbx.example.com', callerId: '+4930123456', timeoutSec: 30 },
  }),
  hangupParticipant: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/hangupparticipant',
    group: 'calls',
    auth: true,
    operationId: 'hangupParticipant',
    summary: 'Hang up one participant',
    tags: ['live calls'],
    params,
    body: ParticipantRequest,
    responses: { 200: { description: 'the participant is being hung up', schema: Success } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', participantId: 'p0123' },
  }),
  interruptIvrCommand: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/interruptivrcommand',
    group: 'calls',
    auth: true,
    operationId: 'interruptIvrCommand',
    summary: "Stop the participant's running IVR command; the next getIvrCommand follows",
    description:
      'A participant in a conference leaves it: its next getIvrCommand carries conferenceResult {reason: "interrupted"}.',
    tags: ['live calls'],
    params,
    body: ParticipantRequest,
    responses: { 200: { description: 'interrupted', schema: Success } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', participantId: 'p0123' },
  }),
  connect: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/connect',
    group: 'calls',
    auth: true,
    operationId: 'connect',
    summary: 'Connect two participants of a session: they leave IVR and hear each other',
    description:
      'A hang-up of either sends callEvent (callingPartyDrop or calledPartyDrop) for the one who left; the reply decides for the other (`ivr` back to IVR, else hang up).',
    tags: ['live calls'],
    params,
    body: ConnectRequest,
    responses: { 200: { description: 'the participants are being connected', schema: ConnectResponse } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', participantIds: ['p0123', 'p4567'] },
  }),
  splitConnection: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/splitconnection',
    group: 'calls',
    auth: true,
    operationId: 'splitConnection',
    summary: 'Split a connection; each participant gets callEvent connectionSplit',
    description: 'Reply `{action:"drop"}` hangs that participant up; anything else returns it to IVR.',
    tags: ['live calls'],
    params,
    body: SplitRequest,
    responses: { 200: { description: 'the connection is being split', schema: Success } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', connectionId: 'c0123' },
  }),
  startRecording: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/startrecording',
    group: 'calls',
    auth: true,
    operationId: 'startRecording',
    summary: 'Record a connection (both parties, mixed), by replyId one participant, or a conference',
    description:
      'With connectionId: both parties mixed into one file, stopped by /stoprecording, a split or a hang-up. With replyId (of a getIvrCommand): the participant it was sent for. ' +
      'With conferenceName (instead of sessionId): the conference mix, stopped by /stoprecording or the end of the conference; the response names the file; recordingReady goes to the session of sessionId and participantId when given, else to none. ' +
      'The file is stored as a prompt file of the tenant and announced with callNotify recordingReady (reason = the file name).',
    tags: ['live calls'],
    params,
    body: RecordingRequest,
    responses: { 200: { description: 'recording is starting', schema: RecordingStarted } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', connectionId: 'c0123' },
  }),
  stopRecording: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/stoprecording',
    group: 'calls',
    auth: true,
    operationId: 'stopRecording',
    summary: "Stop a connection's (or, with conferenceName, a conference's) recording and store it",
    tags: ['live calls'],
    params,
    body: RecordingRequest,
    responses: { 200: { description: 'recording is stopping', schema: Success } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', connectionId: 'c0123' },
  }),
};

export const LIVE_CALL_ROUTES = Object.values(liveCallRoutes);
