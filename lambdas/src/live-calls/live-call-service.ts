import type { PlaceIvrCallRequest } from '@sipms/shared/contracts/live-calls';
import type { ActiveCallCounts } from '@sipms/shared/data/active-calls';
import type { CallSlots } from '@sipms/shared/data/call-slots';
import type { NodeRegistry } from '@sipms/shared/data/node-registry';
import type { SessionStore } from '@sipms/shared/data/session-store';
import type { DestinationCheck } from '@sipms/shared/domain/outbound-policy';
import type { SessionRecord } from '@sipms/shared/domain/session';
import { AppError, ConflictError, NotFoundError, RateLimitedError, ValidationError } from '@sipms/shared/errors';
import { randomId } from '@sipms/shared/util/ids';
import { tenantSuspendedError } from '../http/tenant-suspended.js';

/**
 * Live-call control as the API sees it: validate against the session item (owner tenant, participant
 * state), then hand the command to the node that owns the call through its inbox. Outbound calls go to
 * the live node with the most room.
 */
export interface CallLimitChecks {
  /** The tenant's calls-per-second window, shared with the nodes' inbound calls. */
  attempts: Pick<CallSlots, 'countAttempt'>;
  active: Pick<ActiveCallCounts, 'others'>;
  /** What applies to the tenant's new calls now, from one read of the tenant. */
  policyFor(tenantId: string): Promise<CallPolicy>;
}

/** A tenant's standing for new calls: suspension, call limits, and where its calls may go. */
export interface CallPolicy {
  suspended: { reason: string | undefined } | undefined;
  maxConcurrentCalls: number;
  callsPerSecond: number;
  /** The operator's outbound allow-lists (shared/src/domain/outbound-policy.ts) applied to a destination. */
  checkDestination(destination: string): DestinationCheck;
}

export class LiveCallService {
  constructor(
    private readonly sessions: Pick<SessionStore, 'get'>,
    private readonly registry: Pick<NodeRegistry, 'pickNode' | 'send'>,
    private readonly limits: CallLimitChecks,
  ) {}

  /**
   * Before any node is asked: a suspended tenant places nothing (403), a destination outside the operator's
   * allow-lists is refused (403 destination_not_allowed, naming it), then call attempts per second and
   * concurrent calls (429 with the limit).
   */
  private async admit(tenantId: string, destination: string): Promise<void> {
    const limits = await this.limits.policyFor(tenantId);
    if (limits.suspended) throw tenantSuspendedError(limits.suspended.reason);
    const verdict = limits.checkDestination(destination);
    if (!verdict.ok) {
      throw new AppError('destination_not_allowed', verdict.reason, { details: { destination } });
    }
    const now = Date.now();
    if (await this.limits.attempts.countAttempt(tenantId, limits.callsPerSecond, now)) {
      throw new RateLimitedError(
        'calls',
        limits.callsPerSecond,
        1,
        Math.max(1, Math.ceil((1000 - (now % 1000)) / 1000)),
      );
    }
    const active = await this.limits.active.others(tenantId, '');
    if (active >= limits.maxConcurrentCalls) {
      throw new AppError('rate_limited', `simultaneous calls: at most ${limits.maxConcurrentCalls} at once`, {
        details: { limit: limits.maxConcurrentCalls },
        headers: { 'retry-after': '1' },
      });
    }
  }

  /** The session if it belongs to the tenant; another tenant's session is "not found" too. */
  private async ownSession(tenantId: string, sessionId: string): Promise<SessionRecord> {
    const session = await this.sessions.get(sessionId);
    if (!session || session.tenantId !== tenantId) throw new NotFoundError('session');
    return session;
  }

  private activeParticipant(session: SessionRecord, participantId: string): void {
    // Own keys only: an id like `constructor` must not find Object.prototype's.
    const p = ownEntry(session.participants, participantId);
    if (!p) throw new NotFoundError('participant');
    if (p.state === 'ended' || session.state === 'ended')
      throw new ConflictError(`participant ${participantId} has already left`);
  }

  async placeIvrCall(
    tenantId: string,
    req: PlaceIvrCallRequest,
  ): Promise<{ sessionId: string; participantId: string }> {
    await this.admit(tenantId, req.destination);
    let nodeId: string;
    let sessionId: string;
    if (req.sessionId) {
      const session = await this.ownSession(tenantId, req.sessionId);
      if (session.state === 'ended') throw new ConflictError(`session ${req.sessionId} has ended`);
      nodeId = session.nodeId;
      sessionId = session.sessionId;
    } else {
      const node = await this.registry.pickNode();
      if (!node)
        throw new AppError(
          'unavailable',
          'no media node has room for a call right now (each is full, draining or overloaded); retry later',
        );
      nodeId = node.nodeId;
      sessionId = randomId('s');
    }
    const participantId = randomId('p');
    await this.registry.send(nodeId, {
      kind: 'placeIvrCall',
      tenantId,
      payload: {
        destination: req.destination,
        timeoutSec: req.timeoutSec,
        ...(req.callerId ? { callerId: req.callerId } : {}),
        ...(req.sessionReferenceId ? { sessionReferenceId: req.sessionReferenceId } : {}),
        sessionId,
        participantId,
        joinExisting: Boolean(req.sessionId),
      },
    });
    return { sessionId, participantId };
  }

  /** hangupparticipant, interruptivrcommand: checked here, carried out by the owning node. */
  async participantCommand(
    tenantId: string,
    kind: 'hangupParticipant' | 'interruptIvrCommand',
    body: { sessionId: string; participantId: string },
  ): Promise<void> {
    const session = await this.ownSession(tenantId, body.sessionId);
    this.activeParticipant(session, body.participantId);
    await this.registry.send(session.nodeId, {
      kind,
      tenantId,
      payload: { sessionId: body.sessionId, participantId: body.participantId },
    });
  }

  /** /connect: both participants active and not connected already; the owning node bridges them. */
  async connect(tenantId: string, body: { sessionId: string; participantIds: [string, string] }): Promise<string> {
    const session = await this.ownSession(tenantId, body.sessionId);
    const [a, b] = body.participantIds;
    if (a === b) throw new ConflictError('a participant cannot be connected to itself');
    this.activeParticipant(session, a);
    this.activeParticipant(session, b);
    for (const [id, c] of Object.entries(session.connections ?? {})) {
      if (c.state === 'connected' && c.participantIds.some((p) => p === a || p === b)) {
        throw new ConflictError(`a participant is already in connection ${id}; split it first`);
      }
    }
    const connectionId = randomId('c');
    await this.registry.send(session.nodeId, {
      kind: 'connect',
      tenantId,
      payload: { sessionId: session.sessionId, participantIds: [a, b], connectionId },
    });
    return connectionId;
  }

  /** /splitconnection: an unknown connection is 404, one already split 409. */
  async split(tenantId: string, body: { sessionId: string; connectionId: string }): Promise<void> {
    const session = await this.ownSession(tenantId, body.sessionId);
    const connection = ownEntry(session.connections, body.connectionId);
    if (!connection) throw new NotFoundError('connection');
    if (connection.state !== 'connected') throw new ConflictError(`connection ${body.connectionId} is already split`);
    await this.registry.send(session.nodeId, {
      kind: 'splitConnection',
      tenantId,
      payload: { sessionId: session.sessionId, connectionId: body.connectionId },
    });
  }

  /** /startrecording and /stoprecording of a connection (both parties, mixed into one prompt file). */
  async recording(
    tenantId: string,
    kind: 'startRecording' | 'stopRecording',
    body: { sessionId: string; connectionId?: string | undefined; replyId?: string | undefined },
  ): Promise<void> {
    const session = await this.ownSession(tenantId, body.sessionId);
    if (!body.connectionId) {
      // A replyId names the participant its getIvrCommand was for; the owning node knows which.
      if (!body.replyId) throw new ValidationError('connectionId', 'connectionId or replyId is required');
      if (session.state === 'ended') throw new ConflictError(`session ${body.sessionId} has ended`);
      await this.registry.send(session.nodeId, {
        kind,
        tenantId,
        payload: { sessionId: session.sessionId, replyId: body.replyId },
      });
      return;
    }
    const connection = ownEntry(session.connections, body.connectionId);
    if (!connection) throw new NotFoundError('connection');
    if (connection.state !== 'connected') throw new ConflictError(`connection ${body.connectionId} is split`);
    await this.registry.send(session.nodeId, {
      kind,
      tenantId,
      payload: { sessionId: session.sessionId, connectionId: body.connectionId },
    });
  }
}

/** A record's own entry (never an inherited one such as `constructor` or `__proto__`). */
function ownEntry<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}
