import { randomId } from '@sipms/shared/util/ids';
import type { MediaFailureKind, MediaLeg } from '../../ports/media.js';
import type { CallDialog, InboundCall, OutboundDialog } from '../../ports/signaling.js';
import type { CallSession } from '../session/call-session.js';
import { Participant } from '../session/participant.js';
import { callEventReply } from '../session/replies.js';
import type { FlowDeps } from './flow-deps.js';
import { progressReporter } from './progress.js';
import { answerFailureReason, failureEvent, fromFor, routeFor, type UnreachedEvent } from './routing.js';
import { sdpRefusal } from './sdp-addresses.js';

export interface CallAction {
  destination: string;
  callerId?: string | undefined;
  timeoutSec?: number | undefined;
  headers?: Record<string, string> | undefined;
}

export type BridgeDeps = Pick<
  FlowDeps,
  'signaling' | 'sessions' | 'live' | 'usage' | 'secrets' | 'nodeId' | 'destinationPolicy'
>;

export type CalleeOutcome =
  | { kind: 'answered'; callerDialog: CallDialog; callee: OutboundDialog; calleeParticipant: Participant }
  | { kind: 'unreached'; event: UnreachedEvent; reason: string; calleeId: string }
  | { kind: 'caller-gone'; reason: 'callingPartyCancel' | 'ackTimeout' | 'answerFailed' };

/**
 * The newCall reply `{action:"call"}`: a B2BUA leg to the destination with rtpengine relaying between the
 * two parties. Ringing and early media reach the caller (180/183) and the tenant (callNotify); on answer
 * the caller is answered with rtpengine's SDP and both parties get callAnswered.
 */
export async function callCallee(
  input: { caller: Participant; call: InboundCall; leg: MediaLeg; action: CallAction },
  deps: BridgeDeps,
): Promise<CalleeOutcome> {
  const { caller, call, leg, action } = input;
  const session = caller.session;
  const callee = await Participant.join(
    session,
    randomId('p'),
    { direction: 'outbound', from: action.callerId ?? call.from.uri, to: action.destination, sipCallId: '' },
    deps,
    { createSession: false },
  );
  callee.journal({ kind: 'sip', event: 'calling', destination: action.destination });
  let dialog: OutboundDialog;
  try {
    dialog = await deps.signaling.placeCall({
      ...(await routeFor(action.destination, session.tenant, deps.secrets)),
      from: fromFor(session.tenant, action.callerId, call.from),
      sdp: leg.offerTowardsPeer,
      ...(action.headers ? { headers: action.headers } : {}),
      ringTimeoutMs: (action.timeoutSec ?? 60) * 1000,
      // Carried and decremented across the B2BUA, so a loop through us (or other B2BUAs) ends.
      maxForwards: Math.max(0, (call.maxForwards ?? 70) - 1),
      signal: call.cancelled,
      onProgress: progressReporter(callee, {
        // Early media (ringback, announcements) passes through to the caller before the answer.
        earlyMedia: (sdp) => {
          const refused = sdpRefusal(sdp, deps.destinationPolicy);
          if (refused) return callee.journal({ kind: 'error', event: 'early media refused', reason: refused });
          void leg
            .connectPeer(sdp)
            .then((answer) => call.progress(183, answer))
            .catch((err) => session.log.warn({ err }, 'early media could not be connected'));
        },
        ringing: () => call.progress(180),
      }),
    });
  } catch (err) {
    await callee.end();
    if (call.cancelled.aborted) return { kind: 'caller-gone', reason: 'callingPartyCancel' };
    const { event, reason } = failureEvent(err);
    callee.journal({ kind: 'sip', event: 'callee unreached', callEvent: event, reason });
    return { kind: 'unreached', event, reason, calleeId: callee.participantId };
  }

  callee.traceSip(dialog.callId);
  const refused = sdpRefusal(dialog.remoteSdp, deps.destinationPolicy);
  if (refused) {
    callee.journal({ kind: 'error', event: 'callee media refused', reason: refused });
    await dialog.hangup();
    await callee.end();
    return { kind: 'unreached', event: 'calledPartyFailed', reason: refused, calleeId: callee.participantId };
  }
  let callerDialog: CallDialog;
  try {
    callerDialog = await call.answer(await leg.connectPeer(dialog.remoteSdp));
  } catch (err) {
    caller.journal({ kind: 'sip', event: 'answer failed', reason: err instanceof Error ? err.message : String(err) });
    await dialog.hangup();
    await callee.end();
    return { kind: 'caller-gone', reason: answerFailureReason(err, call.cancelled.aborted) };
  }
  caller.answered({ event: 'bridged' });
  callee.answered();
  return { kind: 'answered', callerDialog, callee: dialog, calleeParticipant: callee };
}

/**
 * Two parties talking: ends when either hangs up. The tenant's callEvent reply decides what follows a
 * callee's hang-up: `{}`/drop ends the session, `ivr` sends the caller back to IVR. A caller's hang-up
 * ends the session. The media failing (rtpengine died) or timing out (the caller silent for
 * MEDIA_TIMEOUT_SEC) hangs up both and ends the session like the IVR does (docs/ivr.md). Returns 'ivr'
 * when the caller goes back to IVR, else the end reason.
 */
export async function runBridge(
  input: {
    caller: Participant;
    callee: Participant;
    callerDialog: CallDialog;
    calleeDialog: OutboundDialog;
    /** The caller's media leg, which carries both parties. */
    leg: MediaLeg;
  },
  deps: Pick<BridgeDeps, 'live'>,
): Promise<'ivr' | 'callingPartyDrop' | 'calledPartyDrop' | 'hangup' | MediaFailureKind> {
  const { caller, callee, callerDialog, calleeDialog, leg } = input;
  const session: CallSession = caller.session;
  // Two bridged parties run no IVR command, so there is nothing to interrupt: the journal says so.
  const noCommand = (p: Participant) => () =>
    p.journal({ kind: 'command', event: 'interruptIvrCommand ignored: the participant is bridged, not in IVR' });
  const unregisterCaller = deps.live.register(session.sessionId, caller.participantId, {
    interrupt: noCommand(caller),
    hangup: () => callerDialog.hangup(),
  });
  const unregisterCallee = deps.live.register(session.sessionId, callee.participantId, {
    interrupt: noCommand(callee),
    hangup: () => calleeDialog.hangup(),
  });
  let mediaLost!: (loss: { who: 'media'; kind: MediaFailureKind; reason: string }) => void;
  const lost = new Promise<{ who: 'media'; kind: MediaFailureKind; reason: string }>((r) => (mediaLost = r));
  const unsubscribeMedia = leg.onFailure((reason, kind) => mediaLost({ who: 'media', kind, reason }));
  try {
    const first = await Promise.race([
      callerDialog.ended.then((reason) => ({ who: 'caller' as const, reason })),
      calleeDialog.ended.then((reason) => ({ who: 'callee' as const, reason })),
      lost,
    ]);
    if (first.who === 'media') return await endOnMediaLoss(first, input);
    caller.journal({ kind: 'sip', event: `${first.who} ended`, reason: first.reason });
    if (first.who === 'caller') {
      await calleeDialog.hangup();
      await callee.end();
      if (first.reason === 'remote-bye') {
        await session.request('callEvent', { participantId: caller.participantId, event: 'callingPartyDrop' });
        return 'callingPartyDrop';
      }
      return 'hangup';
    }
    await callee.end();
    const res = await session.request('callEvent', {
      participantId: callee.participantId,
      event: 'calledPartyDrop',
      ...(callee.reachedMaxDuration ? { reason: 'maxDuration' } : {}),
    });
    const reply = callEventReply(res.reply);
    caller.journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
    if (reply.action === 'ivr') return 'ivr';
    await callerDialog.hangup();
    return first.reason === 'remote-bye' ? 'calledPartyDrop' : 'hangup';
  } finally {
    unsubscribeMedia();
    await callee.end();
    unregisterCaller();
    unregisterCallee();
  }
}

/** The bridge's media is gone: both parties get a BYE, the tenant callNotify and callEvent ivrFailed. */
async function endOnMediaLoss(
  loss: { kind: MediaFailureKind; reason: string },
  input: { caller: Participant; callee: Participant; callerDialog: CallDialog; calleeDialog: OutboundDialog },
): Promise<MediaFailureKind> {
  const { caller, callee, callerDialog, calleeDialog } = input;
  const { session } = caller;
  const what = loss.kind === 'mediaTimeout' ? 'media timeout' : 'media failed';
  caller.journal({ kind: 'error', event: what, reason: loss.reason });
  const hangup = (dialog: CallDialog, who: string) =>
    dialog.hangup().catch((err) => session.log.warn({ err, who }, `hang-up after ${what} failed`));
  await Promise.all([hangup(callerDialog, 'caller'), hangup(calleeDialog, 'callee')]);
  await callee.end();
  const { participantId } = caller;
  void session.notify('callNotify', { participantId, event: loss.kind, reason: loss.reason });
  void session.request('callEvent', { participantId, event: 'ivrFailed', reason: `${what}: ${loss.reason}` });
  return loss.kind;
}
