import { z } from 'zod';
import { ConferenceName } from '../contracts/ivr-command.js';
import { ConferenceParticipantUpdate } from '../contracts/live-calls.js';
import { DomainParam, Success } from '../contracts/rest.js';
import { defineRoute } from './route-definition.js';

const conferenceParams = z.object({ domain: DomainParam, name: ConferenceName.describe("the conference's name") });
const participantParams = conferenceParams.extend({
  participantId: z.string().min(1).max(64).describe('a participant in the conference'),
});

export const ConferenceView = z
  .object({
    name: z.string(),
    createdAt: z.string().describe('when the first participant joined'),
    maxParticipants: z.number().int(),
    count: z.number().int().describe('participants in the conference now'),
    recording: z.boolean().describe('the mix is being recorded'),
    participants: z.array(
      z.object({
        participantId: z.string(),
        sessionId: z.string(),
        muted: z.boolean(),
        deaf: z.boolean(),
        joinedAt: z.string(),
      }),
    ),
  })
  .meta({ id: 'Conference' });

/**
 * Conference control under /mediaservice/{domain}/conference (docs/conferences.md). Participants join with
 * the IVR command `conference`; these routes list, mute, deafen, kick and end. Commands reach the media node
 * hosting the conference, wherever the request landed; the effect follows within the node's inbox interval.
 */
export const conferenceRoutes = {
  getConference: defineRoute({
    routeKey: 'GET /mediaservice/{domain}/conference/{name}',
    group: 'calls',
    auth: true,
    operationId: 'getConference',
    summary: 'A conference and its participants',
    tags: ['conferences'],
    params: conferenceParams,
    responses: { 200: { description: 'the conference', schema: ConferenceView } },
    errors: ['not_found'],
  }),
  updateConferenceParticipant: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/conference/{name}/participants/{participantId}',
    group: 'calls',
    auth: true,
    operationId: 'updateConferenceParticipant',
    summary: 'Mute or unmute, deafen or undeafen a participant',
    tags: ['conferences'],
    params: participantParams,
    body: ConferenceParticipantUpdate,
    responses: { 200: { description: 'the change is on its way to the hosting node', schema: Success } },
    errors: ['not_found'],
    example: { muted: true },
  }),
  kickConferenceParticipant: defineRoute({
    routeKey: 'DELETE /mediaservice/{domain}/conference/{name}/participants/{participantId}',
    group: 'calls',
    auth: true,
    operationId: 'kickConferenceParticipant',
    summary: 'Take a participant out of the conference (conferenceResult reason kicked)',
    description:
      'The participant stays on the call: its next getIvrCommand carries conferenceResult {reason: "kicked"}.',
    tags: ['conferences'],
    params: participantParams,
    responses: { 200: { description: 'the participant is being taken out', schema: Success } },
    errors: ['not_found'],
  }),
  endConference: defineRoute({
    routeKey: 'DELETE /mediaservice/{domain}/conference/{name}',
    group: 'calls',
    auth: true,
    operationId: 'endConference',
    summary: 'End the conference: every participant leaves (conferenceResult reason ended)',
    tags: ['conferences'],
    params: conferenceParams,
    responses: { 200: { description: 'the conference is ending', schema: Success } },
    errors: ['not_found'],
  }),
};

export const CONFERENCE_ROUTES = Object.values(conferenceRoutes);
