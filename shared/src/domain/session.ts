/** A call session as the platform records it: participants, connections, callback replies and journal. */

export interface SessionRecord {
  sessionId: string;
  tenantId: string;
  nodeId: string;
  state: 'active' | 'ended';
  createdAt: string;
  endedAt?: string;
  endReason?: string;
  sessionReferenceId?: string;
  participants: Record<string, ParticipantRecord>;
  /** /connect connections, by connectionId. */
  connections?: Record<string, ConnectionRecord>;
  /** Set when the owning node died and a sweeper completed the session (endReason `nodeFailed`). */
  nodeFailure?: NodeFailureRecord;
}

export interface ConnectionRecord {
  participantIds: [string, string];
  state: 'connected' | 'split';
}

export interface ParticipantRecord {
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  sipCallId: string;
  /** Absent on items written before states were recorded; treated as active. */
  state?: 'setup' | 'active' | 'ended';
  /** When the leg was answered (written with state `active`): what a node that died is billed from. */
  answeredAt?: string;
}

/** The end reason of a session whose media node died (crashed, killed, cut off) while it was active. */
export const NODE_FAILED = 'nodeFailed';

/**
 * How a session of a node that died was completed (docs/table-design.md, "A node that died"): the
 * `sessionCompleted` event as published (re-published with the same id if its sweeper died before it
 * was sent), when it was claimed, and when it was published.
 */
export interface NodeFailureRecord {
  envelope: unknown;
  claimedAt: string;
  publishedAt?: string;
}

/** A stored callback outcome: the validated reply, or the defined fallback and why. */
export interface ReplyRecord {
  eventId: string;
  outcome: 'reply' | 'fallback';
  reply: unknown;
  reason?: string;
  at: string;
  /**
   * How long the delivery waited on the tenant's webhook (every POST of it, carried notifications too), in
   * ms: the node subtracts it from the round trip to see the platform's own share (OverloadGuard).
   */
  webhookMs?: number;
}

export type JournalKind = 'callback' | 'sip' | 'command' | 'media' | 'error';
export interface JournalEntry {
  at: string;
  kind: JournalKind;
  [field: string]: unknown;
}
