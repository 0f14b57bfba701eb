import type { JournalKind } from '@sipms/shared/domain/session';

/** One journal entry as the call core writes it; the repository stamps the time. */
export type JournalInput = { kind: Exclude<JournalKind, 'callback'> } & Record<string, unknown>;

/** Writes to the session's journal without delaying the call; a failed write is logged, never lost silently. */
export type Journal = (entry: JournalInput) => void;
