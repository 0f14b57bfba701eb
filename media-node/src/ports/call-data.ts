import type { JournalEntry, SessionRecord } from '@sipms/shared/data/session-store';
import type { TenantRecord } from '@sipms/shared/data/tenant-store';

/** What the call flow reads and writes about tenants and sessions; implemented by the DynamoDB stores. */
export interface TenantDirectory {
  resolveInbound(host: string, user: string): Promise<TenantRecord | undefined>;
}

export interface SessionRepository {
  create(session: SessionRecord): Promise<void>;
  end(sessionId: string, reason: string): Promise<void>;
  journal(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Promise<void>;
}

/** Audio the IVR plays: resolved to files on this node. */
export interface AudioSources {
  /** A tenant prompt file, or undefined if there is none by that name. */
  prompt(tenantId: string, fileName: string): Promise<string | undefined>;
  /** Synthesized speech (cached by a hash of its parameters). Rejects on failure. */
  speech(input: {
    text: string;
    voice?: string | undefined;
    language?: string | undefined;
    ssml?: boolean;
  }): Promise<string>;
  /** A file of silence of the given length. */
  silence(durationMs: number): Promise<string>;
  /** Audio fetched from a URL (size and time limited, cached). Rejects on failure. */
  url(url: string): Promise<string>;
}
