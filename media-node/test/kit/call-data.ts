import type { ConnectionRecord, JournalEntry, ParticipantRecord, SessionRecord } from '@sipms/shared/domain/session';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type {
  AudioSources,
  SessionRepository,
  SpeechRequest,
  TenantDirectory,
  UsageMeter,
} from '../../src/ports/call-data.js';

/**
 * In-memory fakes of the call-data ports, with the semantics of the DynamoDB stores
 * (shared/src/data/session-store.ts, tenant-store.ts) and of FileAudioSources.
 */

/** A DynamoDB conditional write refused, as the SDK raises it (isConditionFailure recognises it). */
export class ConditionalCheckFailed extends Error {
  override name = 'ConditionalCheckFailedException';
  constructor(what: string) {
    super(`The conditional request failed (${what})`);
  }
}

type RepoMethod = 'create' | 'addParticipant' | 'setParticipantState' | 'setConnection' | 'end' | 'journal';

/**
 * SessionRepository in memory, as SessionStore behaves: create fails if the session exists;
 * addParticipant, setConnection and end fail if it does not; setParticipantState fails if the participant
 * does not; journal always writes (the repository stamps `at`). Records are copied in and out.
 */
export class FakeSessionRepository implements SessionRepository {
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly journals = new Map<string, JournalEntry[]>();
  private readonly failures = new Map<RepoMethod, Error[]>();
  /** Every call, in order: `${method} ${sessionId}`. */
  readonly writes: string[] = [];

  /** The next call of `method` rejects with `err` (a store outage). */
  failNext(method: RepoMethod, err: Error = new Error(`${method}: table unavailable`)): this {
    const q = this.failures.get(method) ?? [];
    q.push(err);
    this.failures.set(method, q);
    return this;
  }

  private async enter(method: RepoMethod, sessionId: string): Promise<void> {
    this.writes.push(`${method} ${sessionId}`);
    await Promise.resolve(); // a store call never completes synchronously
    const err = this.failures.get(method)?.shift();
    if (err) throw err;
  }

  async create(session: SessionRecord): Promise<void> {
    await this.enter('create', session.sessionId);
    if (this.sessions.has(session.sessionId)) throw new ConditionalCheckFailed('session exists');
    this.sessions.set(session.sessionId, structuredClone(session));
  }

  async addParticipant(sessionId: string, participantId: string, participant: ParticipantRecord): Promise<void> {
    await this.enter('addParticipant', sessionId);
    const s = this.sessions.get(sessionId);
    if (!s) throw new ConditionalCheckFailed('no such session');
    s.participants[participantId] = structuredClone(participant);
  }

  async setParticipantState(
    sessionId: string,
    participantId: string,
    state: 'setup' | 'active' | 'ended',
  ): Promise<void> {
    await this.enter('setParticipantState', sessionId);
    const p = this.sessions.get(sessionId)?.participants[participantId];
    if (!p) throw new ConditionalCheckFailed('no such participant');
    p.state = state;
    if (state === 'active') p.answeredAt ??= new Date().toISOString();
  }

  async setConnection(sessionId: string, connectionId: string, connection: ConnectionRecord): Promise<void> {
    await this.enter('setConnection', sessionId);
    const s = this.sessions.get(sessionId);
    if (!s) throw new ConditionalCheckFailed('no such session');
    s.connections ??= {};
    s.connections[connectionId] = structuredClone(connection);
  }

  async end(sessionId: string, reason: string, endedParticipants: readonly string[] = []): Promise<boolean> {
    await this.enter('end', sessionId);
    const s = this.sessions.get(sessionId);
    if (!s) throw new ConditionalCheckFailed('no such session');
    if (s.state === 'ended') return false;
    // As DynamoDB: a path into a participant the session does not have fails the whole write.
    if (endedParticipants.some((p) => !s.participants[p])) throw new Error('invalid document path');
    for (const p of endedParticipants) s.participants[p]!.state = 'ended';
    s.state = 'ended';
    s.endedAt = new Date().toISOString();
    s.endReason = reason;
    return true;
  }

  async journal(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Promise<void> {
    // Kept at once (the flows write the journal without waiting), so a test can read it right after the step.
    this.writes.push(`journal ${sessionId}`);
    const err = this.failures.get('journal')?.shift();
    if (!err) {
      const list = this.journals.get(sessionId) ?? [];
      list.push(structuredClone({ ...entry, at: entry.at ?? new Date().toISOString() }) as JournalEntry);
      this.journals.set(sessionId, list);
    }
    await Promise.resolve();
    if (err) throw err;
  }

  /** Entries are kept at once (see `journal`): nothing is ever queued to store. */
  async flushJournal(_sessionId?: string): Promise<void> {
    await Promise.resolve();
  }

  // ---- queries for tests ----

  get(sessionId: string): SessionRecord | undefined {
    const s = this.sessions.get(sessionId);
    return s ? structuredClone(s) : undefined;
  }

  get sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** The session's journal in `at` order (as the store reads it back), optionally only entries whose `event` matches. */
  journalOf(sessionId: string, event?: string | RegExp): JournalEntry[] {
    const all = [...(this.journals.get(sessionId) ?? [])].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    if (event === undefined) return all.map((e) => structuredClone(e));
    return all
      .filter(
        (e) => typeof e.event === 'string' && (typeof event === 'string' ? e.event === event : event.test(e.event)),
      )
      .map((e) => structuredClone(e));
  }

  /** Every journal entry of every session (sessions the node never created included). */
  get allJournalEntries(): (JournalEntry & { sessionId: string })[] {
    return [...this.journals].flatMap(([sessionId, list]) => list.map((e) => ({ ...structuredClone(e), sessionId })));
  }
}

const DEFAULT_SIP_DOMAIN = 'sip.test';

/** A complete TenantRecord (callbacks fast enough for tests); `acme` by default. */
export function tenantFixture(overrides: Partial<TenantRecord> = {}): TenantRecord {
  const tenantId = overrides.tenantId ?? 'tn-acme';
  return {
    tenantId,
    name: 'Acme',
    domain: `acme.${DEFAULT_SIP_DOMAIN}`,
    callbackUrl: 'https://tenant.example.com/hooks',
    fallbackUrl: null,
    callbackTimeoutMs: 100,
    callbackRetries: 0,
    codecs: ['PCMU', 'PCMA'],
    outboundTrunk: null,
    createdAt: '2024-01-01T00:00:00.000Z',
    signingSecrets: [{ secret: 'whsec_test', createdAt: '2024-01-01T00:00:00.000Z' }],
    ...overrides,
  };
}

/**
 * TenantDirectory in memory, resolving as TenantStore does: a Request-URI host under the deployment's SIP
 * domain names a tenant by its domain (case-insensitive); otherwise the user part may be a claimed number.
 */
export class FakeTenantDirectory implements TenantDirectory {
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly numbers = new Map<string, string>();
  /** How often each method was called (a 404 must not read more than the directory). */
  readonly lookups: string[] = [];
  /**
   * Told of every write of a tenant's profile after it, as TenantStore bumps the profile's version on the
   * call-slots item (the kit wires it to FakeCallSlots.profileChanged).
   */
  onProfileWrite: (tenantId: string) => void = () => {};

  constructor(readonly sipDomain = DEFAULT_SIP_DOMAIN) {}

  /** Writes a tenant's profile (signup or a change of it), and its numbers. */
  add(tenant: TenantRecord, numbers: string[] = []): this {
    this.tenants.set(tenant.tenantId, structuredClone(tenant));
    for (const n of numbers) this.numbers.set(n, tenant.tenantId);
    this.onProfileWrite(tenant.tenantId);
    return this;
  }

  claim(number: string, tenantId: string): this {
    this.numbers.set(number, tenantId);
    return this;
  }

  async numberOwner(number: string): Promise<string | undefined> {
    this.lookups.push(`numberOwner ${number}`);
    return this.numbers.get(number);
  }

  async inboundTenantId(host: string, user: string): Promise<string | undefined> {
    this.lookups.push(`inboundTenantId ${host} ${user}`);
    return this.route(host, user);
  }

  async resolveInbound(host: string, user: string): Promise<TenantRecord | undefined> {
    this.lookups.push(`resolveInbound ${host} ${user}`);
    const tenantId = this.route(host, user);
    const tenant = tenantId ? this.read(tenantId) : undefined;
    return tenant?.state === 'suspended' ? undefined : tenant;
  }

  private route(host: string, user: string): string | undefined {
    const h = host.toLowerCase();
    let tenantId: string | undefined;
    if (h.endsWith(`.${this.sipDomain.toLowerCase()}`)) {
      tenantId = [...this.tenants.values()].find((t) => t.domain.toLowerCase() === h)?.tenantId;
    }
    if (!tenantId && user) tenantId = this.numbers.get(user);
    return tenantId;
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    this.lookups.push(`get ${tenantId}`);
    return this.read(tenantId);
  }

  private read(tenantId: string): TenantRecord | undefined {
    const t = this.tenants.get(tenantId);
    return t ? structuredClone(t) : undefined;
  }
}

/**
 * AudioSources with fake paths: `prompt` finds only prompts added (or recordings saved), `speech` and
 * `url` reject for what the test marks as failing, `saveMixedRecording` rejects an empty list.
 */
export class FakeAudioSources implements AudioSources {
  private readonly prompts = new Set<string>();
  readonly failingUrls = new Set<string>();
  /** When set, speech() rejects with this message. */
  speechError: string | undefined;
  readonly speechRequests: SpeechRequest[] = [];
  /** Recordings stored: one file (saveRecording) or the mixed files of a connection (saveMixedRecording). */
  readonly saved: { tenantId: string; fileName: string; files: string[]; mixed: boolean }[] = [];

  constructor(prompts: { tenantId: string; fileName: string }[] = []) {
    for (const p of prompts) this.addPrompt(p.tenantId, p.fileName);
  }

  addPrompt(tenantId: string, fileName: string): this {
    this.prompts.add(`${tenantId}/${fileName}`);
    return this;
  }

  async prompt(tenantId: string, fileName: string): Promise<string | undefined> {
    return this.prompts.has(`${tenantId}/${fileName}`) ? `/fake/prompts/${tenantId}/${fileName}.au` : undefined;
  }

  async speech(_tenantId: string, input: SpeechRequest): Promise<string> {
    this.speechRequests.push(input);
    if (this.speechError) throw new Error(this.speechError);
    return `/fake/tts/${input.text}.au`;
  }

  async silence(durationMs: number): Promise<string> {
    return `/fake/silence/${durationMs}.au`;
  }

  async tone(hz: number, durationMs: number): Promise<string> {
    return `/fake/tone/${hz}-${durationMs}.au`;
  }

  async url(_tenantId: string, url: string): Promise<string> {
    if (this.failingUrls.has(url)) throw new Error(`GET ${url}: HTTP 404`);
    return `/fake/url/${encodeURIComponent(url)}.au`;
  }

  async saveRecording(tenantId: string, fileName: string, wavFile: string): Promise<void> {
    this.saved.push({ tenantId, fileName, files: [wavFile], mixed: false });
    this.addPrompt(tenantId, fileName);
  }

  async saveMixedRecording(tenantId: string, fileName: string, wavFiles: string[]): Promise<void> {
    if (wavFiles.length === 0) throw new Error('nothing to mix: no recorded files');
    this.saved.push({ tenantId, fileName, files: [...wavFiles], mixed: true });
    this.addPrompt(tenantId, fileName);
  }
}

export type UsageCounter = 'callAttempts' | 'answeredCalls' | 'callSeconds' | 'ttsCharacters' | 'recordingSeconds';

/** UsageMeter that sums the counters per tenant (and keeps every record). */
export class FakeUsageMeter implements UsageMeter {
  readonly records: { tenantId: string; counters: Partial<Record<UsageCounter, number>> }[] = [];

  record(tenantId: string, counters: Partial<Record<UsageCounter, number>>): void {
    this.records.push({ tenantId, counters: { ...counters } });
  }

  /** The sums for a tenant; counters never recorded are 0. */
  totals(tenantId: string): Record<UsageCounter, number> {
    const sums: Record<UsageCounter, number> = {
      callAttempts: 0,
      answeredCalls: 0,
      callSeconds: 0,
      ttsCharacters: 0,
      recordingSeconds: 0,
    };
    for (const r of this.records) {
      if (r.tenantId !== tenantId) continue;
      for (const [k, v] of Object.entries(r.counters)) sums[k as UsageCounter] += v ?? 0;
    }
    return sums;
  }
}
