/**
 * The caller's media: one UDP socket as its RTP endpoint. From the answer on it sends a 20 ms PCMU packet
 * every 20 ms, paced from one start time so it never drifts (the WAV being played, else silence), RFC 4733
 * events for the keys when they are due, and it keeps what arrives as audio for the recording.
 */

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { encodeUlaw, ULAW_SILENCE } from '@sipms/media-node/audio/g711';
import { parseRtp, RtpTimeline, rmsLevel } from '@sipms/media-node/media/pcap';
import { audioPort, connectionAddress, telephoneEventPt } from '@sipms/media-node/media/sdp';
import { TelephoneEventSender } from './dtmf-sender.js';
import { rtpPacket } from './rtp-packet.js';

const TICK_MS = 20;
const SAMPLES_PER_TICK = 160;
const PCMU = 0;
const PCMA = 8;
/** Ticks the loop may be late by before it skips ahead instead of sending a burst (the event loop stalled). */
const MAX_CATCH_UP = 10;
/** A recording longer than this keeps only its start. */
const MAX_RECORD_SAMPLES = 8000 * 3600;
/** Frames louder than this count as audible (about the IVR's own silence threshold). */
const AUDIBLE_DBFS = -40;

export interface HeardAudio {
  /** 8 kHz mono samples from the answer on (silence until the first packet). */
  pcm: Int16Array;
  rmsDbfs: number;
  seconds: number;
  audibleSeconds: number;
}

/** Our SDP (the offer, and the answer to a re-INVITE): PCMU and telephone-event at `host:port`. */
export function callerOffer(host: string, port: number, eventPt = 101, version = Date.now()): string {
  const ip = isIPv6(host) ? 'IP6' : 'IP4';
  return `${[
    'v=0',
    `o=- ${version} ${version} IN ${ip} ${host}`,
    's=sipms-cli',
    `c=IN ${ip} ${host}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${PCMU} ${eventPt}`,
    `a=rtpmap:${PCMU} PCMU/8000`,
    `a=rtpmap:${eventPt} telephone-event/8000`,
    `a=fmtp:${eventPt} 0-15`,
    'a=ptime:20',
    'a=sendrecv',
  ].join('\r\n')}\r\n`;
}

/** Where the answer wants our RTP: its connection address and audio port (undefined when on hold). */
export function remoteMedia(sdp: string): { host: string; port: number } | undefined {
  const host = connectionAddress(sdp);
  const port = audioPort(sdp);
  if (!host || !port || host === '0.0.0.0' || host === '::') return undefined;
  return { host, port };
}

export class CallerMedia {
  private socket!: Socket;
  private remote: { host: string; port: number } | undefined;
  private events: TelephoneEventSender | undefined;
  private eventPt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private answeredAt = 0;
  private ticks = 0;
  private seq = (Math.random() * 0x10000) >>> 0;
  private readonly ssrc = (Math.random() * 2 ** 32) >>> 0;
  private readonly ts0 = (Math.random() * 2 ** 32) >>> 0;
  private pendingDtmf: { atMs: number; digits: string }[] = [];
  private readonly timeline = new RtpTimeline(MAX_RECORD_SAMPLES);
  private firstArrival: number | undefined;
  private readonly frame = new Uint8Array(SAMPLES_PER_TICK);
  readonly warnings: string[] = [];
  packetsSent = 0;
  packetsReceived = 0;

  private constructor(
    readonly host: string,
    private readonly audio: Int16Array | undefined,
  ) {}

  /** Binds the RTP socket on `host` (the local address that routes to the server). */
  static async open(host: string, audio?: Int16Array): Promise<CallerMedia> {
    const media = new CallerMedia(host, audio);
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send error (ICMP unreachable on a connected path, …) must not end the process: RTP is best effort.
    socket.on('error', (err) => media.warn(`RTP socket: ${err.message}`));
    socket.on('message', (msg, rinfo) => media.onPacket(msg, rinfo.address));
    media.socket = socket;
    return media;
  }

  get port(): number {
    return this.socket.address().port;
  }

  offer(): string {
    return callerOffer(this.host, this.port);
  }

  /** Starts sending to where `answerSdp` points, now (tick 0 is the answer). */
  start(answerSdp: string, dtmf: { atMs: number; digits: string }[]): void {
    this.applyRemote(answerSdp);
    this.pendingDtmf = [...dtmf].sort((a, b) => a.atMs - b.atMs);
    if (this.pendingDtmf.length > 0 && this.eventPt === undefined) {
      this.warn('the answer has no telephone-event payload type: the --dtmf digits were not sent');
      this.pendingDtmf = [];
    }
    this.answeredAt = performance.now();
    this.t0 = this.answeredAt;
    this.schedule();
  }

  /** A re-INVITE's offer: follow its address, answer with ours (same port, its event payload type). */
  reoffer(offerSdp: string): string {
    this.applyRemote(offerSdp);
    return callerOffer(this.host, this.port, this.eventPt);
  }

  /** Keys as they went out, at ms after the answer. */
  get dtmfSent(): { digit: string; atMs: number }[] {
    return (this.events?.started ?? []).map((s) => ({
      digit: s.digit,
      atMs: (((s.timestamp - this.ts0) >>> 0) / SAMPLES_PER_TICK) * TICK_MS,
    }));
  }

  /** Stops sending and receiving; returns what was heard. */
  async stop(): Promise<HeardAudio> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    return this.heard();
  }

  private applyRemote(sdp: string): void {
    this.remote = remoteMedia(sdp);
    const pt = telephoneEventPt(sdp);
    if (pt !== undefined && pt !== this.eventPt) {
      this.eventPt = pt;
      const queued = this.events?.busy;
      this.events = new TelephoneEventSender({ payloadType: pt });
      if (queued) this.warn('the payload type of telephone-event changed while keys were being sent');
    }
  }

  private schedule(): void {
    const wait = Math.max(0, this.t0 + this.ticks * TICK_MS - performance.now());
    this.timer = setTimeout(() => this.onTimer(), wait);
  }

  private onTimer(): void {
    const due = Math.floor((performance.now() - this.t0) / TICK_MS) + 1;
    if (due - this.ticks > MAX_CATCH_UP) this.ticks = due - 1; // stalled: the skipped ticks' time is gone
    while (this.ticks < due) this.sendTick(this.ticks++);
    this.schedule();
  }

  private sendTick(tick: number): void {
    const timestamp = (this.ts0 + tick * SAMPLES_PER_TICK) >>> 0;
    while (this.pendingDtmf.length > 0 && Math.round(this.pendingDtmf[0]!.atMs / TICK_MS) <= tick) {
      this.events?.send(this.pendingDtmf.shift()!.digits);
    }
    const event = this.events?.next(timestamp);
    if (event) {
      this.send(event.payloadType, event.marker, event.timestamp, event.payload);
      return;
    }
    const start = tick * SAMPLES_PER_TICK;
    if (this.audio && start < this.audio.length) {
      const chunk = this.audio.subarray(start, start + SAMPLES_PER_TICK);
      this.frame.fill(ULAW_SILENCE);
      encodeUlaw(chunk, this.frame.subarray(0, chunk.length));
    } else {
      this.frame.fill(ULAW_SILENCE);
    }
    this.send(PCMU, tick === 0, timestamp, this.frame);
  }

  private send(payloadType: number, marker: boolean, timestamp: number, payload: Uint8Array): void {
    if (!this.remote) return; // on hold: the clock runs on, nothing is sent
    const packet = rtpPacket({ payloadType, marker, seq: this.seq, timestamp, ssrc: this.ssrc, payload });
    this.seq = (this.seq + 1) & 0xffff;
    this.packetsSent += 1;
    this.socket.send(packet, this.remote.port, this.remote.host);
  }

  private onPacket(msg: Buffer, from: string): void {
    // Only the far end's media address is heard; anything else on this port is a stray or hostile packet.
    if (!this.remote || from !== this.remote.host || this.answeredAt === 0) return;
    const p = parseRtp(msg);
    if (!p || (p.payloadType !== PCMU && p.payloadType !== PCMA)) return;
    const now = performance.now();
    this.firstArrival ??= now;
    this.packetsReceived += 1;
    this.timeline.add(p, now / 1000);
  }

  private heard(): HeardAudio {
    const lead =
      this.firstArrival === undefined ? 0 : Math.round(((this.firstArrival - this.answeredAt) * 8000) / 1000);
    const body = this.timeline.pcm();
    const pcm = new Int16Array(Math.min(MAX_RECORD_SAMPLES, lead + body.length));
    if (lead < pcm.length) pcm.set(body.subarray(0, pcm.length - lead), lead);
    let audible = 0;
    for (let o = 0; o + SAMPLES_PER_TICK <= pcm.length; o += SAMPLES_PER_TICK) {
      if (dbfs(rmsLevel(pcm.subarray(o, o + SAMPLES_PER_TICK))) > AUDIBLE_DBFS) audible += 1;
    }
    return {
      pcm,
      rmsDbfs: dbfs(rmsLevel(pcm)),
      seconds: pcm.length / 8000,
      audibleSeconds: (audible * TICK_MS) / 1000,
    };
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }
}

/** RMS (0-1) as dBFS, with silence at −100 rather than −∞ (JSON has no infinity). */
export function dbfs(rms: number): number {
  return rms <= 1e-5 ? -100 : Math.round(20 * Math.log10(rms) * 10) / 10;
}
