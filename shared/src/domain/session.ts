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
}

/** A stored callback outcome: the validated reply, or the defined fallback and why. */
export interface ReplyRecord {
  eventId: string;
  outcome: 'reply' | 'fallback';
  reply: unknown;
  reason?: string;
  at: string;
}

export type JournalKind = 'callback' | 'sip' | 'command' | 'media' | 'error';
export interface JournalEntry {
  at: string;
  kind: JournalKind;
  [field: string]: unknown;
}
