import type { ConferenceEndReason, ConferenceResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceSpec } from '@sipms/shared/contracts/ivr-command';
import type { ConferenceRef } from '@sipms/shared/domain/conference';
import type { Logger } from '@sipms/shared/util/logger';
import type { PacerClock } from '../audio/index.js';
import type { ConferenceDirectory, ConferenceRun } from '../ports/conferences.js';
import type { AudioTap } from '../ports/media.js';
import { ConferenceClock } from './conference-clock.js';
import { ConferenceMix, type MixMember } from './conference-mix.js';
import type { MixRecording } from './mix-recorder.js';

/** Why a participant left, as journaled: a conferenceResult reason, or its call ended (no result is sent then). */
export type LeaveReason = ConferenceEndReason | 'hangup';

/** Where a recording of the mix is announced: the session of the participant who asked for it. */
export interface RecordingTarget {
  sessionId: string;
  participantId: string;
}

export interface RoomDeps {
  nodeId: string;
  directory: ConferenceDirectory;
  logger: Logger;
  clock?: PacerClock | undefined;
  recordings: {
    start(): Promise<MixRecording>;
    /** Stores a finished recording as the tenant's prompt file (consumes the file). */
    save(tenantId: string, fileName: string, file: string): Promise<void>;
  };
  /** Journal and callNotify to a session on this node (recordingReady / recordingFailed). */
  announce(
    target: RecordingTarget,
    event: 'recordingReady' | 'recordingFailed',
    fields: { reason: string; recording?: { fileName: string; durationMs: number } },
  ): void;
  /** Seconds of the mix recorded for a tenant (usage). */
  recorded?(tenantId: string, seconds: number): void;
  /** The room ended: a join after this creates a new conference. */
  onEnded(room: ConferenceRoom): void;
}

interface Member {
  participantId: string;
  run: ConferenceRun;
  spec: ConferenceSpec;
  joinedAt: number;
  tap: AudioTap;
  mix: MixMember;
  stopAudio: () => void;
  finish: (reason: LeaveReason) => void;
  left?: LeaveReason;
}

interface Recording {
  fileName: string;
  target: RecordingTarget | undefined;
  /** Undefined while the file is being opened. */
  file: MixRecording | undefined;
  stopped: boolean;
}

/**
 * One conference on its host node: the participants, their mix (one clock for all of them), the table item
 * and the recording of the mix. A participant stays until it is kicked, interrupted, hangs up or the
 * conference ends; the conference ends when the last participant leaves, an `endOnExit` participant leaves,
 * or by REST. Table writes are queued in order (a leave never overtakes its join) and never delay the audio.
 */
export class ConferenceRoom {
  private readonly mix = new ConferenceMix();
  private readonly clock: ConferenceClock;
  private readonly members = new Map<string, Member>();
  private writes: Promise<unknown> = Promise.resolve();
  /** Set (synchronously) when the conference starts ending; `ended` settles when it is done. */
  private closing = false;
  private ended: Promise<void> | undefined;
  private recording: Recording | undefined;

  constructor(
    readonly ref: ConferenceRef,
    readonly maxParticipants: number,
    private readonly deps: RoomDeps,
  ) {
    this.clock = new ConferenceClock(() => this.tick(), deps.clock);
  }

  get name(): string {
    return this.ref.name;
  }

  get count(): number {
    return this.members.size;
  }

  get isEnding(): boolean {
    return this.closing;
  }

  clockStats() {
    return this.clock.stats();
  }

  /** Jitter statistics of every participant (benchmarks and diagnosis). */
  jitterStats() {
    return [...this.members.values()].map((m) => ({ participantId: m.participantId, ...m.mix.jitterStats() }));
  }

  /**
   * Joins the participant and resolves when it has left. Undefined when the conference ended before the
   * participant was in (the caller joins the next conference of that name instead).
   */
  async join(spec: ConferenceSpec, run: ConferenceRun): Promise<ConferenceResult | undefined> {
    if (this.closing) return undefined;
    const { participantId, sessionId } = run.ids;
    const refuse = (reason: 'full' | 'failed', error: string): ConferenceResult => {
      run.journal({ kind: 'media', event: 'conferenceRefused', name: this.name, reason, error });
      if (this.members.size === 0) void this.end('ended');
      return { reason, durationMs: 0, error };
    };
    if (this.members.has(participantId)) return refuse('failed', 'the participant is already in this conference');
    if (this.members.size >= this.maxParticipants) {
      return refuse('full', `the conference has its most participants (${this.maxParticipants})`);
    }
    let tap: AudioTap;
    try {
      tap = run.openTap();
    } catch (err) {
      return refuse('failed', (err as Error).message);
    }
    const joinedAt = Date.now();
    let finish!: (reason: LeaveReason) => void;
    const left = new Promise<LeaveReason>((resolve) => {
      finish = resolve;
    });
    const mix = this.mix.add(participantId, {
      muted: spec.muted,
      deaf: spec.deaf,
      codec: () => tap.codec,
      send: (frame) => tap.send(frame),
    });
    const stopAudio = tap.onAudio((payload, codec, rtp) =>
      mix.receive(payload, codec, rtp.seq, rtp.timestamp, performance.now()),
    );
    const member: Member = { participantId, run, spec, joinedAt, tap, mix, stopAudio, finish };
    this.members.set(participantId, member);
    const count = this.members.size;
    run.journal({
      kind: 'media',
      event: 'conferenceJoined',
      name: this.name,
      conferenceId: this.ref.conferenceId,
      count,
      muted: spec.muted,
      deaf: spec.deaf,
    });
    run.notify('conferenceJoined', { name: this.name, count });
    this.write((d) =>
      d.putMember(this.ref, participantId, {
        sessionId,
        nodeId: run.nodeId ?? this.deps.nodeId,
        muted: spec.muted,
        deaf: spec.deaf,
        joinedAt: new Date(joinedAt).toISOString(),
      }),
    );
    if (spec.beep) this.mix.beep('join');
    this.clock.start();

    const onAbort = () => this.leave(member, run.callEnded.aborted ? 'hangup' : 'interrupted');
    if (run.signal.aborted) onAbort();
    else run.signal.addEventListener('abort', onAbort, { once: true });
    const reason = await left;
    run.signal.removeEventListener('abort', onAbort);
    // A hang-up gets no getIvrCommand; the result is only the IVR loop's to discard.
    return { reason: reason === 'hangup' ? 'interrupted' : reason, durationMs: Date.now() - joinedAt };
  }

  /** REST: mute, unmute, deafen, undeafen. False when the participant is not in this conference. */
  update(participantId: string, change: { muted?: boolean | undefined; deaf?: boolean | undefined }): boolean {
    const m = this.members.get(participantId);
    if (!m || m.left) return false;
    if (change.muted !== undefined) m.mix.muted = change.muted;
    if (change.deaf !== undefined) m.mix.deaf = change.deaf;
    m.run.journal({
      kind: 'media',
      event: 'conferenceUpdated',
      name: this.name,
      muted: m.mix.muted,
      deaf: m.mix.deaf,
    });
    this.write((d) => d.updateMember(this.ref, participantId, change));
    return true;
  }

  /** REST: takes the participant out (conferenceResult kicked). False when it is not in this conference. */
  kick(participantId: string): boolean {
    const m = this.members.get(participantId);
    if (!m || m.left) return false;
    this.leave(m, 'kicked');
    return true;
  }

  private leave(m: Member, reason: LeaveReason): void {
    if (m.left) return;
    m.left = reason;
    this.members.delete(m.participantId);
    this.mix.remove(m.participantId);
    m.stopAudio();
    m.tap.close();
    const count = this.members.size;
    const durationMs = Date.now() - m.joinedAt;
    // How the participant's audio arrived: what a tenant (or we) look at when someone sounded broken.
    const { received, lost, late, concealed, discarded, resyncs, targetMs } = m.mix.jitterStats();
    const audio = { received, lost, late, concealed, discarded, resyncs, jitterTargetMs: targetMs };
    m.run.journal({ kind: 'media', event: 'conferenceLeft', name: this.name, reason, count, durationMs, audio });
    m.run.notify('conferenceLeft', { name: this.name, count, reason });
    if (!this.closing) {
      this.write((d) => d.removeMember(this.ref, m.participantId));
      if (m.spec.beep && count > 0) this.mix.beep('leave');
    }
    m.finish(reason);
    if (this.closing) return;
    if (m.spec.endOnExit) void this.end('endOnExit');
    else if (count === 0) void this.end('ended');
  }

  /**
   * Ends the conference: the recording is stored, every participant leaves with `reason` (`ended` by REST or
   * when the last one left, `endOnExit`), the clock stops and the item is removed.
   */
  end(reason: 'ended' | 'endOnExit'): Promise<void> {
    if (this.closing) return this.ended ?? Promise.resolve();
    this.closing = true;
    this.deps.onEnded(this);
    for (const m of [...this.members.values()]) {
      m.run.journal({ kind: 'media', event: 'conferenceEnded', name: this.name, reason });
      this.leave(m, reason);
    }
    this.clock.stop();
    this.ended = (async () => {
      await this.stopRecording();
      this.write((d) => d.remove(this.ref));
      await this.writes;
      this.deps.logger.info({ conference: this.name, reason, ...this.clock.stats() }, 'conference ended');
    })();
    return this.ended;
  }

  /** REST startrecording with conferenceName: the mix from now on, as the prompt file `fileName`. */
  async startRecording(fileName: string, target: RecordingTarget | undefined): Promise<boolean> {
    if (this.recording || this.closing) return false;
    const recording: Recording = { fileName, target, file: undefined, stopped: false };
    this.recording = recording;
    try {
      recording.file = await this.deps.recordings.start();
    } catch (err) {
      this.recording = undefined;
      this.fail(recording, err);
      return false;
    }
    if (recording.stopped) {
      // Stopped (or the conference ended) while the file was being opened: nothing was recorded.
      await recording.file.discard();
      return false;
    }
    const file = recording.file;
    this.mix.onMixed = (frame) => {
      file.write(frame);
      if (file.full) void this.stopRecording();
    };
    this.write((d) => d.setRecording(this.ref, { fileName, startedAt: new Date().toISOString() }));
    return true;
  }

  /** Stores the recording (REST stoprecording, its size limit, or the end of the conference). */
  async stopRecording(): Promise<void> {
    const recording = this.recording;
    if (!recording) return;
    this.recording = undefined;
    recording.stopped = true;
    this.mix.onMixed = undefined;
    if (!this.closing) this.write((d) => d.setRecording(this.ref, undefined));
    if (!recording.file) return;
    try {
      const { file, durationMs } = await recording.file.stop();
      await this.deps.recordings.save(this.ref.tenantId, recording.fileName, file);
      this.deps.recorded?.(this.ref.tenantId, durationMs / 1000);
      if (recording.target) {
        this.deps.announce(recording.target, 'recordingReady', {
          reason: recording.fileName,
          recording: { fileName: recording.fileName, durationMs },
        });
      }
      this.deps.logger.info({ conference: this.name, fileName: recording.fileName, durationMs }, 'conference recorded');
    } catch (err) {
      await recording.file.discard().catch((e) => this.deps.logger.warn({ err: e }, 'recording file not removed'));
      this.fail(recording, err);
    }
  }

  private fail(recording: Recording, err: unknown): void {
    const reason = `conference recording failed: ${(err as Error).message}`;
    this.deps.logger.warn({ err, conference: this.name, fileName: recording.fileName }, reason);
    if (recording.target) this.deps.announce(recording.target, 'recordingFailed', { reason });
  }

  private tick(): void {
    try {
      this.mix.tick();
    } catch (err) {
      // A bug in one tick must not stop the conference's clock.
      this.deps.logger.error({ err, conference: this.name }, 'conference tick failed');
    }
  }

  /** Queues a table write after the earlier ones; a refused or failed write is logged, never thrown. */
  private write(fn: (d: ConferenceDirectory) => Promise<boolean>): void {
    this.writes = this.writes
      .then(() => fn(this.deps.directory))
      .then((ok) => {
        if (!ok) this.deps.logger.debug({ conference: this.name }, 'conference write refused: the item changed');
      })
      .catch((err) => this.deps.logger.warn({ err, conference: this.name }, 'conference write failed'));
  }
}
