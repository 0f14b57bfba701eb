import { maxCallDurationMs, type TenantRecord } from '@sipms/shared/domain/tenant';
import { randomId } from '@sipms/shared/util/ids';
import { MediaCapacityError, type MediaLeg } from '../../ports/media.js';
import { NO_METRICS } from '../../ports/metrics.js';
import type { CallDialog, InboundCall } from '../../ports/signaling.js';
import { runIvrLoop } from '../ivr/ivr-loop.js';
import type { LimitRefusal } from '../limits/call-limits.js';
import { CallSession } from '../session/call-session.js';
import { InFlight } from '../session/in-flight.js';
import { Participant } from '../session/participant.js';
import { callEventReply, newCallReply } from '../session/replies.js';
import { callCallee, runBridge } from './callee-bridge.js';
import { type FlowDeps, ivrLoopInput } from './flow-deps.js';
import { answerFailureReason, callerIdRefusal, callerStatusFor } from './routing.js';

/** A caller refused for load may try this node again after (seconds); a proxy tries another one at once. */
const OVERLOAD_RETRY_AFTER_S = 2;

/** Admissions of one call that check the node's copy of its tenant's profile (TenantProfiles). */
const MAX_PROFILE_ROUNDS = 2;

/**
 * The inbound call flow (docs/ivr.md, docs/callback-delivery.md): tenant lookup, session, media offer,
 * newCall, then the IVR loop driven by getIvrCommand (or a B2BUA call), and the end of the session.
 * It sees only ports: no SIP stack, no rtpengine client, no AWS SDK.
 */
export class InboundCallFlow {
  private readonly active = new InFlight();
  private draining = false;
  private overloadRefusals = 0;
  private overloadLoggedAt = 0;

  constructor(private readonly deps: FlowDeps) {}

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
    // Before any work: a refused call costs the overloaded node one response.
    const overloaded = this.deps.overload?.refusal();
    if (overloaded) {
      this.refusedForLoad(overloaded);
      call.reject(503, 'Service Unavailable (node overloaded)', {
        'Retry-After': String(OVERLOAD_RETRY_AFTER_S),
        Warning: `399 sip-mediaserver "${overloaded}"`,
      });
      return;
    }
    const run = this.handle(call).catch((err) => {
      this.deps.logger.error({ err, callId: call.callId }, 'call flow failed');
      try {
        call.reject(500, 'Server Internal Error');
      } catch (rejectErr) {
        this.deps.logger.debug({ err: rejectErr }, 'no 500 sent: a final response went out already');
      }
    });
    this.active.track(run);
  }

  /** One log line a second while the node refuses calls for load, not one per call (that would add to it). */
  private refusedForLoad(reason: string): void {
    this.overloadRefusals++;
    const now = Date.now();
    if (now - this.overloadLoggedAt < 1000) return;
    this.deps.logger.warn({ refused: this.overloadRefusals, reason }, 'new calls refused: node overloaded (503)');
    this.overloadRefusals = 0;
    this.overloadLoggedAt = now;
  }

  /** Resolves when every call in progress has ended (used when draining). */
  async drained(): Promise<void> {
    await this.active.drained();
  }

  private async handle(call: InboundCall): Promise<void> {
    const { deps } = this;
    let found = await deps.profiles.inbound(call.requestHost, call.requestUser);
    let tenant: TenantRecord;
    let refused: LimitRefusal | undefined;
    for (let round = 0; ; round++) {
      if (!found) {
        // Unknown target (or a suspended tenant): no session, no callback, no state.
        call.reject(404, 'Not Found');
        return;
      }
      tenant = found.tenant;
      const refusal = principalRefusal(call, tenant.tenantId);
      if (refusal) {
        deps.logger.warn({ tenantId: tenant.tenantId, credentialId: call.source.principal?.credentialId }, refusal);
        call.reject(403, 'Forbidden', { Warning: `399 sip-mediaserver "${refusal}"` });
        return;
      }
      if (!call.sdp) {
        call.reject(488, 'SDP Offer Required');
        return;
      }
      // The node's copy of the profile, checked by the admission itself; a profile that keeps changing is
      // read once more and the call admitted under that read, unchecked (as when every call read it).
      const admitted =
        round < MAX_PROFILE_ROUNDS
          ? await deps.limits.admitInbound(tenant, found.profileVersion)
          : await deps.limits.acquire(tenant);
      if (admitted !== 'profileChanged') {
        refused = admitted;
        break;
      }
      found = await deps.profiles.profile(tenant.tenantId, { fresh: true });
    }
    if (refused) {
      deps.logger.warn({ tenantId: tenant.tenantId, limit: refused.limit }, 'call refused: tenant limit');
      call.reject(503, `Service Unavailable (${refused.message})`, {
        'Retry-After': '1',
        Warning: `399 sip-mediaserver "${refused.message}"`,
      });
      return;
    }
    let caller: Participant;
    const session = new CallSession(tenant, deps);
    // rtpengine takes the offer while the session is written: newCall needs both, neither needs the other,
    // and under load each is a wait of its own (one round trip less before the 200).
    const offered = this.offerMedia(call);
    try {
      caller = await Participant.join(
        session,
        randomId('p'),
        { direction: 'inbound', from: call.from.uri, to: call.to.uri, sipCallId: call.callId },
        deps,
        { createSession: true },
      );
    } catch (err) {
      deps.limits.release(tenant.tenantId);
      void offered.then((o) => (o.leg ? this.closeUnused(o.leg) : undefined));
      throw err;
    }
    caller.journal({ kind: 'sip', event: 'invite', from: call.from.uri, to: call.to.uri, source: call.source });
    const disown = deps.live.own(session);
    const metrics = deps.metrics ?? NO_METRICS;
    metrics.callStarted('inbound');
    let leg: MediaLeg | undefined;
    let endReason = 'unknown';
    try {
      leg = await this.openMedia(call, caller, offered);
      if (!leg) {
        endReason = 'mediaFailed';
        return;
      }
      endReason = await this.run(call, caller, leg);
      if (caller.reachedMaxDuration) endReason = 'maxDuration';
    } finally {
      metrics.callEnded(endReason);
      deps.limits.release(tenant.tenantId);
      await caller.end();
      await leg?.close();
      // Participants placed into the session may still be in it: the session ends with the last of them.
      await session.whenEmpty();
      await session.complete(endReason);
      disown();
    }
  }

  /** The caller's offer to rtpengine; settles with the leg or the error, never rejects. */
  private offerMedia(call: InboundCall): Promise<MediaOffer> {
    return this.deps.media
      .openLeg({
        callId: call.callId,
        callerTag: call.from.tag ?? '',
        ivrTag: randomId('m', 10),
        offerSdp: call.sdp ?? '',
      })
      .then(
        (leg) => ({ leg }),
        (err: unknown) => ({ err }),
      );
  }

  /** A leg offered for a session that could not be written: rtpengine forgets it. */
  private async closeUnused(leg: MediaLeg): Promise<void> {
    try {
      await leg.close();
    } catch (err) {
      this.deps.logger.warn({ err }, 'media leg of a call that failed before its session was stored not closed');
    }
  }

  /** The offer's leg, or (its error journaled and the call rejected) undefined. */
  private async openMedia(
    call: InboundCall,
    caller: Participant,
    offered: Promise<MediaOffer>,
  ): Promise<MediaLeg | undefined> {
    const { leg, err } = await offered;
    if (leg) return leg;
    caller.session.log.error({ err }, 'media offer failed');
    caller.journal({
      kind: 'error',
      event: 'media offer failed',
      reason: err instanceof Error ? err.message : String(err),
    });
    if (err instanceof MediaCapacityError) {
      // This node is full, the offer is fine: the caller (or its proxy) may try again or elsewhere.
      call.reject(503, 'Service Unavailable (no media capacity)', { 'Retry-After': '1' });
    } else call.reject(488, 'Not Acceptable Here');
    return undefined;
  }

  /** newCall and what its reply asks for; returns the session's end reason. */
  private async run(call: InboundCall, caller: Participant, leg: MediaLeg): Promise<string> {
    const { session } = caller;
    const newCall = await session.request(
      'newCall',
      {
        participantId: caller.participantId,
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
      caller.journal({ kind: 'sip', event: 'cancelled' });
      return 'callingPartyCancel';
    }
    const { value: action, invalid } = newCallReply(newCall.reply);
    caller.journal({
      kind: 'command',
      callback: 'newCall',
      action: action.action,
      fallback: newCall.fallback || invalid !== undefined,
      reason: newCall.reason ?? invalid,
    });

    switch (action.action) {
      case 'drop':
        call.reject(action.sipStatus, action.reason);
        return 'dropped';
      case 'redirect':
        call.redirect([action.contact]);
        return 'redirected';
      case 'call': {
        const notAllowed = this.deps.destinationAllowed?.(action.destination, session.tenant);
        const refusal =
          notAllowed ??
          (action.callerId
            ? await callerIdRefusal(action.callerId, session.tenant, (n) => this.deps.tenants.numberOwner(n), call.from)
            : undefined);
        if (refusal) {
          // A reply the node may not carry out: journaled with the field, then newCall's defined fallback (480).
          caller.journal({
            kind: 'error',
            event: 'invalid reply',
            callback: 'newCall',
            field: notAllowed ? 'destination' : 'callerId',
            reason: refusal,
          });
          call.reject(480);
          return 'invalidReply';
        }
        const outcome = await callCallee({ caller, call, leg, action }, this.deps);
        if (outcome.kind === 'caller-gone') return outcome.reason;
        if (outcome.kind === 'unreached') {
          const res = await session.request('callEvent', {
            participantId: outcome.calleeId,
            event: outcome.event,
            reason: outcome.reason,
          });
          const reply = callEventReply(res.reply);
          caller.journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
          if (reply.action !== 'ivr') {
            call.reject(callerStatusFor(outcome.event));
            return outcome.event;
          }
          return this.answerIntoIvr(call, caller, leg); // the tenant sends the caller to IVR instead
        }
        const maxMs = maxCallDurationMs(session.tenant);
        caller.limitDuration(maxMs, () => outcome.callerDialog.hangup());
        outcome.calleeParticipant.limitDuration(maxMs, () => outcome.callee.hangup());
        const bridged = await runBridge(
          {
            caller,
            callee: outcome.calleeParticipant,
            callerDialog: outcome.callerDialog,
            calleeDialog: outcome.callee,
            leg,
          },
          this.deps,
        );
        if (bridged !== 'ivr') return bridged;
        // Back to IVR: the caller is answered already; only the media moves (no re-INVITE needed).
        await leg.connectIvr();
        return this.ivr(caller, outcome.callerDialog, leg);
      }
      case 'ivr':
        return this.answerIntoIvr(call, caller, leg);
    }
  }

  private async answerIntoIvr(call: InboundCall, caller: Participant, leg: MediaLeg): Promise<string> {
    const answerSdp = await leg.connectIvr();
    let dialog: CallDialog;
    try {
      dialog = await call.answer(answerSdp);
    } catch (err) {
      caller.journal({ kind: 'sip', event: 'answer failed', reason: err instanceof Error ? err.message : String(err) });
      return answerFailureReason(err, call.cancelled.aborted);
    }
    caller.answered();
    caller.limitDuration(maxCallDurationMs(caller.session.tenant), () => dialog.hangup());
    return this.ivr(caller, dialog, leg);
  }

  private ivr(participant: Participant, dialog: CallDialog, leg: MediaLeg): Promise<string> {
    const { deps } = this;
    return runIvrLoop(ivrLoopInput(deps, participant, dialog, leg));
  }
}

/** The outcome of the caller's media offer, settled either way (the flow decides what a failure means). */
type MediaOffer = { leg: MediaLeg; err?: undefined } | { leg?: undefined; err: unknown };

/**
 * Why a caller the transport authenticated (a browser's softphone credential) may not make this call: only its own
 * tenant's numbers, and only while the credential is valid. Undefined for other callers and allowed calls.
 */
export function principalRefusal(
  call: Pick<InboundCall, 'source'>,
  tenantId: string,
  now = Date.now(),
): string | undefined {
  const principal = call.source.principal;
  if (!principal) return undefined;
  if (principal.tenantId !== tenantId) return "a softphone credential calls its own tenant's numbers only";
  if (principal.expiresAtMs <= now) return 'the softphone credential has expired';
  return undefined;
}
