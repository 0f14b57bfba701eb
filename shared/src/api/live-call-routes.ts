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
      'Progress and answer arrive as callNotify/callAnswered, then getIvrCommand as for inbound calls; busy, no answer and failure as callEvent.',
    tags: ['live calls'],
    params,
    body: PlaceIvrCallRequest,
    responses: { 200: { description: 'the call is being placed', schema: PlaceIvrCallResponse } },
    errors: ['not_found', 'conflict', 'unavailable', 'rate_limited'],
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
    tags: ['live calls'],
    params,
    body: ParticipantRequest,
    responses: { 200: { description: 'interrupted', schema: Success } },
    errors: ['not_found', 'conflict'],
    example: { sessionId: 's0123', participantId: 'p0123' },
  }),
};

/** Declared for the contract, not routed yet: bridging and recording land with issue 6's second half. */
export const PLANNED_LIVE_CALL_BODIES = { ConnectRequest, SplitRequest, RecordingRequest };

export const LIVE_CALL_ROUTES = Object.values(liveCallRoutes);
