import type {
  AudioTap,
  DtmfFromMedia,
  MediaFailureKind,
  MediaLeg,
  MediaPort,
  OutboundMediaLeg,
} from '../../src/ports/media.js';

/**
 * Fake media plane for call-flow tests. Each leg records what the flow asked of it (`ops`, `played`),
 * lets the test emit RFC 4733 digits, caller audio levels and a media failure, and plays each file for a
 * duration the test controls. Semantics follow RtpEngineMedia (media-node/src/media/rtpengine-media.ts):
 * one recording at a time, echo only while the IVR answers the leg, close() idempotent, a failed leg is
 * closed and its failure listeners fire once; a media timeout (`timeout()`) reaches the listeners
 * registered at that moment, once, only while someone listens and the caller is not on hold, and leaves
 * the leg open until close().
 */

let nextPort = 30_000;

/** An SDP as the media engine writes it (the session name says what it is, so tests can tell them apart). */
export function fakeSdp(name: string): string {
  nextPort += 2;
  return [
    'v=0',
    `o=fake-media ${nextPort} 1 IN IP4 127.0.0.1`,
    `s=${name}`,
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${nextPort} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** One thing the flow did to a leg, e.g. `{ op: 'play', arg: '/fake/prompts/t/welcome' }`. */
export interface LegOp {
  op: string;
  arg?: unknown;
}

export type PlayDuration = number | ((file: string) => number);

export class FakeMediaLeg implements OutboundMediaLeg {
  readonly offerTowardsPeer: string;
  readonly sinkSide: string;
  /** The SDP answers this leg gives: connectIvr's, connectPeer's, reoffer's. */
  readonly ivrAnswerSdp: string;
  readonly peerAnswerSdp: string;
  readonly reofferAnswerSdp: string;
  readonly ops: LegOp[] = [];
  /** Files played, in order. */
  readonly played: string[] = [];
  /** Recordings stopped (the files the flow received). */
  readonly recordings: { file: string; durationMs: number }[] = [];
  /** Where the leg's IVR side points: the node's sink ('ivr'), a callee ('peer'), another leg's sinkSide, or nothing yet. */
  connectedTo: 'ivr' | 'peer' | string | undefined;
  closed = false;
  failed: string | undefined;
  /** The caller's SDP direction says hold (sendonly/inactive): no media timeout. */
  onHold = false;
  /** Set once a media timeout was reported. */
  timedOut: string | undefined;
  echoing = false;
  recording: { startedAt: number } | undefined;
  /** How long each file plays; default the media port's. */
  playDurationMs: PlayDuration | undefined;
  /** Files whose play() rejects (rtpengine refusing the file). */
  readonly unplayable = new Set<string>();
  /** When set, startRecording rejects with it (e.g. no recording directory). */
  recordingError: string | undefined;
  /** The length stopRecording reports; default the time since startRecording. */
  recordingDurationMs: number | undefined;
  private readonly dtmfListeners = new Set<(dtmf: DtmfFromMedia) => void>();
  private readonly audioListeners = new Set<(level: number) => void>();
  private readonly failureListeners = new Set<(reason: string, kind: MediaFailureKind) => void>();
  private failureReported = false;
  private ivrAnswered = false;
  private recordingCount = 0;

  constructor(
    readonly id: string,
    readonly direction: 'inbound' | 'outbound',
    private readonly port: FakeMedia,
  ) {
    this.offerTowardsPeer = fakeSdp(`offer-towards-peer ${id}`);
    this.sinkSide = fakeSdp(`sink-side ${id}`);
    this.ivrAnswerSdp = fakeSdp(`ivr-answer ${id}`);
    this.peerAnswerSdp = fakeSdp(`peer-answer ${id}`);
    this.reofferAnswerSdp = fakeSdp(`reoffer-answer ${id}`);
  }

  private record(op: string, arg?: unknown): void {
    this.ops.push(arg === undefined ? { op } : { op, arg });
  }

  /** Names of the operations in order, e.g. ['connectIvr', 'play', 'stopPlayback']. */
  get opNames(): string[] {
    return this.ops.map((o) => o.op);
  }

  private alive(what: string): void {
    if (this.closed) throw new Error(`${what}: the media of this leg is gone${this.failed ? ` (${this.failed})` : ''}`);
  }

  async connectIvr(): Promise<string> {
    this.record('connectIvr');
    this.alive('connectIvr');
    this.connectedTo = 'ivr';
    this.ivrAnswered = true;
    return this.ivrAnswerSdp;
  }

  async connectPeer(peerSdp: string): Promise<string> {
    this.record('connectPeer', peerSdp);
    this.alive('connectPeer');
    this.connectedTo = 'peer';
    this.ivrAnswered = false;
    this.echoing = false;
    return this.peerAnswerSdp;
  }

  async connectTo(otherSinkSide: string | undefined): Promise<void> {
    this.record('connectTo', otherSinkSide);
    this.alive('connectTo');
    this.connectedTo = otherSinkSide ?? 'ivr';
    this.ivrAnswered = otherSinkSide === undefined;
  }

  async accept(answerSdp: string): Promise<void> {
    this.record('accept', answerSdp);
    if (this.direction !== 'outbound') throw new Error('accept() is for outbound legs');
    this.alive('accept');
    this.connectedTo = 'ivr';
    this.ivrAnswered = true;
  }

  async play(file: string): Promise<{ durationMs: number }> {
    this.record('play', file);
    this.alive('play');
    if (this.unplayable.has(file)) throw new Error(`rtpengine cannot play ${file}`);
    this.played.push(file);
    const d = this.playDurationMs ?? this.port.playDurationMs;
    return { durationMs: typeof d === 'function' ? d(file) : d };
  }

  async stopPlayback(): Promise<void> {
    // rtpengine's "nothing playing" (or a dead leg) is not an error for the flow.
    this.record('stopPlayback');
  }

  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void {
    this.dtmfListeners.add(listener);
    return () => this.dtmfListeners.delete(listener);
  }

  async reoffer(sdp: string): Promise<string> {
    this.record('reoffer', sdp);
    this.alive('reoffer');
    this.onHold = /^a=(sendonly|inactive)\s*$/m.test(sdp);
    this.connectedTo = 'ivr';
    this.ivrAnswered = true;
    return this.reofferAnswerSdp;
  }

  async startRecording(): Promise<void> {
    this.record('startRecording');
    this.alive('startRecording');
    if (this.recordingError) throw new Error(this.recordingError);
    if (this.recording) throw new Error('a recording is already running on this call');
    this.recording = { startedAt: Date.now() };
  }

  async stopRecording(): Promise<{ file: string; durationMs: number }> {
    this.record('stopRecording');
    const rec = this.recording;
    if (!rec) throw new Error('no recording is running on this call');
    this.recording = undefined;
    this.alive('stopRecording');
    this.recordingCount += 1;
    const result = {
      file: `/fake/recordings/${this.id}-${this.recordingCount}.wav`,
      durationMs: this.recordingDurationMs ?? Date.now() - rec.startedAt,
    };
    this.recordings.push(result);
    return result;
  }

  onCallerAudio(listener: (level: number) => void): () => void {
    this.audioListeners.add(listener);
    return () => this.audioListeners.delete(listener);
  }

  /** The frames sent through audio taps, and a way to feed the taps caller audio. */
  readonly tapFrames: Uint8Array[] = [];
  private readonly tapListeners = new Set<Parameters<AudioTap['onAudio']>[0]>();

  /** Caller audio as the taps would see it (160 bytes of μ-law per 20 ms). */
  callerAudio(payload: Uint8Array, seq: number, timestamp: number): void {
    for (const l of this.tapListeners) l(payload, 'pcmu', { seq, timestamp });
  }

  openAudioTap(): AudioTap {
    this.record('openAudioTap');
    this.alive('openAudioTap');
    if (!this.ivrAnswered) throw new Error('an audio tap needs the caller at the IVR (not connected)');
    const listeners = this.tapListeners;
    const frames = this.tapFrames;
    let closed = false;
    return {
      codec: 'pcmu',
      onAudio(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      send(frame) {
        if (!closed) frames.push(Uint8Array.from(frame));
      },
      close() {
        closed = true;
        listeners.clear();
      },
    };
  }

  async startEcho(): Promise<void> {
    this.record('startEcho');
    this.alive('startEcho');
    if (!this.ivrAnswered) throw new Error('echo needs the call to be answered by the IVR first');
    this.echoing = true;
  }

  async stopEcho(): Promise<void> {
    this.record('stopEcho');
    this.echoing = false;
  }

  onFailure(listener: (reason: string, kind: MediaFailureKind) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  get failureSubscribers(): number {
    return this.failureListeners.size;
  }

  async close(): Promise<void> {
    this.record('close');
    if (this.closed) return;
    this.closed = true;
    this.audioListeners.clear();
    this.dtmfListeners.clear();
  }

  // ---- the test's side ----

  /** The caller presses a key (an RFC 4733 event reported by the media engine). */
  emitDtmf(digit: string, durationMs = 160): void {
    if (this.closed) return;
    for (const l of [...this.dtmfListeners]) l({ digit, durationMs, via: 'rfc4733' });
  }

  /** A packet of caller audio arrives at the sink with this level (RMS 0..1). */
  emitAudioLevel(level: number): void {
    for (const l of [...this.audioListeners]) l(level);
  }

  /** The media engine carrying this leg died: the leg is closed and its failure listeners fire (once). */
  fail(reason = 'rtpengine exited'): void {
    if (this.closed) return;
    this.closed = true;
    this.failed = reason;
    this.audioListeners.clear();
    this.dtmfListeners.clear();
    if (this.failureReported) return;
    this.failureReported = true;
    for (const l of [...this.failureListeners]) l(reason, 'mediaFailed');
  }

  /**
   * MEDIA_TIMEOUT_SEC passed with no RTP/RTCP from the caller. Like the real leg: nothing happens on hold,
   * after close, without a listener (the real leg only checks while someone listens) or after a failure
   * was reported. Returns whether it was reported.
   */
  timeout(reason = 'no RTP or RTCP from the caller for 60 s'): boolean {
    if (this.closed || this.onHold || this.failureReported || this.failureListeners.size === 0) return false;
    this.failureReported = true;
    this.timedOut = reason;
    for (const l of [...this.failureListeners]) l(reason, 'mediaTimeout');
    return true;
  }

  get dtmfSubscribers(): number {
    return this.dtmfListeners.size;
  }
}

export class FakeMedia implements MediaPort {
  /** Every leg opened, in order. */
  readonly legs: FakeMediaLeg[] = [];
  /** The offers openLeg was called with. */
  readonly offers: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }[] = [];
  /** How long each file plays unless a leg says otherwise (ms): a silence file its length, anything else 10 ms. */
  playDurationMs: PlayDuration = (file) => Number(/\/silence\/(\d+)\./.exec(file)?.[1] ?? 10);
  private openErrors: Error[] = [];

  /** The next openLeg/openOutboundLeg rejects with this (rtpengine refusing the offer). */
  failNextOpen(err: Error | string = 'rtpengine: offer refused'): this {
    this.openErrors.push(typeof err === 'string' ? new Error(err) : err);
    return this;
  }

  async openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg> {
    this.offers.push(input);
    const err = this.openErrors.shift();
    if (err) throw err;
    if (!/^m=audio /m.test(input.offerSdp)) throw new Error('rtpengine: the offer has no audio stream');
    const leg = new FakeMediaLeg(`in-${input.callId}`, 'inbound', this);
    this.legs.push(leg);
    return leg;
  }

  async openOutboundLeg(input: { legId: string }): Promise<OutboundMediaLeg> {
    const err = this.openErrors.shift();
    if (err) throw err;
    if (this.legs.some((l) => l.id === `out-${input.legId}` && !l.closed)) {
      throw new Error(`rtpengine: call out-${input.legId} exists already`);
    }
    const leg = new FakeMediaLeg(`out-${input.legId}`, 'outbound', this);
    this.legs.push(leg);
    return leg;
  }

  /** The leg of an outbound participant, or of an inbound SIP call. */
  legOf(id: { participantId?: string; callId?: string }): FakeMediaLeg | undefined {
    const name = id.participantId ? `out-${id.participantId}` : `in-${id.callId}`;
    return this.legs.find((l) => l.id === name);
  }

  /** rtpengine died: every open leg fails. */
  failAll(reason = 'rtpengine exited'): void {
    for (const leg of this.legs) leg.fail(reason);
  }

  get openLegs(): number {
    return this.legs.filter((l) => !l.closed).length;
  }
}
