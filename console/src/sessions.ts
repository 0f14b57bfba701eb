/** The session shapes the console reads (docs/api.md: SessionSummary and SessionDetail). */

export interface Participant {
  direction?: string;
  from?: string;
  to?: string;
  sipCallId?: string;
  state?: string;
  connectionId?: string;
  [field: string]: unknown;
}

export interface SessionSummary {
  sessionId: string;
  state: string;
  createdAt: string;
  endedAt?: string;
  endReason?: string;
  participants: Record<string, Participant>;
}

export interface JournalEntry {
  at: string;
  kind: string;
  [field: string]: unknown;
}

export interface SessionDetail extends SessionSummary {
  journal: JournalEntry[];
}

export const isCompleted = (s: SessionDetail): boolean =>
  s.journal.some((e) => e.kind === 'callback' && e.callback === 'sessionCompleted');

export const parties = (s: SessionSummary): string =>
  Object.values(s.participants)
    .map((p) => `${p.from ?? '?'} → ${p.to ?? '?'}`)
    .join('; ');
