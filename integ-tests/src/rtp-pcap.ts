/**
 * Builds pcap files of a caller's RTP for SIPp's `play_pcap_audio` (SIPp rewrites the addresses and ports;
 * the RTP header — sequence number, timestamp, SSRC — and the timing between packets are sent as written).
 * RFC 4733 key presses are written as a phone sends them (RFC 4733 §2.5): the first packet with the marker
 * bit, one packet every 20 ms with a growing duration under one timestamp, and the end packet three times.
 */

export interface RtpOut {
  /** Seconds from the start of the file. */
  at: number;
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker?: boolean;
  payload: Buffer;
}

/** RFC 4733 event codes: 0-9, * = 10, # = 11, A-D = 12-15. */
export function eventCode(key: string): number {
  const code = '0123456789*#ABCD'.indexOf(key.toUpperCase());
  if (code < 0) throw new Error(`no RFC 4733 event for key ${key}`);
  return code;
}

/** One stream of one SSRC: keys and audio at given times, sequence numbers and timestamps kept consistent. */
export class RtpStream {
  readonly packets: RtpOut[] = [];
  private seq: number;
  /** RTP clock (8 kHz) at time 0 of the file. */
  private readonly ts0: number;

  constructor(
    readonly ssrc: number,
    opts: { seq0?: number; ts0?: number; eventPt?: number; audioPt?: number } = {},
  ) {
    this.seq = opts.seq0 ?? 1000;
    this.ts0 = opts.ts0 ?? 160_000;
    this.eventPt = opts.eventPt ?? 101;
    this.audioPt = opts.audioPt ?? 0;
  }

  private readonly eventPt: number;
  private readonly audioPt: number;

  private tsAt(at: number): number {
    return (this.ts0 + Math.round(at * 8000)) >>> 0;
  }

  /** A key press starting at `at` s, lasting `durationMs` (sent in 20 ms steps), then three end packets. */
  key(key: string, at: number, durationMs = 100, volume = 10): this {
    const ts = this.tsAt(at);
    const steps = Math.max(1, Math.round(durationMs / 20));
    const packet = (i: number, end: boolean, duration: number) => {
      const payload = Buffer.alloc(4);
      payload[0] = eventCode(key);
      payload[1] = (end ? 0x80 : 0) | (volume & 0x3f);
      payload.writeUInt16BE(duration, 2);
      this.packets.push({
        at: at + i * 0.02,
        pt: this.eventPt,
        seq: this.seq++ & 0xffff,
        ts,
        ssrc: this.ssrc,
        marker: i === 0,
        payload,
      });
    };
    for (let i = 0; i < steps; i++) packet(i, false, (i + 1) * 160);
    // The end packet, three times (RFC 4733 §2.5.1.4), carrying the full duration.
    for (let r = 0; r < 3; r++) packet(steps, true, steps * 160);
    return this;
  }

  /** `seconds` of 20 ms µ-law packets (a quiet 440 Hz tone) starting at `at`. */
  audio(at: number, seconds: number): this {
    const n = Math.round(seconds / 0.02);
    for (let i = 0; i < n; i++) {
      const t = at + i * 0.02;
      const payload = Buffer.alloc(160);
      for (let j = 0; j < 160; j++) payload[j] = ulaw(Math.round(Math.sin((2 * Math.PI * 440 * j) / 8000) * 3000));
      this.packets.push({
        at: t,
        pt: this.audioPt,
        seq: this.seq++ & 0xffff,
        ts: this.tsAt(t),
        ssrc: this.ssrc,
        payload,
      });
    }
    return this;
  }
}

function ulaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(32635, Math.abs(sample)) + 0x84;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  s = ~(sign | (exp << 4) | mant) & 0xff;
  return s;
}

/** A classic pcap (little-endian, microseconds, Ethernet) of the packets in time order, UDP 127.0.0.1:10000 → :20000. */
export function rtpPcap(...streams: RtpStream[]): Buffer {
  const packets = streams.flatMap((s) => s.packets).sort((a, b) => a.at - b.at);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const t0 = 1_700_000_000;
  const records = packets.map((p) => {
    const rtp = Buffer.alloc(12 + p.payload.length);
    rtp[0] = 0x80;
    rtp[1] = (p.marker ? 0x80 : 0) | p.pt;
    rtp.writeUInt16BE(p.seq, 2);
    rtp.writeUInt32BE(p.ts >>> 0, 4);
    rtp.writeUInt32BE(p.ssrc >>> 0, 8);
    p.payload.copy(rtp, 12);
    const frame = Buffer.alloc(14 + 20 + 8 + rtp.length);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + 8 + rtp.length, 16);
    frame[14 + 8] = 64;
    frame[14 + 9] = 17;
    frame.set([127, 0, 0, 1], 14 + 12);
    frame.set([127, 0, 0, 1], 14 + 16);
    frame.writeUInt16BE(10_000, 34);
    frame.writeUInt16BE(20_000, 36);
    frame.writeUInt16BE(8 + rtp.length, 38);
    rtp.copy(frame, 42);
    const rec = Buffer.alloc(16);
    const us = Math.round(p.at * 1e6);
    rec.writeUInt32LE(t0 + Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...records]);
}
