/** The session shapes the console reads: the SDK's wire types, generated from the OpenAPI document. */
import type { SessionDetail, SessionSummary } from '../../sdk/src/generated/wire.js';

export type { SessionDetail, SessionSummary } from '../../sdk/src/generated/wire.js';

export type Participant = SessionSummary['participants'][string];
export type JournalEntry = SessionDetail['journal'][number];

export const isCompleted = (s: SessionDetail): boolean =>
  s.journal.some((e) => e.kind === 'callback' && e.callback === 'sessionCompleted');

export const parties = (s: SessionSummary): string =>
  Object.values(s.participants)
    .map((p) => `${p.from ?? '?'} → ${p.to ?? '?'}`)
    .join('; ');
