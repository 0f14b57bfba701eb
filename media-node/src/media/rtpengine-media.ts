import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '@sipms/shared/util/logger';
import type { DtmfFromMedia, MediaLeg, MediaPort, OutboundMediaLeg } from '../ports/media.js';
import type { DtmfLogListener } from './dtmf-log-listener.js';
import { decodeG711, parseRtp, rmsLevel } from './pcap.js';
import { DEFAULT_RECORDING_MAX_BYTES, PcapRecordings } from './pcap-recordings.js';
import type { RtpEngineController } from './rtpengine-controller.js';
import { audioPort, sinkAnswer, sinkOffer, telephoneEventPt } from './sdp.js';

const COMMON_FLAGS = {
  replace: ['origin', 'session-connection'],
  ICE: 'remove',
  // Port latching keeps the caller-facing port when the leg is later re-answered towards a callee (bridging).
  flags: ['port latching'],
};

/**
 * The MediaPort on rtpengine. The IVR side of every leg is answered with an SDP that points at one UDP
 * sink socket of this node, which discards what it receives: rtpengine plays prompts and reports DTMF,
 * the node never handles RTP itself.
 */
export class RtpEngineMedia implements MediaPort {
  private sink: Socket | undefined;
  private sinkAddress = { host: '127.0.0.1', port: 0 };
  private readonly legs = new Set<RtpEngineLeg>();
  /** Caller audio arriving at the sink, by the rtpengine port it comes from (one per leg). */
  private readonly audioTaps = new Map<number, SinkTap>();

  constructor(
    private readonly control: RtpEngineController,
    private readonly dtmf: DtmfLogListener,
    private readonly logger: Logger,
    private readonly options: {
      recordingDir?: string;
      /** RECORDING_MAX_BYTES: the largest WAV a recording makes (default: an hour at 8 kHz 16-bit). */
      recordingMaxBytes?: number;
    } = {},
  ) {}

  async start(sinkHost: string): Promise<void> {
    const sink = createSocket('udp4');
    sink.on('message', (msg, rinfo) =>
      this.audioTaps.get(rinfo.port)?.(msg, (reply) => sink.send(reply, rinfo.port, rinfo.address)),
    );
    sink.on('error', (err) => this.logger.error({ err }, 'media sink socket error'));
    await new Promise<void>((resolve) => sink.bind(0, sinkHost, () => resolve()));
    this.sink = sink;
    this.sinkAddress = { host: sinkHost, port: sink.address().port };
  }

  async openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg> {
    // rtpengine's call is keyed per dialog by the node's own leg id, never by the SIP Call-ID alone: two
    // dialogs with one Call-ID (a caller's choice) must not share media or delete each other's.
    const ids = { callId: `in-${input.ivrTag}`, callerTag: input.callerTag || 'caller', ivrTag: input.ivrTag };
    const res = await this.control.offer({
      'call-id': ids.callId,
      'from-tag': ids.callerTag,
      sdp: input.offerSdp,
      ...COMMON_FLAGS,
    });
    return this.track(ids, res.sdp);
  }

  /**
   * An outbound leg: the IVR sink makes the offer (from-tag = the IVR side), so rtpengine's rewrite goes to
   * the callee; the callee's answer completes it (`accept`). Tags are the node's own labels: rtpengine
   * only needs them unique within the call.
   */
  async openOutboundLeg(input: { legId: string }): Promise<OutboundMediaLeg> {
    const ids = { callId: `out-${input.legId}`, callerTag: `peer-${input.legId}`, ivrTag: `ivr-${input.legId}` };
    const offer = sinkOffer(this.sinkAddress.host, this.sinkAddress.port);
    const res = await this.control.offer({
      'call-id': ids.callId,
      'from-tag': ids.ivrTag,
      sdp: offer,
      ...COMMON_FLAGS,
    });
    return this.track(ids, res.sdp, offer);
  }

  private track(ids: LegDeps['ids'], offerTowardsPeer: string, sinkOffer?: string): RtpEngineLeg {
    const recordingDir = this.options.recordingDir ?? this.control.recordingDir;
    const leg = new RtpEngineLeg({
      control: this.control,
      dtmf: this.dtmf,
      ids,
      offerTowardsPeer,
      sink: this.sinkAddress,
      recordings: recordingDir ? new PcapRecordings(recordingDir, ids.callId) : undefined,
      recordingMaxBytes: this.options.recordingMaxBytes ?? DEFAULT_RECORDING_MAX_BYTES,
      tap: (port, fn) => {
        if (fn) this.audioTaps.set(port, fn);
        else this.audioTaps.delete(port);
      },
      logger: this.logger,
      onClosed: (l) => this.legs.delete(l),
      ...(sinkOffer ? { sinkOffer } : {}),
    });
    this.legs.add(leg);
    return leg;
  }

  get openLegs(): number {
    return this.legs.size;
  }

  /** rtpengine died: every leg it carried has lost its media. */
  failAll(reason: string): void {
    for (const leg of [...this.legs]) leg.fail(reason);
  }

  close(): void {
    this.sink?.close();
    this.sink = undefined;
  }
}

/** Slack on a recording's wall-clock length (capture times and the clock are read at slightly different moments). */
const RECORDING_CLOCK_MARGIN_MS = 250;

/** A packet the sink received, and a way to send one back to where it came from. */
type SinkTap = (packet: Buffer, reply: (packet: Buffer) => void) => void;

interface LegDeps {
  control: RtpEngineController;
  dtmf: DtmfLogListener;
  ids: { callId: string; callerTag: string; ivrTag: string };
  offerTowardsPeer: string;
  sink: { host: string; port: number };
  recordings: PcapRecordings | undefined;
  recordingMaxBytes: number;
  /** Routes the sink's packets from rtpengine's `port` to `fn` (undefined removes the route). */
  tap(port: number, fn: SinkTap | undefined): void;
  logger: Logger;
  onClosed(leg: RtpEngineLeg): void;
  /** Outbound legs: the IVR side's own offer (the node called out). */
  sinkOffer?: string;
}

class RtpEngineLeg implements OutboundMediaLeg {
  private closed = false;
  private readonly failureListeners: ((reason: string) => void)[] = [];
  private readonly audioListeners = new Set<(level: number) => void>();
  /** The sink's SDP answer in force (re-sent to switch echo on and off). */
  private ivrAnswer: string | undefined;
  /** rtpengine's port facing the caller (the caller's RTP arrives there; recordings are filtered by it). */
  private callerFacingPort = 0;
  /** rtpengine's port facing the sink (the caller's audio reaches the sink from there). */
  private sinkFacingPort: number;
  private eventPt: number | undefined;
  private recording: { startedAt: number } | undefined;
  private echoing = false;

  constructor(private readonly d: LegDeps) {
    this.sinkFacingPort = audioPort(d.offerTowardsPeer) ?? 0;
  }

  get offerTowardsPeer(): string {
    return this.d.offerTowardsPeer;
  }

  private get callerKeys() {
    return { 'call-id': this.d.ids.callId, 'from-tag': this.d.ids.callerTag };
  }

  private async answerIvr(answer: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.d.control.answer({
      ...this.callerKeys,
      'to-tag': this.d.ids.ivrTag,
      sdp: answer,
      ...COMMON_FLAGS,
      ...extra,
    });
    this.ivrAnswer = answer;
    this.eventPt = telephoneEventPt(answer);
    this.callerFacingPort = audioPort(res.sdp) ?? this.callerFacingPort;
    return res.sdp;
  }

  /**
   * Outbound legs: the callee's answer (200 OK or early media) completes the offer the IVR side made. From
   * here on the "caller" of this leg — who hears prompts, whose digits count — is the called party.
   */
  async accept(answerSdp: string): Promise<void> {
    if (!this.d.sinkOffer) throw new Error('accept() is for outbound legs');
    const res = await this.d.control.answer({
      'call-id': this.d.ids.callId,
      'from-tag': this.d.ids.ivrTag,
      'to-tag': this.d.ids.callerTag,
      sdp: answerSdp,
      ...COMMON_FLAGS,
    });
    this.ivrAnswer = this.d.sinkOffer;
    this.eventPt = telephoneEventPt(this.d.sinkOffer);
    this.callerFacingPort = audioPort(this.d.offerTowardsPeer) ?? 0;
    this.calleeAnswer = answerSdp;
    this.sinkSideSdp = res.sdp;
    this.retap(audioPort(res.sdp) ?? this.sinkFacingPort);
  }

  /** The callee's answer (outbound legs), reused when the IVR side is re-offered. */
  private calleeAnswer: string | undefined;
  /** What rtpengine offers or answers towards the IVR side of this leg (outbound legs: set on accept). */
  private sinkSideSdp: string | undefined;

  get sinkSide(): string {
    return this.sinkSideSdp ?? this.d.offerTowardsPeer;
  }

  /**
   * Points this leg's IVR side at another leg's IVR side (its `sinkSide` SDP): two rtpengine calls chained,
   * so the two parties hear each other. `undefined` points it back at the node's IVR sink.
   */
  async connectTo(otherSinkSide: string | undefined): Promise<void> {
    if (this.d.sinkOffer) {
      // Outbound: the IVR side is the offerer; re-offer from it and repeat the callee's answer.
      const offer = otherSinkSide ?? this.d.sinkOffer;
      await this.d.control.offer({
        'call-id': this.d.ids.callId,
        'from-tag': this.d.ids.ivrTag,
        sdp: offer,
        ...COMMON_FLAGS,
      });
      const res = await this.d.control.answer({
        'call-id': this.d.ids.callId,
        'from-tag': this.d.ids.ivrTag,
        'to-tag': this.d.ids.callerTag,
        sdp: this.calleeAnswer ?? '',
        ...COMMON_FLAGS,
      });
      this.sinkSideSdp = res.sdp;
      this.ivrAnswer = otherSinkSide ? undefined : this.d.sinkOffer;
      this.retap(audioPort(res.sdp) ?? this.sinkFacingPort);
      return;
    }
    // Inbound: the IVR side answers; answer with the other leg's SDP (or the sink's).
    if (otherSinkSide) await this.connectPeer(otherSinkSide);
    else await this.connectIvr();
  }

  async connectPeer(peerSdp: string): Promise<string> {
    // The same to-tag as the IVR side: with port latching rtpengine keeps the caller-facing port.
    const res = await this.d.control.answer({
      ...this.callerKeys,
      'to-tag': this.d.ids.ivrTag,
      sdp: peerSdp,
      ...COMMON_FLAGS,
    });
    this.ivrAnswer = undefined;
    this.echoing = false;
    this.callerFacingPort = audioPort(res.sdp) ?? this.callerFacingPort;
    this.retap(this.sinkFacingPort);
    return res.sdp;
  }

  async connectIvr(): Promise<string> {
    const answer = sinkAnswer(this.d.offerTowardsPeer, this.d.sink.host, this.d.sink.port);
    if (!answer) throw new Error('the offer has no usable audio stream');
    return this.answerIvr(answer);
  }

  play(file: string): Promise<{ durationMs: number }> {
    return this.d.control.playMedia({ ...this.callerKeys, file });
  }

  async stopPlayback(): Promise<void> {
    await this.d.control.stopMedia(this.callerKeys).catch((err) => {
      // Nothing playing is not an error for us.
      this.d.logger.debug({ err }, 'stop media');
    });
  }

  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void {
    return this.d.dtmf.subscribe(this.d.ids.callId, this.d.ids.callerTag, (e) =>
      listener({ digit: e.digit, durationMs: e.durationMs, via: 'rfc4733' }),
    );
  }

  async reoffer(sdp: string): Promise<string> {
    const towardsSink = await this.d.control.offer({
      ...this.callerKeys,
      'to-tag': this.d.ids.ivrTag,
      sdp,
      ...COMMON_FLAGS,
    });
    const answer = sinkAnswer(towardsSink.sdp, this.d.sink.host, this.d.sink.port);
    if (!answer) throw new Error('the re-offer has no usable audio stream');
    this.retap(audioPort(towardsSink.sdp) ?? this.sinkFacingPort);
    return this.answerIvr(answer);
  }

  async startRecording(): Promise<void> {
    if (!this.d.recordings) throw new Error('recording is not configured (no recording directory)');
    if (this.recording) throw new Error('a recording is already running on this call');
    const before = await this.d.recordings.existing();
    // Taken before the command: the wall-clock window brackets everything rtpengine records.
    const startedAt = Date.now();
    await this.d.control.startRecording({ 'call-id': this.d.ids.callId });
    this.d.recordings.expectNewFile(before);
    this.recording = { startedAt };
  }

  /**
   * The recording as a WAV file and its length, bounded by the wall-clock time it ran (plus a small
   * margin) and RECORDING_MAX_BYTES, not by RTP timestamps: billing follows `durationMs`.
   */
  async stopRecording(): Promise<{ file: string; durationMs: number }> {
    if (!this.recording || !this.d.recordings) throw new Error('no recording is running on this call');
    const { startedAt } = this.recording;
    this.recording = undefined;
    await this.d.control.stopRecording({ 'call-id': this.d.ids.callId });
    return this.d.recordings.finish(this.callerFacingPort, {
      maxDurationMs: Date.now() - startedAt + RECORDING_CLOCK_MARGIN_MS,
      maxBytes: this.d.recordingMaxBytes,
    });
  }

  onCallerAudio(listener: (level: number) => void): () => void {
    this.audioListeners.add(listener);
    this.retap(this.sinkFacingPort);
    return () => {
      this.audioListeners.delete(listener);
      this.retap(this.sinkFacingPort);
    };
  }

  /** Listens at the sink for this leg's packets only while someone needs them (levels or echo). */
  private retap(port: number): void {
    this.d.tap(this.sinkFacingPort, undefined);
    this.sinkFacingPort = port;
    if (!this.closed && (this.audioListeners.size > 0 || this.echoing)) {
      this.d.tap(port, (packet, reply) => this.onSinkPacket(packet, reply));
    }
  }

  private onSinkPacket(packet: Buffer, reply: (packet: Buffer) => void): void {
    const rtp = parseRtp(packet);
    // RTCP (its packet types read as PT 72-76) and telephone-event are not audio.
    if (!rtp || (rtp.payloadType >= 72 && rtp.payloadType <= 76) || rtp.payloadType === this.eventPt) return;
    if (this.echoing) reply(packet);
    if (this.audioListeners.size === 0) return;
    const samples = decodeG711(rtp.payloadType, rtp.payload);
    const level = samples ? rmsLevel(samples) : 1;
    for (const l of this.audioListeners) l(level);
  }

  /**
   * Echo reflects the caller's packets at the IVR sink back into rtpengine, which relays them to the
   * caller. rtpengine's own `media-echo` was tried first: it echoes, but on 10.5 it cannot be switched
   * off on a running call (a re-answer or re-offer without it, or with "none", keeps echoing).
   */
  async startEcho(): Promise<void> {
    if (!this.ivrAnswer) throw new Error('echo needs the call to be answered by the IVR first');
    this.echoing = true;
    this.retap(this.sinkFacingPort);
  }

  async stopEcho(): Promise<void> {
    this.echoing = false;
    this.retap(this.sinkFacingPort);
  }

  onFailure(listener: (reason: string) => void): void {
    this.failureListeners.push(listener);
  }

  fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    void this.cleanupRecordings();
    for (const l of this.failureListeners) l(reason);
  }

  private release(): void {
    this.d.tap(this.sinkFacingPort, undefined);
    this.audioListeners.clear();
    this.d.onClosed(this);
  }

  private async cleanupRecordings(): Promise<void> {
    await this.d.recordings?.cleanup().catch((err) => this.d.logger.warn({ err }, 'recording clean-up failed'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
    await this.d.control
      .delete({ 'call-id': this.d.ids.callId })
      .catch((err) => this.d.logger.warn({ err }, 'rtpengine delete failed'));
    // After delete: rtpengine has closed any recording file still open.
    await this.cleanupRecordings();
  }
}
