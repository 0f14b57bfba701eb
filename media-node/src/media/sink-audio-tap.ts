import { randomInt } from 'node:crypto';
import type { AudioTap, TapCodec } from '../ports/media.js';
import type { RtpPacket } from './pcap.js';

/** RTP payload types of G.711 (RFC 3551, static). */
const CODEC_OF_PT: Record<number, TapCodec> = { 0: 'pcmu', 8: 'pcma' };
const PT_OF_CODEC: Record<TapCodec, number> = { pcmu: 0, pcma: 8 };
/** 20 ms at 8 kHz. */
const FRAME_SAMPLES = 160;

type AudioListener = Parameters<AudioTap['onAudio']>[0];

/**
 * One leg's audio tap at the IVR sink: the caller's G.711 packets as they arrive, and RTP of the node's own
 * (its SSRC, sequence and timestamp, starting at random values as RFC 3550 asks) sent back to rtpengine's
 * sink-facing port, which relays it to the caller. The node's packets take the caller's codec: rtpengine
 * passes them through without transcoding.
 */
export class SinkAudioTap implements AudioTap {
  private readonly listeners = new Set<AudioListener>();
  private readonly ssrc = randomInt(2 ** 32 - 1);
  private seq = randomInt(2 ** 16);
  private timestamp = randomInt(2 ** 32 - 1);
  private first = true;
  private closed = false;
  private current: TapCodec;

  constructor(
    initialCodec: TapCodec,
    /** Sends a packet to rtpengine's port facing the sink (where the caller's audio comes from). */
    private readonly sendPacket: (packet: Buffer) => void,
    private readonly onClose: (tap: SinkAudioTap) => void,
  ) {
    this.current = initialCodec;
  }

  get codec(): TapCodec {
    return this.current;
  }

  onAudio(listener: AudioListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A packet from the caller (RTP, not a digit): G.711 only, other payload types are not audio we can use. */
  deliver(rtp: RtpPacket): void {
    const codec = CODEC_OF_PT[rtp.payloadType];
    if (!codec || this.closed) return;
    this.current = codec;
    for (const l of this.listeners) l(rtp.payload, codec, { seq: rtp.seq, timestamp: rtp.timestamp });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const packet = Buffer.allocUnsafe(12 + frame.length);
    packet[0] = 0x80;
    // The marker bit starts a talkspurt (RFC 3551 §4.1): the first packet of the tap.
    packet[1] = (this.first ? 0x80 : 0) | PT_OF_CODEC[this.current];
    packet.writeUInt16BE(this.seq, 2);
    packet.writeUInt32BE(this.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    packet.set(frame, 12);
    this.first = false;
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    this.sendPacket(packet);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.onClose(this);
  }
}

/** The G.711 codec of an SDP's first audio payload type (the sink's side of the leg), if it is one. */
export function tapCodecOf(payloadType: number | undefined): TapCodec | undefined {
  return payloadType === undefined ? undefined : CODEC_OF_PT[payloadType];
}
