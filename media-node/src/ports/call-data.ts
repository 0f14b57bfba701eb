import type { ConnectionRecord, JournalEntry, ParticipantRecord, SessionRecord } from '@sipms/shared/domain/session';
import type { TenantRecord } from '@sipms/shared/domain/tenant';

/** What the call flow reads and writes about tenants and sessions; implemented by the DynamoDB stores. */
export interface TenantDirectory {
  /** The tenant an inbound Request-URI is for (its domain, else a claimed number); suspended ones too. */
  inboundTenantId(host: string, user: string): Promise<string | undefined>;
  /** The tenant an inbound Request-URI is for, read; undefined when unknown or suspended. */
  resolveInbound(host: string, user: string): Promise<TenantRecord | undefined>;
  get(tenantId: string): Promise<TenantRecord | undefined>;
  /** Which tenant has claimed `number`, if any (a caller id must be one of the tenant's own numbers). */
  numberOwner(number: string): Promise<string | undefined>;
}

export interface SessionRepository {
  /** `newId`: the session id was just drawn here (never taken), so no write need guard it (SessionStore.create). */
  create(session: SessionRecord, options?: { newId?: boolean }): Promise<void>;
  addParticipant(sessionId: string, participantId: string, participant: ParticipantRecord): Promise<void>;
  setParticipantState(sessionId: string, participantId: string, state: 'setup' | 'active' | 'ended'): Promise<void>;
  setConnection(sessionId: string, connectionId: string, connection: ConnectionRecord): Promise<void>;
  /**
   * Ends the session; `false` when it had already ended (a sweeper presumed this node dead and completed it
   * with `nodeFailed`): then it must not be reported again. `endedParticipants` are marked ended in the same
   * write (the session's last participant: one write less per call).
   */
  end(sessionId: string, reason: string, endedParticipants?: readonly string[]): Promise<boolean>;
  journal(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Promise<void>;
  /** Stores the journal entries written so far that are still queued (a node batches them): the session's, or all. */
  flushJournal(sessionId?: string): Promise<void>;
}

/** Text to speak. `voice`/`language`/`engine`/`outputFormat` are hints each speech engine maps to its own terms. */
export interface SpeechRequest {
  text: string;
  voice?: string | undefined;
  language?: string | undefined;
  ssml?: boolean | undefined;
  /** Polly's Engine (`standard`, `neural`, …). */
  engine?: string | undefined;
  /** Polly's OutputFormat (`pcm` default, `mp3`, …). */
  outputFormat?: string | undefined;
}

/** Audio the IVR plays, resolved to files on this node, and the recordings it keeps. */
export interface AudioSources {
  /** A tenant prompt file, or undefined if there is none by that name. */
  prompt(tenantId: string, fileName: string): Promise<string | undefined>;
  /** Synthesized speech for a tenant (cached per tenant by a hash of its parameters). Rejects on failure. */
  speech(tenantId: string, input: SpeechRequest): Promise<string>;
  /** A file of silence of the given length. */
  silence(durationMs: number): Promise<string>;
  /** A sine tone (the recording beep). */
  tone(hz: number, durationMs: number): Promise<string>;
  /**
   * Audio a tenant's `url` phrase fetches (the outbound address policy, size and time limited; cached per
   * tenant by URL and validator). Rejects on failure, with a reason that names no internal detail.
   */
  url(tenantId: string, url: string): Promise<string>;
  /** Stores a recorded WAV file as a prompt file of the tenant (playable as `{format:"file"}` afterwards). */
  saveRecording(tenantId: string, fileName: string, wavFile: string): Promise<void>;
  /**
   * Mixes recorded WAV files (the parties of a connection) into one and stores it as a prompt file of
   * the tenant. Consumes the files. Rejects when `wavFiles` is empty.
   */
  saveMixedRecording(tenantId: string, fileName: string, wavFiles: string[]): Promise<void>;
}

/** What an operator bills on, per tenant and day; recording never delays or fails a call. */
export interface UsageMeter {
  record(
    tenantId: string,
    counters: Partial<
      Record<'callAttempts' | 'answeredCalls' | 'callSeconds' | 'ttsCharacters' | 'recordingSeconds', number>
    >,
  ): void;
}
