import type { ConferenceResult } from '@sipms/shared/contracts/callbacks';
import { ConferenceSpec } from '@sipms/shared/contracts/ivr-command';
import type { ConferenceMemberRecord, ConferenceRecord, ConferenceRef } from '@sipms/shared/domain/conference';
import type { ConferenceDirectory, ConferencePort, ConferenceRun } from '../../src/ports/conferences.js';
import type { AudioTap, TapCodec } from '../../src/ports/media.js';

/**
 * Fakes for the conference service's unit tests (each test file says it uses them): the table as a Map with
 * the same conditions as ConferenceStore (shared/test/conference-store.test.ts runs those against dynalite),
 * an audio tap that records what is sent, and a participant's IVR side (journal, callNotify, abort signals).
 */
export class MemoryDirectory implements ConferenceDirectory {
  readonly items = new Map<string, ConferenceRecord>();
  readonly liveNodes = new Set<string>();
  creates = 0;
  /** Runs before each create's condition is checked (a test interleaves another node's write there). */
  beforeCreate: (() => Promise<void> | void) | undefined;

  private key(tenantId: string, name: string): string {
    return `${tenantId}/${name}`;
  }

  private at(ref: ConferenceRef): ConferenceRecord | undefined {
    const item = this.items.get(this.key(ref.tenantId, ref.name));
    return item?.conferenceId === ref.conferenceId ? item : undefined;
  }

  async create(record: ConferenceRecord): Promise<boolean> {
    this.creates++;
    await this.beforeCreate?.();
    const k = this.key(record.tenantId, record.name);
    if (this.items.has(k)) return false;
    this.items.set(k, structuredClone(record));
    return true;
  }

  async get(tenantId: string, name: string): Promise<ConferenceRecord | undefined> {
    const item = this.items.get(this.key(tenantId, name));
    return item ? structuredClone(item) : undefined;
  }

  async replace(record: ConferenceRecord, previous: string): Promise<boolean> {
    const k = this.key(record.tenantId, record.name);
    if (this.items.get(k)?.conferenceId !== previous) return false;
    this.items.set(k, structuredClone(record));
    return true;
  }

  async putMember(ref: ConferenceRef, id: string, member: ConferenceMemberRecord): Promise<boolean> {
    const item = this.at(ref);
    if (!item) return false;
    item.participants[id] = { ...member };
    return true;
  }

  async updateMember(ref: ConferenceRef, id: string, change: { muted?: boolean; deaf?: boolean }): Promise<boolean> {
    const m = this.at(ref)?.participants[id];
    if (!m) return false;
    if (change.muted !== undefined) m.muted = change.muted;
    if (change.deaf !== undefined) m.deaf = change.deaf;
    return true;
  }

  async removeMember(ref: ConferenceRef, id: string): Promise<boolean> {
    const item = this.at(ref);
    if (!item) return false;
    delete item.participants[id];
    return true;
  }

  async setRecording(ref: ConferenceRef, recording: ConferenceRecord['recording']): Promise<boolean> {
    const item = this.at(ref);
    if (!item) return false;
    if (recording) item.recording = recording;
    else delete item.recording;
    return true;
  }

  async remove(ref: ConferenceRef): Promise<boolean> {
    if (!this.at(ref)) return false;
    this.items.delete(this.key(ref.tenantId, ref.name));
    return true;
  }

  async nodeAlive(nodeId: string): Promise<boolean> {
    return this.liveNodes.has(nodeId);
  }
}

/** An audio tap that keeps every frame sent to the caller; `speak` delivers a packet from the caller. */
export class RecordingTap implements AudioTap {
  readonly sent: Uint8Array[] = [];
  closed = false;
  private readonly listeners = new Set<Parameters<AudioTap['onAudio']>[0]>();
  private seq = 0;

  constructor(readonly codec: TapCodec = 'pcmu') {}

  onAudio(listener: Parameters<AudioTap['onAudio']>[0]): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(frame: Uint8Array): void {
    if (!this.closed) this.sent.push(frame.slice());
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  speak(payload: Uint8Array): void {
    const seq = this.seq++;
    for (const l of this.listeners) l(payload, this.codec, { seq, timestamp: seq * 160 });
  }
}

/** One participant's side of a `conference` command: what it was told, and how to take it out. */
export class Caller {
  readonly tap = new RecordingTap();
  readonly journal: Record<string, unknown>[] = [];
  readonly notified: { event: string; name: string; count: number; reason?: string }[] = [];
  readonly interrupt = new AbortController();
  readonly hangup = new AbortController();
  result: Promise<ConferenceResult> | undefined;
  tapOpened = false;

  constructor(
    readonly participantId: string,
    readonly sessionId = `s-${participantId}`,
    readonly tenantId = 't1',
  ) {}

  run(): ConferenceRun {
    return {
      openTap: () => {
        this.tapOpened = true;
        return this.tap;
      },
      signal: AbortSignal.any([this.interrupt.signal, this.hangup.signal]),
      callEnded: this.hangup.signal,
      ids: { tenantId: this.tenantId, sessionId: this.sessionId, participantId: this.participantId },
      journal: (entry) => this.journal.push(entry),
      notify: (event, fields) => this.notified.push({ event, ...fields }),
    };
  }

  join(port: ConferencePort, spec: Partial<ConferenceSpec> & { name: string }): Promise<ConferenceResult> {
    this.result = port.join(ConferenceSpec.parse({ beep: false, ...spec }), this.run());
    return this.result;
  }

  events(name: string): Record<string, unknown>[] {
    return this.journal.filter((e) => e.event === name);
  }
}
