import { CALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, SessionRepository, TenantDirectory, UsageMeter } from '../ports/call-data.js';
import type { CallbackPort } from '../ports/callbacks.js';
import type { MediaLeg, MediaPort } from '../ports/media.js';
import type { CallDialog, InboundCall, SignalingPort } from '../ports/signaling.js';
import { callCallee, callEventReply, callerStatusFor, runBridge } from './bridge.js';
import type { CallLimits } from './call-limits.js';
import { CallSession } from './call-session.js';
import { InFlight } from './in-flight.js';
import { type Journal, runIvrLoop } from './ivr-loop.js';
import type { LiveSessions } from './live-sessions.js';

export interface CallFlowDeps {
  nodeId: string;
  tenants: TenantDirectory;
  sessions: SessionRepository;
  media: MediaPort;
  callbacks: CallbackPort;
  audio: AudioSources;
  live: LiveSessions;
  signaling: Pick<SignalingPort, 'placeCall'>;
  limits: Pick<CallLimits, 'acquire' | 'release'>;
  usage: UsageMeter;
  secrets: SecretBox | undefined;
  logger: Logger;
}

/**
 * The inbound call flow (ARCHITECTURE.md, "Data flow of one inbound IVR call"): tenant lookup, session,
 * media offer, newCall, then the IVR loop driven by getIvrCommand, and the end of the session.
 * It sees only ports: no SIP stack, no rtpengine client, no AWS SDK.
 */
export class InboundCallFlow {
  private readonly active = new InFlight();
  private draining = false;

  constructor(private readonly deps: CallFlowDeps) {}

  get activeCalls(): number {
    return this.active.size;
  }

  /** Stop taking new calls (503), e.g. while the node drains before termination. */
  stopAccepting(): void {
    this.draining = true;
  }

  /** Entry point for the signaling adapter; never throws. */
  accept(call: InboundCall): void {
    if (this.draining) {
      call.reject(503, 'Service Unavailable', { 'Retry-After': '5' });
      return;
    }
    const run = this.handle(call).catch((err) => {
      this.deps.logger.error({ err, callId: call.callId }, 'call flow failed');
      try {
        call.reject(500, 'Server Internal Error');
      } catch {
        // a final response was already sent
      }
    });
    this.active.track(run);
  }

  /** Resolves when every call in progress has ended (used when draining). */
  async drained(): Promise<void> {
    await this.active.drained();
  }

  private async handle(call: InboundCall): Promise<void> {
    const { deps } = this;
    const tenant = await deps.tenants.resolveInbound(call.requestHost, call.requestUser);
    if (!tenant) {
      // Unknown target: no session, no callback, no state.
      call.reject(404, 'Not Found');
      return;
    }
    if (!call.sdp) {
      call.reject(488, 'SDP Offer Required');
      return;
    }
    const refused = await deps.limits.acquire(tenant);
    if (refused) {
      deps.logger.warn({ tenantId: tenant.tenantId, limit: refused.limit }, 'call refused: tenant limit');
      call.reject(503, `Service Unavailable (${refused.message})`, {
        'Retry-After': '1',
        Warning: `399 sip-mediaserver "${refused.message}"`,
      });
      return;
    }
    deps.usage.record(tenant.tenantId, { callAttempts: 1 });
    let answeredAt: number | undefined;
    const session = new CallSession(tenant, deps.callbacks);
    const participantId = randomId('p');
    const log = deps.logger.child({ sessionId: session.sessionId, callId: call.callId, tenantId: tenant.tenantId });
    const journal = (entry: Record<string, unknown> & { kind: 'sip' | 'command' | 'media' | 'error' }) =>
      void deps.sessions.journal(session.sessionId, entry).catch((err) => log.warn({ err }, 'journal write failed'));

    try {
      await deps.sessions.create({
        sessionId: session.sessionId,
        tenantId: tenant.tenantId,
        nodeId: deps.nodeId,
        state: 'active',
        createdAt: new Date(session.startedAt).toISOString(),
        participants: {
          [participantId]: {
            direction: 'inbound',
            from: call.from.uri,
            to: call.to.uri,
            sipCallId: call.callId,
            state: 'setup',
          },
        },
      });
    } catch (err) {
      deps.limits.release(tenant.tenantId);
      throw err;
    }
    journal({ kind: 'sip', event: 'invite', from: call.from.uri, to: call.to.uri, source: call.source });
    const disown = deps.live.own(session);

    let leg: MediaLeg | undefined;
    let endReason = 'unknown';
    try {
      try {
        leg = await deps.media.openLeg({
          callId: call.callId,
          callerTag: call.from.tag ?? '',
          ivrTag: randomId('m', 10),
          offerSdp: call.sdp,
        });
      } catch (err) {
        log.error({ err }, 'media offer failed');
        journal({ kind: 'error', event: 'media offer failed', reason: (err as Error).message });
        call.reject(488, 'Not Acceptable Here');
        endReason = 'mediaFailed';
        return;
      }

      const newCall = await session.request(
        'newCall',
        {
          participantId,
          sipCallId: call.callId,
          from: {
            uri: call.from.uri,
            user: call.from.user,
            ...(call.from.displayName ? { displayName: call.from.displayName } : {}),
          },
          to: { uri: call.to.uri, user: call.to.user },
          requestUri: call.requestUri,
          headers: call.xHeaders,
          sourceAddress: call.source.address,
          transport: call.source.transport,
        },
        call.cancelled,
      );
      if (call.cancelled.aborted) {
        journal({ kind: 'sip', event: 'cancelled' });
        endReason = 'callingPartyCancel';
        return;
      }
      const parsed = parseOrReason(CALLBACK_REPLIES.newCall, newCall.reply);
      const action = parsed.ok ? parsed.value : { action: 'drop' as const, sipStatus: 480, reason: 'invalid reply' };
      journal({
        kind: 'command',
        callback: 'newCall',
        action: action.action,
        fallback: newCall.fallback,
        reason: newCall.reason,
      });

      switch (action.action) {
        case 'drop':
          call.reject(action.sipStatus, action.reason);
          endReason = 'dropped';
          return;
        case 'redirect':
          call.redirect([action.contact]);
          endReason = 'redirected';
          return;
        case 'call': {
          const outcome = await callCallee({ session, call, callerId: participantId, leg, action, journal }, deps);
          if (outcome.kind === 'caller-gone') {
            endReason = 'callingPartyCancel';
            return;
          }
          if (outcome.kind === 'unreached') {
            const res = await session.request('callEvent', {
              participantId: outcome.calleeId,
              event: outcome.event,
              reason: outcome.reason,
            });
            const reply = callEventReply(res.reply);
            journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
            if (reply.action !== 'ivr') {
              call.reject(callerStatusFor(outcome.event));
              endReason = outcome.event;
              return;
            }
            break; // the tenant sends the caller to IVR instead
          }
          answeredAt = Date.now();
          deps.usage.record(tenant.tenantId, { answeredCalls: 1 });
          void deps.sessions.setParticipantState(session.sessionId, participantId, 'active').catch(() => {});
          const bridged = await runBridge(
            {
              session,
              callerId: participantId,
              calleeId: outcome.calleeId,
              callerDialog: outcome.callerDialog,
              callee: outcome.callee,
              journal,
            },
            deps,
          );
          if (bridged !== 'ivr') {
            endReason = bridged;
            return;
          }
          // Back to IVR: the caller is answered already; only the media moves (no re-INVITE needed).
          await leg.connectIvr();
          endReason = await this.ivr(session, participantId, outcome.callerDialog, leg, journal, log);
          return;
        }
        case 'ivr':
          break;
      }

      const answerSdp = await leg.connectIvr();
      let dialog: CallDialog;
      try {
        dialog = await call.answer(answerSdp);
      } catch (err) {
        journal({ kind: 'sip', event: 'answer failed', reason: (err as Error).message });
        endReason = call.cancelled.aborted ? 'callingPartyCancel' : 'answerFailed';
        return;
      }
      journal({ kind: 'sip', event: 'answered' });
      answeredAt = Date.now();
      deps.usage.record(tenant.tenantId, { answeredCalls: 1 });
      void deps.sessions.setParticipantState(session.sessionId, participantId, 'active').catch(() => {});
      void session.notify('callAnswered', { participantId });
      endReason = await this.ivr(session, participantId, dialog, leg, journal, log);
    } finally {
      deps.limits.release(tenant.tenantId);
      if (answeredAt) deps.usage.record(tenant.tenantId, { callSeconds: Math.round((Date.now() - answeredAt) / 1000) });
      await deps.sessions.setParticipantState(session.sessionId, participantId, 'ended').catch(() => {});
      await leg?.close();
      await deps.sessions
        .end(session.sessionId, endReason)
        .catch((err) => log.warn({ err }, 'session end write failed'));
      await session.notify('sessionCompleted', {
        sessionDuration: Math.round((Date.now() - session.startedAt) / 100) / 10,
        reason: endReason,
      });
      log.info({ reason: endReason }, 'session completed');
      disown();
    }
  }

  private ivr(
    session: CallSession,
    participantId: string,
    dialog: CallDialog,
    leg: MediaLeg,
    journal: Journal,
    log: Logger,
  ) {
    const { deps } = this;
    return runIvrLoop({
      session,
      participantId,
      dialog,
      leg,
      audio: deps.audio,
      live: deps.live,
      usage: deps.usage,
      journal,
      log,
      dropEvent: 'callingPartyDrop',
    });
  }
}
