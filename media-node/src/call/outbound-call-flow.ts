import { CALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { PlaceIvrCallRequest } from '@sipms/shared/contracts/live-calls';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import type { TenantRecord } from '@sipms/shared/data/tenant-store';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, SessionRepository, TenantDirectory, UsageMeter } from '../ports/call-data.js';
import type { CallbackPort } from '../ports/callbacks.js';
import type { MediaPort, OutboundMediaLeg } from '../ports/media.js';
import {
  type OutboundCallRequest,
  type OutboundDialog,
  SignalingError,
  type SignalingPort,
} from '../ports/signaling.js';
import { callEventReply } from './bridge.js';
import type { CallLimits } from './call-limits.js';
import { CallSession } from './call-session.js';
import type { Connections } from './connections.js';
import { InFlight } from './in-flight.js';
import { type Journal, runIvrLoop } from './ivr-loop.js';
import type { LiveSessions } from './live-sessions.js';

export interface OutboundFlowDeps {
  nodeId: string;
  tenants: TenantDirectory;
  sessions: SessionRepository;
  media: MediaPort;
  signaling: Pick<SignalingPort, 'placeCall'>;
  callbacks: CallbackPort;
  audio: AudioSources;
  live: LiveSessions;
  limits: Pick<CallLimits, 'acquire' | 'release'>;
  connections: Pick<Connections, 'connect'>;
  usage: UsageMeter;
  secrets: SecretBox | undefined;
  logger: Logger;
}

/** A placeivrcall as the API handed it to this node. */
export type PlaceIvrCallCommand = PlaceIvrCallRequest & {
  tenantId: string;
  sessionId: string;
  participantId: string;
  joinExisting: boolean;
};

/** SIP final responses to callEvent: busy, no answer, or failed (SPEC.md). */
export function failureEvent(err: unknown): {
  event: 'calledPartyBusy' | 'calledPartyNoAnswer' | 'calledPartyFailed';
  reason: string;
} {
  if (err instanceof SignalingError) {
    if (err.code === 'no-answer') return { event: 'calledPartyNoAnswer', reason: 'no answer before the timeout' };
    if (err.code === 'rejected' && err.status !== undefined) {
      if ([486, 600].includes(err.status)) return { event: 'calledPartyBusy', reason: `SIP ${err.status}` };
      if ([408, 480].includes(err.status)) return { event: 'calledPartyNoAnswer', reason: `SIP ${err.status}` };
      return { event: 'calledPartyFailed', reason: `SIP ${err.status}` };
    }
    return { event: 'calledPartyFailed', reason: err.message };
  }
  return { event: 'calledPartyFailed', reason: (err as Error).message ?? String(err) };
}

/** Where a call to `destination` goes: a SIP URI as given; a number through the tenant's trunk. */
export async function routeFor(
  destination: string,
  tenant: TenantRecord,
  secrets: SecretBox | undefined,
): Promise<Pick<OutboundCallRequest, 'target' | 'outboundProxy' | 'transport' | 'credentials'>> {
  if (/^sips?:/i.test(destination)) return { target: destination };
  const trunk = tenant.outboundTrunk;
  if (!trunk)
    throw new SignalingError('rejected', 'numbers need an outbound trunk, and this tenant has none configured', 404);
  const host = trunk.host.includes(':') && !trunk.host.startsWith('[') ? `[${trunk.host}]` : trunk.host;
  let password: string | undefined;
  if (trunk.passwordSealed) {
    if (!secrets)
      throw new SignalingError('rejected', 'the trunk password cannot be opened: no secrets key on this node', 500);
    password = await secrets.open(trunk.passwordSealed);
  }
  return {
    target: `sip:${encodeURIComponent(destination)}@${host}:${trunk.port};transport=${trunk.transport}`,
    outboundProxy: `${host}:${trunk.port}`,
    transport: trunk.transport,
    ...(trunk.username && password ? { credentials: { username: trunk.username, password } } : {}),
  };
}

function callerUri(tenant: TenantRecord, callerId: string | undefined): string {
  if (callerId && /^sips?:/i.test(callerId)) return callerId;
  return `sip:${encodeURIComponent(callerId ?? 'ivr')}@${tenant.domain}`;
}

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
    const tenant = await deps.tenants.get(cmd.tenantId);
    if (!tenant) return;
    const log = deps.logger.child({
      sessionId: cmd.sessionId,
      participantId: cmd.participantId,
      tenantId: tenant.tenantId,
    });
    const owned = cmd.joinExisting ? deps.live.session(cmd.sessionId) : undefined;
    if (cmd.joinExisting && !owned) {
      log.warn({}, 'placeivrcall into a session this node no longer runs: ignored');
      await deps.sessions.journal(cmd.sessionId, {
        kind: 'error',
        event: 'placeivrcall ignored: session not active on its node',
      });
      return;
    }
    const refused = await deps.limits.acquire(tenant, { countAttempt: false });
    if (refused) {
      // The API checked the limits a moment ago; a race between nodes can still land here.
      log.warn({ limit: refused.limit }, 'placeivrcall refused: tenant limit');
      await deps.sessions
        .journal(cmd.sessionId, { kind: 'error', event: 'placeivrcall refused', reason: refused.message })
        .catch(() => {});
      return;
    }
    try {
      await this.placeWithSlot(cmd, tenant, owned, log);
    } finally {
      deps.limits.release(tenant.tenantId);
    }
  }

  private async placeWithSlot(
    cmd: PlaceIvrCallCommand,
    tenant: TenantRecord,
    owned: CallSession | undefined,
    log: Logger,
  ): Promise<void> {
    const { deps } = this;
    const session = owned ?? new CallSession(tenant, deps.callbacks, cmd.sessionReferenceId, cmd.sessionId);
    const participantId = cmd.participantId;
    const journal: Journal = (entry) =>
      void deps.sessions
        .journal(session.sessionId, { ...entry, participantId })
        .catch((err) => log.warn({ err }, 'journal write failed'));
    const record = {
      direction: 'outbound' as const,
      from: cmd.callerId ?? '',
      to: cmd.destination,
      sipCallId: '',
      state: 'setup' as const,
    };
    if (owned) {
      await deps.sessions.addParticipant(session.sessionId, participantId, record);
    } else {
      await deps.sessions.create({
        sessionId: session.sessionId,
        tenantId: tenant.tenantId,
        nodeId: deps.nodeId,
        state: 'active',
        createdAt: new Date(session.startedAt).toISOString(),
        ...(cmd.sessionReferenceId ? { sessionReferenceId: cmd.sessionReferenceId } : {}),
        participants: { [participantId]: record },
      });
    }
    const disown = owned ? () => {} : deps.live.own(session);

    let leg: OutboundMediaLeg | undefined;
    let endReason = 'unknown';
    let answeredAt: number | undefined;
    deps.usage.record(tenant.tenantId, { callAttempts: 1 });
    try {
      leg = await deps.media.openOutboundLeg({ legId: participantId });
      const ringing = { sent: false, early: false };
      journal({ kind: 'sip', event: 'invite sent', destination: cmd.destination });
      let dialog: OutboundDialog;
      try {
        dialog = await deps.signaling.placeCall({
          ...(await routeFor(cmd.destination, tenant, deps.secrets)),
          from: { uri: callerUri(tenant, cmd.callerId) },
          sdp: leg.offerTowardsPeer,
          ringTimeoutMs: cmd.timeoutSec * 1000,
          onProgress: (p) => {
            if (p.sdp && !ringing.early) {
              ringing.early = true;
              void leg!.accept(p.sdp).catch((err) => log.warn({ err }, 'early media answer failed'));
              void session.notify('callNotify', { participantId, event: 'earlyMedia' });
            } else if (p.status === 180 && !ringing.sent) {
              ringing.sent = true;
              void session.notify('callNotify', { participantId, event: 'ringing' });
            }
          },
        });
      } catch (err) {
        const { event, reason } = failureEvent(err);
        journal({ kind: 'sip', event: 'call failed', callEvent: event, reason });
        const res = await session.request('callEvent', { participantId, event, reason });
        const reply = parseOrReason(CALLBACK_REPLIES.callEvent, res.reply);
        journal({ kind: 'command', callback: 'callEvent', reply: reply.ok ? reply.value : {}, fallback: res.fallback });
        endReason = event;
        return;
      }
      await leg.accept(dialog.remoteSdp);
      answeredAt = Date.now();
      deps.usage.record(tenant.tenantId, { answeredCalls: 1 });
      journal({ kind: 'sip', event: 'answered' });
      void deps.sessions.setParticipantState(session.sessionId, participantId, 'active').catch(() => {});
      void session.notify('callAnswered', { participantId });
      const loopInput = {
        session,
        participantId,
        dialog,
        leg,
        audio: deps.audio,
        live: deps.live,
        usage: deps.usage,
        journal,
        log,
        dropEvent: 'calledPartyDrop' as const,
      };
      if (owned) {
        // A participant joining a session: the tenant decides what it does first (SPEC: callEvent).
        const res = await session.request('callEvent', { participantId, event: 'calledPartyAnswered' });
        const reply = callEventReply(res.reply);
        journal({ kind: 'command', callback: 'callEvent', reply, fallback: res.fallback });
        if (reply.action === 'drop') {
          await dialog.hangup();
          endReason = 'hangup';
          return;
        }
        if (reply.action === 'bridge') {
          const loop = runIvrLoop({ ...loopInput, startHeld: true });
          await deps.connections.connect(session.sessionId, randomId('c'), reply.participantIds);
          endReason = await loop;
          return;
        }
      }
      endReason = await runIvrLoop(loopInput);
    } finally {
      if (answeredAt) deps.usage.record(tenant.tenantId, { callSeconds: Math.round((Date.now() - answeredAt) / 1000) });
      await deps.sessions.setParticipantState(session.sessionId, participantId, 'ended').catch(() => {});
      await leg?.close();
      if (!owned) {
        // This flow owns the session: it ends with its only participant.
        await deps.sessions
          .end(session.sessionId, endReason)
          .catch((err) => log.warn({ err }, 'session end write failed'));
        await session.notify('sessionCompleted', {
          sessionDuration: Math.round((Date.now() - session.startedAt) / 100) / 10,
          reason: endReason,
        });
        disown();
      }
      log.info({ reason: endReason }, 'outbound participant done');
    }
  }
}
