import { CALLBACK_REPLIES, type CallEventReply } from '@sipms/shared/contracts/callbacks';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { SessionRepository, UsageMeter } from '../ports/call-data.js';
import type { MediaLeg } from '../ports/media.js';
import type { CallDialog, InboundCall, OutboundDialog, SignalingPort } from '../ports/signaling.js';
import type { CallSession } from './call-session.js';
import type { Journal } from './ivr-loop.js';
import type { LiveSessions } from './live-sessions.js';
import { failureEvent, routeFor } from './outbound-call-flow.js';

export interface CallAction {
  destination: string;
  callerId?: string | undefined;
  timeoutSec?: number | undefined;
  headers?: Record<string, string> | undefined;
}

export interface BridgeDeps {
  signaling: Pick<SignalingPort, 'placeCall'>;
  sessions: SessionRepository;
  live: LiveSessions;
  usage: UsageMeter;
  secrets: SecretBox | undefined;
  logger: Logger;
}

/** The SIP status the caller gets when the callee could not be reached and the tenant said `{}`. */
const CALLER_STATUS = { calledPartyBusy: 486, calledPartyNoAnswer: 480, calledPartyFailed: 502 } as const;

export type CalleeOutcome =
  | { kind: 'answered'; callerDialog: CallDialog; callee: OutboundDialog; calleeId: string }
  | { kind: 'unreached'; event: keyof typeof CALLER_STATUS; reason: string; calleeId: string }
  | { kind: 'caller-gone' };

/**
 * The newCall reply `{action:"call"}`: a B2BUA leg to the destination with rtpengine relaying between the
 * two parties. Ringing and early media reach the caller (180/183) and the tenant (callNotify); on answer
 * the caller is answered with rtpengine's SDP and both parties get callAnswered.
 */
export async function callCallee(
  input: {
    session: CallSession;
    call: InboundCall;
    callerId: string;
    leg: MediaLeg;
    action: CallAction;
    journal: Journal;
  },
  deps: BridgeDeps,
): Promise<CalleeOutcome> {
  const { session, call, leg, action, journal } = input;
  const calleeId = randomId('p');
  await deps.sessions.addParticipant(session.sessionId, calleeId, {
    direction: 'outbound',
    from: action.callerId ?? call.from.uri,
    to: action.destination,
    sipCallId: '',
    state: 'setup',
  });
  journal({ kind: 'sip', event: 'calling', destination: action.destination, participantId: calleeId });
  deps.usage.record(session.tenant.tenantId, { callAttempts: 1 });
  const progress = { ringing: false, early: false };
  let callee: OutboundDialog;
  try {
    callee = await deps.signaling.placeCall({
      ...(await routeFor(action.destination, session.tenant, deps.secrets)),
      from: action.callerId
        ? {
            uri: /^sips?:/i.test(action.callerId)
              ? action.callerId
              : `sip:${encodeURIComponent(action.callerId)}@${session.tenant.domain}`,
          }
        : { uri: call.from.uri, ...(call.from.displayName ? { displayName: call.from.displayName } : {}) },
      sdp: leg.offerTowardsPeer,
      ...(action.headers ? { headers: action.headers } : {}),
      ringTimeoutMs: (action.timeoutSec ?? 60) * 1000,
      signal: call.cancelled,
      onProgress: (p) => {
        if (p.sdp && !progress.early) {
          progress.early = true;
          // Early media (ringback, announcements) passes through to the caller before the answer.
          void leg
            .connectPeer(p.sdp)
            .then((sdp) => call.progress(183, sdp))
            .catch((err) => deps.logger.warn({ err }, 'early media could not be connected'));
          void session.notify('callNotify', { participantId: calleeId, event: 'earlyMedia' });
        } else if (p.status === 180 && !progress.ringing) {
          progress.ringing = true;
          if (!progress.early) call.progress(180);
          void session.notify('callNotify', { participantId: calleeId, event: 'ringing' });
        }
      },
    });
  } catch (err) {
    await deps.sessions.setParticipantState(session.sessionId, calleeId, 'ended').catch(() => {});
    if (call.cancelled.aborted) return { kind: 'caller-gone' };
    const { event, reason } = failureEvent(err);
    journal({ kind: 'sip', event: 'callee unreached', callEvent: event, reason, participantId: calleeId });
    return { kind: 'unreached', event, reason, calleeId };
  }

  let callerDialog: CallDialog;
  try {
    callerDialog = await call.answer(await leg.connectPeer(callee.remoteSdp));
  } catch (err) {
    journal({ kind: 'sip', event: 'answer failed', reason: (err as Error).message });
    await callee.hangup();
    await deps.sessions.setParticipantState(session.sessionId, calleeId, 'ended').catch(() => {});
    return { kind: 'caller-gone' };
  }
  journal({ kind: 'sip', event: 'bridged', participantId: calleeId });
  deps.usage.record(session.tenant.tenantId, { answeredCalls: 1 });
  void deps.sessions.setParticipantState(session.sessionId, calleeId, 'active').catch(() => {});
  void session.notify('callAnswered', { participantId: input.callerId });
  void session.notify('callAnswered', { participantId: calleeId });
  return { kind: 'answered', callerDialog, callee, calleeId };
}

/** The SIP status for a caller whose callee was not reached. */
export function callerStatusFor(event: keyof typeof CALLER_STATUS): number {
  return CALLER_STATUS[event];
}

/** Parses a callEvent reply; anything invalid is default handling. */
export function callEventReply(reply: unknown): CallEventReply {
  const parsed = parseOrReason(CALLBACK_REPLIES.callEvent, reply);
  return parsed.ok ? parsed.value : {};
}

/**
 * Two parties talking: ends when either hangs up. The tenant's callEvent reply decides what follows a
 * callee's hang-up: `{}`/drop ends the session, `ivr` sends the caller back to IVR. A caller's hang-up
 * ends the session. Returns 'ivr' when the caller goes back to IVR, else the end reason.
 */
export async function runBridge(
  input: {
    session: CallSession;
    callerId: string;
    calleeId: string;
    callerDialog: CallDialog;
    callee: OutboundDialog;
    journal: Journal;
  },
  deps: BridgeDeps,
): Promise<'ivr' | 'callingPartyDrop' | 'calledPartyDrop' | 'hangup'> {
  const { session, callerId, calleeId, callerDialog, callee, journal } = input;
  const bridgedAt = Date.now();
  const unregisterCaller = deps.live.register(session.sessionId, callerId, {
    interrupt: () => {},
    hangup: () => callerDialog.hangup(),
  });
  const unregisterCallee = deps.live.register(session.sessionId, calleeId, {
    interrupt: () => {},
    hangup: () => callee.hangup(),
  });
  try {
    const first = await Promise.race([
      callerDialog.ended.then((reason) => ({ who: 'caller' as const, reason })),
      callee.ended.then((reason) => ({ who: 'callee' as const, reason })),
    ]);
    journal({ kind: 'sip', event: `${first.who} ended`, reason: first.reason });
    if (first.who === 'caller') {
      await callee.hangup();
      await deps.sessions.setParticipantState(session.sessionId, calleeId, 'ended').catch(() => {});
      if (first.reason === 'remote-bye') {
        await session.request('callEvent', { participantId: callerId, event: 'callingPartyDrop' });
        return 'callingPartyDrop';
      }
      return 'hangup';
    }
    await deps.sessions.setParticipantState(session.sessionId, calleeId, 'ended').catch(() => {});
    const res = await session.request('callEvent', { participantId: calleeId, event: 'calledPartyDrop' });
    const reply = callEventReply(res.reply);
    journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
    if (reply.action === 'ivr') return 'ivr';
    await callerDialog.hangup();
    return first.reason === 'remote-bye' ? 'calledPartyDrop' : 'hangup';
  } finally {
    deps.usage.record(session.tenant.tenantId, { callSeconds: Math.round((Date.now() - bridgedAt) / 1000) });
    unregisterCaller();
    unregisterCallee();
  }
}
