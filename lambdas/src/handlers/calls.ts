import { conferenceRoutes as conf } from '@sipms/shared/api/conference-routes';
import { liveCallRoutes as r } from '@sipms/shared/api/live-call-routes';
import type { RecordingRequest } from '@sipms/shared/contracts/live-calls';
import { ValidationError } from '@sipms/shared/errors';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';
import { ownDomain } from '../http/own-domain.js';

/** Live-call control: validated here against the session, carried out by the node that owns the call. */
export const handler = createApiHandler(
  'calls',
  [
    implement(r.placeIvrCall, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      const placed = await controlPlane().liveCalls.placeIvrCall(req.tenantId, body);
      return { status: 200, json: { success: true, ...placed } };
    }),
    implement(r.hangupParticipant, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await controlPlane().liveCalls.participantCommand(req.tenantId, 'hangupParticipant', body);
      return { status: 200, json: { success: true } };
    }),
    implement(r.interruptIvrCommand, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await controlPlane().liveCalls.participantCommand(req.tenantId, 'interruptIvrCommand', body);
      return { status: 200, json: { success: true } };
    }),
    implement(r.connect, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      const connectionId = await controlPlane().liveCalls.connect(req.tenantId, body);
      return { status: 200, json: { success: true, connectionId } };
    }),
    implement(r.splitConnection, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await controlPlane().liveCalls.split(req.tenantId, body);
      return { status: 200, json: { success: true } };
    }),
    implement(r.startRecording, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      const started = await recording(req.tenantId, 'startRecording', body);
      return { status: 200, json: { success: true, ...started } };
    }),
    implement(r.stopRecording, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await recording(req.tenantId, 'stopRecording', body);
      return { status: 200, json: { success: true } };
    }),
    implement(conf.getConference, async (req, { params }) => {
      await ownDomain(req, params.domain);
      return { status: 200, json: await controlPlane().conferences.view(req.tenantId, params.name) };
    }),
    implement(conf.updateConferenceParticipant, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await controlPlane().conferences.updateParticipant(req.tenantId, params.name, params.participantId, body);
      return { status: 200, json: { success: true } };
    }),
    implement(conf.kickConferenceParticipant, async (req, { params }) => {
      await ownDomain(req, params.domain);
      await controlPlane().conferences.kick(req.tenantId, params.name, params.participantId);
      return { status: 200, json: { success: true } };
    }),
    implement(conf.endConference, async (req, { params }) => {
      await ownDomain(req, params.domain);
      await controlPlane().conferences.end(req.tenantId, params.name);
      return { status: 200, json: { success: true } };
    }),
  ],
  apiDeps,
);

/** A recording of a conference (conferenceName) or of a session's connection or participant (the schema checked which). */
function recording(
  tenantId: string,
  kind: 'startRecording' | 'stopRecording',
  body: RecordingRequest,
): Promise<{ fileName?: string }> {
  if (body.conferenceName !== undefined) {
    return controlPlane().conferences.recording(tenantId, kind, { ...body, conferenceName: body.conferenceName });
  }
  const { sessionId, connectionId, replyId } = body;
  if (!sessionId) throw new ValidationError('sessionId', 'sessionId is required (or conferenceName)');
  return controlPlane()
    .liveCalls.recording(tenantId, kind, { sessionId, connectionId, replyId })
    .then(() => ({}));
}
