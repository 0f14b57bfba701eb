import type { PlaceIvrCallPayload } from '@sipms/shared/contracts/node-commands';
import { maxCallDurationMs } from '@sipms/shared/domain/tenant';
import { randomId } from '@sipms/shared/util/ids';
import type { OutboundMediaLeg } from '../../ports/media.js';
import { NO_METRICS } from '../../ports/metrics.js';
import type { OutboundDialog } from '../../ports/signaling.js';
import { runIvrLoop } from '../ivr/ivr-loop.js';
import type { Connections } from '../live/connections.js';
import { CallSession } from '../session/call-session.js';
import { InFlight } from '../session/in-flight.js';
import { Participant } from '../session/participant.js';
import { callEventReply } from '../session/replies.js';
import { type FlowDeps, ivrLoopInput } from './flow-deps.js';
import { progressReporter } from './progress.js';
import { callerIdRefusal, failureEvent, fromFor, routeFor } from './routing.js';
import { sdpRefusal } from './sdp-addresses.js';

export interface OutboundFlowDeps extends FlowDeps {
  connections: Pick<Connections, 'connect'>;
}

/** A placeivrcall as the API handed it to this node. */
export type PlaceIvrCallCommand = PlaceIvrCallPayload & { tenantId: string };

/**
 * An outbound IVR call (POST /placeivrcall): the media engine makes the offer, the SIP stack calls the
 * destination (ringing and early media reported as callNotify), and on answer the called party runs the
 * same IVR loop as a caller. Busy, no answer and failure are callEvents whose reply is honoured.
 */
export class OutboundCallFlow {
  private readonly active = new InFlight();

  constructor(private readonly deps: OutboundFlowDeps) {}

  get activeCalls(): number {
    return this.active.size;
  }

  /** Never throws: every failure is journaled and reported to the tenant. */
  place(cmd: PlaceIvrCallCommand): void {
    const run = this.run(cmd).catch((err) =>
      this.deps.logger.error({ err, sessionId: cmd.sessionId }, 'outbound call flow failed'),
    );
    this.active.track(run);
  }

  async drained(): Promise<void> {
    await this.active.drained();
  }

  private async run(cmd: PlaceIvrCallCommand): Promise<void> {
    const { deps } = this;
    const journalError = (event: string, reason?: string) =>
      deps.sessions
        .journal(cmd.sessionId, {
          kind: 'error',
          event,
          participantId: cmd.participantId,
          ...(reason ? { reason } : {}),
        })
        .catch((err) => deps.logger.warn({ err, sessionId: cmd.sessionId }, 'journal write failed'));
    const tenant = await deps.tenants.get(cmd.tenantId);
    if (!tenant) {
      deps.logger.warn({ tenantId: cmd.tenantId, sessionId: cmd.sessionId }, 'placeivrcall for an unknown tenant');
      await journalError('placeivrcall ignored: unknown tenant');
      return;
    }
    const owned = cmd.joinExisting ? deps.live.session(cmd.sessionId) : undefined;
    if (cmd.joinExisting && (!owned || owned.isCompleted)) {
      await journalError('placeivrcall ignored: session not active on its node');
      return;
    }
    const refused = await deps.limits.acquire(tenant, { countAttempt: false });
    if (refused) {
      // The API checked the limits a moment ago; a race between nodes can still land here.
      await journalError('placeivrcall refused', refused.message);
      return;
    }
    const session = owned ?? new CallSession(tenant, deps, cmd.sessionReferenceId, cmd.sessionId);
    let participant: Participant;
    try {
      participant = await Participant.join(
        session,
        cmd.participantId,
        { direction: 'outbound', from: cmd.callerId ?? '', to: cmd.destination, sipCallId: '' },
        deps,
        { createSession: !owned },
      );
    } catch (err) {
      deps.limits.release(tenant.tenantId);
      throw err;
    }
    const disown = owned ? undefined : deps.live.own(session);
    const metrics = deps.metrics ?? NO_METRICS;
    metrics.callStarted('outbound');
    let leg: OutboundMediaLeg | undefined;
    let endReason = 'unknown';
    try {
      leg = await this.openMedia(participant);
      endReason = leg ? await this.call(cmd, participant, leg, Boolean(owned)) : 'mediaFailed';
      if (participant.reachedMaxDuration) endReason = 'maxDuration';
    } finally {
      metrics.callEnded(endReason);
      deps.limits.release(tenant.tenantId);
      await participant.end();
      await leg?.close();
      // A flow that created the session ends it once its last participant has left.
      if (disown) {
        await session.whenEmpty();
        await session.complete(endReason);
        disown();
      }
      session.log.info({ participantId: participant.participantId, reason: endReason }, 'outbound participant done');
    }
  }

  /** The media for the call; if the media engine refuses, the failure is journaled and is a callEvent. */
  private async openMedia(participant: Participant): Promise<OutboundMediaLeg | undefined> {
    try {
      return await this.deps.media.openOutboundLeg({ legId: participant.participantId });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      participant.session.log.error({ err }, 'media offer failed');
      participant.journal({ kind: 'error', event: 'media offer failed', reason });
      const { participantId } = participant;
      await participant.session.request('callEvent', {
        participantId,
        event: 'calledPartyFailed',
        reason: `media failed: ${reason}`,
      });
      return undefined;
    }
  }

  /** Calls the destination and runs the answered participant; returns its end reason. */
  private async call(
    cmd: PlaceIvrCallCommand,
    participant: Participant,
    leg: OutboundMediaLeg,
    joinsSession: boolean,
  ): Promise<string> {
    const { deps } = this;
    const { session, participantId } = participant;
    const notAllowed = deps.destinationAllowed?.(cmd.destination, session.tenant);
    const refusal =
      notAllowed ??
      (cmd.callerId
        ? await callerIdRefusal(cmd.callerId, session.tenant, (n) => deps.tenants.numberOwner(n))
        : undefined);
    if (refusal) {
      participant.journal({
        kind: 'error',
        event: 'placeivrcall refused',
        field: notAllowed ? 'destination' : 'callerId',
        reason: refusal,
      });
      await session.request('callEvent', { participantId, event: 'calledPartyFailed', reason: refusal });
      return 'calledPartyFailed';
    }
    participant.journal({ kind: 'sip', event: 'invite sent', destination: cmd.destination });
    let dialog: OutboundDialog;
    try {
      dialog = await deps.signaling.placeCall({
        ...(await routeFor(cmd.destination, session.tenant, deps.secrets)),
        from: fromFor(session.tenant, cmd.callerId),
        sdp: leg.offerTowardsPeer,
        ringTimeoutMs: cmd.timeoutSec * 1000,
        onProgress: progressReporter(participant, {
          earlyMedia: (sdp) => {
            const refused = sdpRefusal(sdp, deps.destinationPolicy);
            if (refused) return participant.journal({ kind: 'error', event: 'early media refused', reason: refused });
            void leg.accept(sdp).catch((err) => session.log.warn({ err }, 'early media answer failed'));
          },
        }),
      });
    } catch (err) {
      const { event, reason } = failureEvent(err);
      participant.journal({ kind: 'sip', event: 'call failed', callEvent: event, reason });
      const res = await session.request('callEvent', { participantId, event, reason });
      participant.journal({
        kind: 'command',
        callback: 'callEvent',
        reply: callEventReply(res.reply),
        fallback: res.fallback,
      });
      return event;
    }
    participant.traceSip(dialog.callId);
    const refused = sdpRefusal(dialog.remoteSdp, deps.destinationPolicy);
    if (refused) {
      participant.journal({ kind: 'error', event: 'callee media refused', reason: refused });
      await dialog.hangup();
      await session.request('callEvent', { participantId, event: 'calledPartyFailed', reason: refused });
      return 'calledPartyFailed';
    }
    await leg.accept(dialog.remoteSdp);
    participant.answered();
    participant.limitDuration(maxCallDurationMs(session.tenant), () => dialog.hangup());
    const loopInput = ivrLoopInput(deps, participant, dialog, leg);
    if (joinsSession) {
      // A participant joining a session: the tenant decides what it does first (callEvent calledPartyAnswered).
      const res = await session.request('callEvent', { participantId, event: 'calledPartyAnswered' });
      const reply = callEventReply(res.reply);
      participant.journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
      if (reply.action === 'drop') {
        await dialog.hangup();
        return 'hangup';
      }
      if (reply.action === 'bridge') {
        const loop = runIvrLoop({ ...loopInput, startHeld: true });
        await deps.connections.connect(session.sessionId, randomId('c'), reply.participantIds);
        return loop;
      }
    }
    return runIvrLoop(loopInput);
  }
}
