import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SessionCompletedBody } from '../contracts/callbacks.js';
import { SessionStore } from '../data/session-store.js';
import { UsageStore } from '../data/usage-store.js';
import { NODE_FAILED, type NodeFailureRecord, type SessionRecord } from '../domain/session.js';
import type { CallbackPublisher } from '../events/callback-publisher.js';
import { CallbackEnvelope } from '../events/envelope.js';
import { randomId } from '../util/ids.js';
import type { Logger } from '../util/logger.js';

/**
 * A claimed completion whose event is still unpublished after this long is taken over: the sweeper that
 * claimed it died in between (a live one publishes within seconds).
 */
export const RETAKE_UNPUBLISHED_AFTER_MS = 60_000;

export interface NodeFailureDeps {
  sessions: Pick<
    SessionStore,
    | 'markedOnNode'
    | 'getStored'
    | 'forgetOnNode'
    | 'claimNodeFailure'
    | 'retakeNodeFailure'
    | 'nodeFailurePublished'
    | 'journal'
    | 'readJournal'
  >;
  usage: Pick<UsageStore, 'record'>;
  events: CallbackPublisher;
  logger: Logger;
}

export interface NodeFailureResult {
  /** Sessions this call completed with `nodeFailed` (each exactly once across all sweepers). */
  completed: string[];
  /** Sessions that could not be handled now (logged); the node's markers stay for the next sweep. */
  failed: number;
  /** Completions claimed by another sweeper and not yet published: a later sweep checks them again. */
  pending: number;
}

/**
 * Completes the sessions a media node left active when it died (docs/table-design.md, "A node that
 * died"): found by the node's session markers, each moved from active to ended with reason `nodeFailed`
 * by one conditional write (two sweepers, or the node coming back, never complete it twice); then, as the
 * node would have: the call seconds of its answered legs, a journal entry, and `sessionCompleted` on the
 * bus. The same code runs in every media node's sweeper, at a node's restart and in the scheduled function.
 */
export class NodeFailure {
  constructor(private readonly deps: NodeFailureDeps) {}

  /** The stores over the injected document client; `events` puts callbacks on the bus. */
  static create(opts: {
    doc: DynamoDBDocumentClient;
    tableName: string;
    events: CallbackPublisher;
    logger: Logger;
  }): NodeFailure {
    return new NodeFailure({
      sessions: new SessionStore(opts.doc, opts.tableName),
      usage: new UsageStore(opts.doc, opts.tableName),
      events: opts.events,
      logger: opts.logger,
    });
  }

  /**
   * Completes every session `nodeId` still holds. `lastSeenAt`: the node's last heartbeat, where its calls
   * are taken to have ended; without one (a restart that found no heartbeat), each session's last journal
   * entry.
   */
  async completeNode(nodeId: string, lastSeenAt?: string, now = Date.now()): Promise<NodeFailureResult> {
    const result: NodeFailureResult = { completed: [], failed: 0, pending: 0 };
    for (const sessionId of await this.deps.sessions.markedOnNode(nodeId)) {
      try {
        const outcome = await this.completeSession(nodeId, sessionId, lastSeenAt, now);
        if (outcome === 'completed') result.completed.push(sessionId);
        if (outcome === 'pending') result.pending += 1;
      } catch (err) {
        result.failed += 1;
        this.deps.logger.warn(
          { err, nodeId, sessionId },
          'session of a dead node not completed; the next sweep retries',
        );
      }
    }
    return result;
  }

  private async completeSession(
    nodeId: string,
    sessionId: string,
    lastSeenAt: string | undefined,
    now: number,
  ): Promise<'completed' | 'pending' | 'none'> {
    const { sessions } = this.deps;
    const session = await sessions.getStored(sessionId);
    if (!session || session.nodeId !== nodeId) {
      await sessions.forgetOnNode(nodeId, sessionId); // written before a session that never was, or not ours
      return 'none';
    }
    if (session.state !== 'active') return (await this.finishEarlierClaim(nodeId, session, now)) ? 'none' : 'pending';

    const journal = await sessions.readJournal(sessionId);
    const created = Date.parse(session.createdAt);
    const lastKnown = lastSeenAt ?? journal.at(-1)?.at ?? session.createdAt;
    const endedAt = Math.max(created, Date.parse(lastKnown));
    // The node numbers a session's callbacks; the dispatcher journals each with its seq.
    const seq = 1 + Math.max(0, ...journal.map((e) => (typeof e.seq === 'number' ? e.seq : 0)));
    const sessionDuration = Math.round((endedAt - created) / 100) / 10;
    const time = new Date(now).toISOString();
    const payload = SessionCompletedBody.parse({
      sessionId,
      seq,
      timestamp: time,
      ...(session.sessionReferenceId ? { sessionReferenceId: session.sessionReferenceId } : {}),
      sessionDuration,
      reason: NODE_FAILED,
    });
    const envelope = CallbackEnvelope.parse({
      id: randomId('e'),
      tenantId: session.tenantId,
      sessionId,
      seq,
      type: 'sessionCompleted',
      time,
      nodeId,
      expectsReply: false,
      payload,
    });
    const iso = new Date(endedAt).toISOString();
    // Lost to another sweeper (or the node ended it just now): whoever won reports it.
    if (!(await sessions.claimNodeFailure(sessionId, nodeId, { endedAt: iso, envelope, now }))) return 'pending';

    const log = this.deps.logger.child({ sessionId, tenantId: session.tenantId, deadNode: nodeId });
    const callSeconds = billedSeconds(session, endedAt);
    if (callSeconds > 0) {
      await this.deps.usage
        .record(session.tenantId, { callSeconds }, endedAt)
        .catch((err) => log.warn({ err, callSeconds }, 'usage of a dead node’s session not recorded'));
    }
    await sessions
      .journal(sessionId, {
        kind: 'error',
        event: NODE_FAILED,
        reason: NODE_FAILED,
        nodeId,
        lastKnownAt: new Date(endedAt).toISOString(),
        sessionDuration,
        callSeconds,
        eventId: envelope.id,
      })
      .catch((err) => log.warn({ err }, 'journal write failed'));
    await this.publish(nodeId, sessionId, envelope);
    log.warn({ sessionDuration, callSeconds }, 'session of a dead media node completed: nodeFailed');
    return 'completed';
  }

  /**
   * A session that has ended but whose marker is still there: the node ended it and died before removing
   * the marker, or a sweeper claimed its completion and died before publishing. The latter's event is
   * published again (same id: the dispatcher posts it once) once the claim is old enough. `false` while
   * such a completion is still in another sweeper's hands.
   */
  private async finishEarlierClaim(
    nodeId: string,
    session: SessionRecord & { nodeFailure?: NodeFailureRecord },
    now: number,
  ): Promise<boolean> {
    const failure = session.nodeFailure;
    if (failure && !failure.publishedAt) {
      if (now - Date.parse(failure.claimedAt) < RETAKE_UNPUBLISHED_AFTER_MS) return false; // its sweeper is at it
      if (!(await this.deps.sessions.retakeNodeFailure(session.sessionId, failure.claimedAt, now))) return false;
      this.deps.logger.warn(
        { sessionId: session.sessionId, deadNode: nodeId },
        'publishing a nodeFailed completion again',
      );
      await this.publish(nodeId, session.sessionId, CallbackEnvelope.parse(failure.envelope));
      return true;
    }
    await this.deps.sessions.forgetOnNode(nodeId, session.sessionId);
    return true;
  }

  private async publish(nodeId: string, sessionId: string, envelope: CallbackEnvelope): Promise<void> {
    await this.deps.events.publish(envelope);
    await this.deps.sessions.nodeFailurePublished(sessionId);
    await this.deps.sessions.forgetOnNode(nodeId, sessionId);
  }
}

/** Seconds of the legs still up when the node died, each from its answer to `endedAt` (as the node bills). */
function billedSeconds(session: SessionRecord, endedAt: number): number {
  let seconds = 0;
  for (const p of Object.values(session.participants ?? {})) {
    if (p.state !== 'active' || !p.answeredAt) continue;
    seconds += Math.max(0, Math.round((endedAt - Date.parse(p.answeredAt)) / 1000));
  }
  return seconds;
}
