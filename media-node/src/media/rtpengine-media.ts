import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '@sipms/shared/util/logger';
import type { NgReply } from 'rtpengine-client';
import {
  type AudioTap,
  type DtmfFromMedia,
  MediaCapacityError,
  type MediaFailureKind,
  type MediaLeg,
  type MediaPort,
  type OutboundMediaLeg,
} from '../ports/media.js';
import type { DtmfLogListener } from './dtmf-log-listener.js';
import { decodeG711, parseRtp, rmsLevel } from './pcap.js';
import { DEFAULT_RECORDING_MAX_BYTES, PcapRecordings } from './pcap-recordings.js';
import { Rfc4733Decoder } from './rfc4733.js';
import { type RtpEngineController, RtpEngineError } from './rtpengine-controller.js';
import {
  audioPort,
  connectionAddress,
  onHold,
  parseAudioOffer,
  sinkAnswer,
  sinkOffer,
  telephoneEventPt,
} from './sdp.js';
import { SinkAudioTap, tapCodecOf } from './sink-audio-tap.js';

/** The receive buffer asked for at the media sink (see start()). */
const SINK_BUFFER_BYTES = 4 * 1024 * 1024;

/** MEDIA_TIMEOUT_SEC's default, in ms. */
export const DEFAULT_MEDIA_TIMEOUT_MS = 60_000;

const COMMON_FLAGS = {
  replace: ['origin', 'session-connection'],
  ICE: 'remove',
  // Port latching keeps the caller-facing port when the leg is later re-answered towards a callee (bridging).
  flags: ['port latching'],
};

/** The options of a leg's SDP as rewritten towards its IVR side (the sink or a bridged peer) and towards its caller. */
interface LegFlags {
  towardsSink: Record<string, unknown>;
  towardsCaller: Record<string, unknown>;
}

const PLAIN_LEG: LegFlags = { towardsSink: COMMON_FLAGS, towardsCaller: COMMON_FLAGS };

/**
 * A browser's leg (WebRTC): rtpengine terminates ICE and DTLS-SRTP with rtcp-mux on the caller's side and
 * speaks plain RTP/AVP to the IVR side, so the sink, bridges and recordings see what a SIP phone would send.
 */
const WEBRTC_LEG: LegFlags = {
  towardsSink: {
    ...COMMON_FLAGS,
    'transport-protocol': 'RTP/AVP',
    'rtcp-mux': ['demux'],
    DTLS: 'off',
    SDES: ['off'],
  },
  towardsCaller: {
    ...COMMON_FLAGS,
    'transport-protocol': 'UDP/TLS/RTP/SAVPF',
    ICE: 'force',
    'rtcp-mux': ['require'],
    // Browsers pair the answer's m-line to their offer's by a=mid; the sink's answer has none.
    flags: [...COMMON_FLAGS.flags, 'generate mid'],
  },
};

/**
 * The MediaPort on rtpengine. The IVR side of every leg is answered with an SDP that points at one UDP
 * sink socket of this node: rtpengine plays prompts; the sink reads the caller's RFC 4733 digits and
 * audio levels from what it receives (and reflects it for echo).
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
      /** MEDIA_TIMEOUT_SEC in ms: no RTP/RTCP from the caller for this long ends the call (default 60 s). */
      mediaTimeoutMs?: number;
      /** How often an open leg checks for the timeout; default a quarter of it, 250 ms to 5 s. */
      mediaCheckIntervalMs?: number;
    } = {},
  ) {}

  async start(sinkHost: string): Promise<void> {
    // Every leg's audio and digits arrive at this one socket, in bursts when many streams tick together;
    // the kernel's default receive buffer (about 200 packets) overflows on the first event-loop pause at a
    // few hundred streams. The kernel caps the size at net.core.rmem_max.
    const sink = createSocket({ type: 'udp4', recvBufferSize: SINK_BUFFER_BYTES });
    sink.on('message', (msg, rinfo) =>
      this.audioTaps.get(rinfo.port)?.(msg, (reply) => sink.send(reply, rinfo.port, rinfo.address)),
    );
    sink.on('error', (err) => this.logger.error({ err }, 'media sink socket error'));
    await new Promise<void>((resolve) => sink.bind(0, sinkHost, () => resolve()));
    this.sink = sink;
    this.sinkAddress = { host: sinkHost, port: sink.address().port };
    // Linux reports twice what was granted (its bookkeeping share): a small figure means rmem_max is low.
    this.logger.info({ receiveBufferBytes: sink.getRecvBufferSize() }, 'media sink socket ready');
  }

  async openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg> {
    // rtpengine's call is keyed per dialog by the node's own leg id, never by the SIP Call-ID alone: two
    // dialogs with one Call-ID (a caller's choice) must not share media or delete each other's.
    const ids = { callId: `in-${input.ivrTag}`, callerTag: input.callerTag || 'caller', ivrTag: input.ivrTag };
    const flags = flagsFor(input.offerSdp);
    const res = await capacityChecked(
      this.control.offer({
        'call-id': ids.callId,
        'from-tag': ids.callerTag,
        sdp: input.offerSdp,
        ...flags.towardsSink,
      }),
    );
    return this.track(ids, res.sdp, flags, undefined, input.offerSdp);
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
    return this.track(ids, res.sdp, PLAIN_LEG, offer);
  }

  private track(
    ids: LegDeps['ids'],
    offerTowardsPeer: string,
    flags: LegFlags,
    sinkOffer?: string,
    callerSdp?: string,
  ): RtpEngineLeg {
    const recordingDir = this.options.recordingDir ?? this.control.recordingDir;
    const mediaTimeoutMs = this.options.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    const leg = new RtpEngineLeg({
      control: this.control,
      dtmf: this.dtmf,
      ids,
      offerTowardsPeer,
      sink: this.sinkAddress,
      recordings: recordingDir ? new PcapRecordings(recordingDir, ids.callId) : undefined,
      recordingMaxBytes: this.options.recordingMaxBytes ?? DEFAULT_RECORDING_MAX_BYTES,
      mediaTimeoutMs,
      mediaCheckIntervalMs:
        this.options.mediaCheckIntervalMs ?? Math.min(5000, Math.max(250, Math.floor(mediaTimeoutMs / 4))),
      callerSdp: callerSdp ?? '',
      flags,
      tap: (port, fn) => {
        if (fn) this.audioTaps.set(port, fn);
        else this.audioTaps.delete(port);
      },
      send: (packet, port, host) => this.sink?.send(packet, port, host),
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
  /** Sends a packet from the sink socket (to rtpengine's side facing it). */
  send(packet: Buffer, port: number, host: string): void;
  logger: Logger;
  onClosed(leg: RtpEngineLeg): void;
  /** Outbound legs: the IVR side's own offer (the node called out). */
  sinkOffer?: string;
  mediaTimeoutMs: number;
  mediaCheckIntervalMs: number;
  /** The caller's SDP (inbound: its offer; outbound: set by accept), for its direction (hold). */
  callerSdp: string;
  /** A browser's leg or a SIP phone's (outbound legs are always SIP). */
  flags: LegFlags;
}

class RtpEngineLeg implements OutboundMediaLeg {
  private closed = false;
  private failureReported = false;
  private readonly failureListeners = new Set<(reason: string, kind: MediaFailureKind) => void>();
  private readonly audioListeners = new Set<(level: number) => void>();
  private readonly dtmfListeners = new Set<(dtmf: DtmfFromMedia) => void>();
  /** rtpengine's DTMF log, used only while the IVR side is not the node's sink (bridged). */
  private unsubscribeDtmfLog: (() => void) | undefined;
  private readonly decoder = new Rfc4733Decoder();
  private decoderTimer: NodeJS.Timeout | undefined;
  /** The IVR side is the node's sink: the caller's packets (and digits) arrive there. */
  private atSink = false;
  /** The caller's current SDP (offer or re-offer; the callee's answer on outbound legs). */
  private callerSdp: string;
  /** Date.now() of the caller's last packet seen, or of the last signalling that (re)set the media. */
  private lastActivity = Date.now();
  private timeoutTimer: NodeJS.Timeout | undefined;
  private checking = false;
  /** The sink's SDP answer in force (re-sent to switch echo on and off). */
  private ivrAnswer: string | undefined;
  /** rtpengine's port facing the caller (the caller's RTP arrives there; recordings are filtered by it). */
  private callerFacingPort = 0;
  /** rtpengine's port facing the sink (the caller's audio reaches the sink from there). */
  private sinkFacingPort: number;
  private eventPt: number | undefined;
  private recording: { startedAt: number } | undefined;
  /** rtpengine writes files for a call only once it records: a leg that never did has none to clean up. */
  private recordedEver = false;
  private echoing = false;
  /** Streams (and later conferences) listening to the caller and sending to it. */
  private readonly sinkTaps = new Set<SinkAudioTap>();

  constructor(private readonly d: LegDeps) {
    this.sinkFacingPort = audioPort(d.offerTowardsPeer) ?? 0;
    this.callerSdp = d.callerSdp;
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
      ...this.d.flags.towardsCaller,
      ...extra,
    });
    this.ivrAnswer = answer;
    this.eventPt = telephoneEventPt(answer);
    this.callerFacingPort = audioPort(res.sdp) ?? this.callerFacingPort;
    this.mediaSet(true);
    return res.sdp;
  }

  /** The media was (re)negotiated: where the caller's packets go now; the timeout counts from here. */
  private mediaSet(atSink: boolean): void {
    this.atSink = atSink;
    this.lastActivity = Date.now();
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
    this.callerSdp = answerSdp;
    this.sinkSideSdp = res.sdp;
    this.mediaSet(true);
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
      this.mediaSet(!otherSinkSide);
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
      ...this.d.flags.towardsCaller,
    });
    this.ivrAnswer = undefined;
    this.echoing = false;
    this.callerFacingPort = audioPort(res.sdp) ?? this.callerFacingPort;
    this.mediaSet(false);
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

  /**
   * Digits come from the sink's own RFC 4733 decoder while the IVR side is the sink (see rfc4733.ts for
   * why not from rtpengine's log), and from rtpengine's DTMF log (the caller's tag only) while it is not.
   * Digits the node sends towards the caller never reach the sink and are logged under another tag.
   */
  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void {
    this.dtmfListeners.add(listener);
    this.unsubscribeDtmfLog ??= this.d.dtmf.subscribe(this.d.ids.callId, this.d.ids.callerTag, (e) => {
      if (!this.atSink) this.emitDigit({ digit: e.digit, durationMs: e.durationMs, via: 'rfc4733' });
    });
    this.retap(this.sinkFacingPort);
    return () => {
      this.dtmfListeners.delete(listener);
      if (this.dtmfListeners.size === 0) {
        this.unsubscribeDtmfLog?.();
        this.unsubscribeDtmfLog = undefined;
      }
    };
  }

  private emitDigit(dtmf: DtmfFromMedia): void {
    for (const l of [...this.dtmfListeners]) l(dtmf);
  }

  private onEventPacket(rtp: { ssrc: number; timestamp: number; payload: Buffer }): void {
    for (const e of this.decoder.push(rtp, Date.now())) this.emitDigit({ ...e, via: 'rfc4733' });
    clearTimeout(this.decoderTimer);
    this.decoderTimer = undefined;
    if (this.decoder.pending) {
      // An event whose end packets never come is reported once it has been quiet.
      this.decoderTimer = setTimeout(() => {
        this.decoderTimer = undefined;
        for (const e of this.decoder.flush(Date.now())) this.emitDigit({ ...e, via: 'rfc4733' });
      }, 1100);
      this.decoderTimer.unref();
    }
  }

  async reoffer(sdp: string): Promise<string> {
    this.callerSdp = sdp;
    this.decoder.reset();
    const towardsSink = await this.d.control.offer({
      ...this.callerKeys,
      'to-tag': this.d.ids.ivrTag,
      sdp,
      ...this.d.flags.towardsSink,
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
    this.recordedEver = true;
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

  /**
   * Listens at the sink for this leg's packets while it is open: they show the caller is sending (media
   * timeout) and carry its digits, levels and echo.
   */
  private retap(port: number): void {
    this.d.tap(this.sinkFacingPort, undefined);
    this.sinkFacingPort = port;
    if (!this.closed) {
      this.d.tap(port, (packet, reply) => this.onSinkPacket(packet, reply));
    }
  }

  private onSinkPacket(packet: Buffer, reply: (packet: Buffer) => void): void {
    this.lastActivity = Date.now();
    const rtp = parseRtp(packet);
    // RTCP (its packet types read as PT 72-76) is not audio.
    if (!rtp || (rtp.payloadType >= 72 && rtp.payloadType <= 76)) return;
    if (rtp.payloadType === this.eventPt) {
      if (this.dtmfListeners.size > 0) this.onEventPacket(rtp);
      return;
    }
    if (this.echoing) reply(packet);
    for (const tap of this.sinkTaps) tap.deliver(rtp);
    if (this.audioListeners.size === 0) return;
    const samples = decodeG711(rtp.payloadType, rtp.payload);
    const level = samples ? rmsLevel(samples) : 1;
    for (const l of this.audioListeners) l(level);
  }

  openAudioTap(): AudioTap {
    if (this.closed) throw new Error('the leg is closed');
    if (!this.ivrAnswer || !this.atSink) throw new Error('an audio tap needs the caller at the IVR (not connected)');
    const offer = parseAudioOffer(this.ivrAnswer);
    const codec = tapCodecOf(offer?.payloadTypes.find((pt) => pt !== this.eventPt));
    if (!codec) throw new Error("the caller's codec at the IVR is not G.711 (PCMU or PCMA)");
    const host = connectionAddress(this.sinkSide) ?? '127.0.0.1';
    const tap = new SinkAudioTap(
      codec,
      // The port is read at each send: a re-INVITE can move rtpengine's side facing the sink.
      (packet) => this.d.send(packet, this.sinkFacingPort, host),
      (t) => this.sinkTaps.delete(t),
    );
    this.sinkTaps.add(tap);
    this.retap(this.sinkFacingPort);
    return tap;
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

  onFailure(listener: (reason: string, kind: MediaFailureKind) => void): () => void {
    this.failureListeners.add(listener);
    this.watchTimeout();
    return () => {
      this.failureListeners.delete(listener);
      this.watchTimeout();
    };
  }

  fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    void this.cleanupRecordings();
    this.reportFailure(reason, 'mediaFailed');
  }

  private reportFailure(reason: string, kind: MediaFailureKind): void {
    if (this.failureReported) return;
    this.failureReported = true;
    this.watchTimeout();
    for (const l of [...this.failureListeners]) l(reason, kind);
  }

  /** The timeout check runs while the leg is open, someone listens and nothing has been reported. */
  private watchTimeout(): void {
    const wanted = !this.closed && !this.failureReported && this.failureListeners.size > 0;
    if (wanted && !this.timeoutTimer) {
      this.timeoutTimer = setInterval(() => void this.checkTimeout(), this.d.mediaCheckIntervalMs);
      this.timeoutTimer.unref();
    } else if (!wanted && this.timeoutTimer) {
      clearInterval(this.timeoutTimer);
      this.timeoutTimer = undefined;
    }
  }

  /**
   * The sink sees the caller's packets while in IVR; otherwise (bridged, or nothing at the sink) rtpengine's
   * `query` tells the last packet of the caller's streams (RTP and RTCP; whole seconds, rtpengine's clock).
   */
  private async checkTimeout(): Promise<void> {
    if (this.checking || this.closed || this.failureReported) return;
    if (onHold(this.callerSdp)) {
      this.lastActivity = Date.now(); // on hold: session timers watch the call, not this
      return;
    }
    if (Date.now() - this.lastActivity < this.d.mediaTimeoutMs) return;
    this.checking = true;
    try {
      const reply = await this.d.control.query({ 'call-id': this.d.ids.callId });
      const last = lastPacketMs(reply, this.d.ids.callerTag);
      if (last !== undefined) this.lastActivity = Math.max(this.lastActivity, last);
    } catch (err) {
      if (err instanceof RtpEngineError && /unknown call/i.test(err.reason)) {
        // rtpengine dropped the call itself (its own --timeout: no media): the media is gone.
        this.reportFailure(`rtpengine ended the media: ${err.reason}`, 'mediaTimeout');
        return;
      }
      // rtpengine gone or restarting: its exit fails the leg; a query that failed is tried again.
      this.d.logger.warn({ err, callId: this.d.ids.callId }, 'media timeout check: rtpengine query failed');
      return;
    } finally {
      this.checking = false;
    }
    if (this.closed || this.failureReported || onHold(this.callerSdp)) return;
    const idle = Date.now() - this.lastActivity;
    if (idle < this.d.mediaTimeoutMs) return;
    this.reportFailure(`no RTP or RTCP from the caller for ${Math.round(idle / 1000)} s`, 'mediaTimeout');
  }

  private release(): void {
    for (const tap of [...this.sinkTaps]) tap.close();
    this.d.tap(this.sinkFacingPort, undefined);
    this.audioListeners.clear();
    this.dtmfListeners.clear();
    this.unsubscribeDtmfLog?.();
    this.unsubscribeDtmfLog = undefined;
    clearTimeout(this.decoderTimer);
    this.watchTimeout();
    this.d.onClosed(this);
  }

  private async cleanupRecordings(): Promise<void> {
    if (!this.recordedEver) return;
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

/**
 * The latest "last packet" (Unix seconds) of the party `tag`'s streams in an rtpengine `query` reply, as
 * ms (the end of that second). rtpengine sets it to the stream's creation time before any packet.
 */
export function lastPacketMs(reply: NgReply, tag: string): number | undefined {
  const tags = reply.tags as Record<string, { medias?: { streams?: { 'last packet'?: unknown }[] }[] }> | undefined;
  let last: number | undefined;
  for (const media of tags?.[tag]?.medias ?? []) {
    for (const stream of media.streams ?? []) {
      const t = Number(stream['last packet']);
      if (Number.isFinite(t) && t > 0) last = Math.max(last ?? 0, t * 1000 + 999);
    }
  }
  return last;
}

/** rtpengine's "Ran out of ports" as the port's capacity error; anything else as it came. */
async function capacityChecked<T>(command: Promise<T>): Promise<T> {
  try {
    return await command;
  } catch (err) {
    if (/ran out of ports/i.test(String((err as Error).message))) {
      throw new MediaCapacityError(`no free media ports: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}

/** A WebRTC offer (DTLS-SRTP with feedback, as browsers send) or a SIP phone's. */
export function isWebRtcOffer(sdp: string): boolean {
  return /^m=audio \d+(?:\/\d+)? (?:UDP\/TLS\/RTP\/SAVPF|RTP\/SAVPF)\b/m.test(sdp);
}

function flagsFor(callerSdp: string): LegFlags {
  return isWebRtcOffer(callerSdp) ? WEBRTC_LEG : PLAIN_LEG;
}
