import { liveCallRoutes as r } from '@sipms/shared/api/live-call-routes';
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
      await controlPlane().liveCalls.recording(req.tenantId, 'startRecording', body);
      return { status: 200, json: { success: true } };
    }),
    implement(r.stopRecording, async (req, { params, body }) => {
      await ownDomain(req, params.domain);
      await controlPlane().liveCalls.recording(req.tenantId, 'stopRecording', body);
      return { status: 200, json: { success: true } };
    }),
  ],
  apiDeps,
);
