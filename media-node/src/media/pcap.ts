import { open } from 'node:fs/promises';

/**
 * Just enough libpcap (the classic file format) and RTP to turn rtpengine's `--recording-method=pcap`
 * files into audio: read the UDP datagrams, keep one direction's RTP, decode G.711 into 16-bit PCM.
 */

export interface UdpDatagram {
  /** Capture time in seconds (pcap header). */
  t: number;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_RAW_ALT = 12;
const LINKTYPE_LINUX_SLL = 113;
/** Larger records than this are not packets (tcpdump's largest snap length): the file is damaged there. */
const MAX_RECORD_BYTES = 262_144;

/** The UDP-over-IPv4 datagrams of a pcap file; other packets are skipped. */
export function readPcapUdp(file: Buffer): UdpDatagram[] {
  if (file.length < 24) return [];
  return new PcapUdpReader().push(file);
}

/**
 * Reads a pcap file a chunk at a time (`push`), so a large capture is never held whole: each call
 * returns the UDP-over-IPv4 datagrams of the records completed so far. A record cut short at the end
 * (the writer was killed) or one of an impossible length ends the reading.
 */
export class PcapUdpReader {
  private pending: Buffer = Buffer.alloc(0);
  private format: { le: boolean; nanos: boolean; linkHeader: number } | undefined;
  private stopped = false;

  push(chunk: Buffer): UdpDatagram[] {
    if (this.stopped) return [];
    const file = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let o = 0;
    if (!this.format) {
      if (file.length < 24) {
        this.pending = Buffer.from(file);
        return [];
      }
      this.format = pcapFormat(file);
      o = 24;
    }
    const { le, nanos, linkHeader } = this.format;
    const u32 = (at: number) => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
    const out: UdpDatagram[] = [];
    while (o + 16 <= file.length) {
      const caplen = u32(o + 8);
      if (caplen > MAX_RECORD_BYTES) {
        this.stopped = true;
        break;
      }
      const start = o + 16;
      if (start + caplen > file.length) break; // the rest comes with the next chunk
      const t = u32(o) + u32(o + 4) / (nanos ? 1e9 : 1e6);
      o = start + caplen;
      const ip = start + linkHeader;
      if (caplen < linkHeader + 28 || file[ip]! >> 4 !== 4 || file[ip + 9] !== 17) continue;
      const udp = ip + (file[ip]! & 0x0f) * 4;
      if (udp + 8 > o) continue;
      const udpLen = file.readUInt16BE(udp + 4);
      out.push({
        t,
        srcPort: file.readUInt16BE(udp),
        dstPort: file.readUInt16BE(udp + 2),
        // A copy: the chunk it came from is not kept.
        payload: Buffer.from(file.subarray(udp + 8, Math.min(o, udp + udpLen))),
      });
    }
    this.pending = this.stopped ? Buffer.alloc(0) : Buffer.from(file.subarray(o));
    return out;
  }
}

function pcapFormat(file: Buffer): { le: boolean; nanos: boolean; linkHeader: number } {
  const magic = file.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error('not a pcap file');
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const linkType = (le ? file.readUInt32LE(20) : file.readUInt32BE(20)) & 0xffff;
  const linkHeader =
    linkType === LINKTYPE_ETHERNET
      ? 14
      : linkType === LINKTYPE_LINUX_SLL
        ? 16
        : linkType === LINKTYPE_RAW || linkType === LINKTYPE_RAW_ALT
          ? 0
          : -1;
  if (linkHeader < 0) throw new Error(`unsupported pcap link type ${linkType}`);
  return { le, nanos, linkHeader };
}

/** The UDP datagrams of a pcap file on disk, read `chunkBytes` at a time. */
export async function* pcapUdpFile(path: string, chunkBytes = 1 << 20): AsyncGenerator<UdpDatagram> {
  const reader = new PcapUdpReader();
  const fh = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(chunkBytes);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      yield* reader.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

export function parseRtp(b: Buffer): RtpPacket | undefined {
  if (b.length < 12 || b[0]! >> 6 !== 2) return undefined;
  const cc = b[0]! & 0x0f;
  let offset = 12 + cc * 4;
  if (b[0]! & 0x10) {
    if (b.length < offset + 4) return undefined;
    offset += 4 + b.readUInt16BE(offset + 2) * 4;
  }
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!;
  if (offset > end) return undefined;
  return {
    payloadType: b[1]! & 0x7f,
    marker: (b[1]! & 0x80) !== 0,
    seq: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
    payload: b.subarray(offset, end),
  };
}

/** ITU-T G.711 µ-law byte → linear 16-bit sample. */
export function ulawToLinear(u: number): number {
  const v = ~u & 0xff;
  const t = (((v & 0x0f) << 3) + 0x84) << ((v & 0x70) >> 4);
  return v & 0x80 ? 0x84 - t : t - 0x84;
}

/** ITU-T G.711 A-law byte → linear 16-bit sample. */
export function alawToLinear(a: number): number {
  const v = a ^ 0x55;
  const seg = (v & 0x70) >> 4;
  let t = (v & 0x0f) << 4;
  t = seg === 0 ? t + 8 : seg === 1 ? t + 0x108 : (t + 0x108) << (seg - 1);
  return v & 0x80 ? t : -t;
}

/** Decodes one G.711 payload (PT 0 µ-law, PT 8 A-law); undefined for any other payload type. */
export function decodeG711(pt: number, payload: Buffer): Int16Array | undefined {
  const decode = pt === 0 ? ulawToLinear : pt === 8 ? alawToLinear : undefined;
  if (!decode) return undefined;
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = decode(payload[i]!);
  return out;
}

/** RMS of a packet of samples, 0 (silence) to 1 (full scale). */
export function rmsLevel(samples: Int16Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length) / 32768;
}

/**
 * The audio of one direction's RTP as 8 kHz PCM, at most `maxSamples` long, built packet by packet in
 * the order they were captured: packets are placed by RTP timestamp (so loss and gaps become silence and
 * reordering is undone), G.711 only; telephone-event and other payload types are skipped.
 *
 * With capture times (`t`, seconds), the wall clock bounds the timestamps: every stream starts where its
 * first packet arrived, and a timestamp further ahead of its arrival than `toleranceSamples` (a sender's
 * jump, or two packets with timestamps 0 and 28,790,000) is placed at its arrival instead, so a gap is
 * never filled with more silence than the time that passed. Without capture times each new SSRC (a
 * re-INVITE) is appended after what is there.
 */
export class RtpTimeline {
  private buffer = new Int16Array(0);
  private end = 0;
  private t0: number | undefined;
  private readonly streams = new Map<number, { refTs: number; refPos: number }>();

  constructor(
    private readonly maxSamples: number,
    private readonly toleranceSamples = 8000,
  ) {}

  add(p: RtpPacket, t?: number): void {
    const samples = decodeG711(p.payloadType, p.payload);
    if (!samples) return;
    if (t !== undefined && this.t0 === undefined) this.t0 = t;
    const arrival = t === undefined || this.t0 === undefined ? undefined : Math.round((t - this.t0) * 8000);
    const stream = this.streams.get(p.ssrc);
    let pos: number;
    if (!stream) {
      pos = arrival ?? this.end;
      this.streams.set(p.ssrc, { refTs: p.timestamp, refPos: pos });
    } else {
      // Signed 32-bit distance from the latest packet: wrap-around and reordering safe.
      pos = stream.refPos + ((p.timestamp - stream.refTs) | 0);
      if (arrival !== undefined && pos > arrival + this.toleranceSamples) {
        // Ahead of the wall clock: the stream goes on from here, where the packet arrived.
        pos = arrival;
        stream.refTs = p.timestamp;
        stream.refPos = pos;
      } else if (pos >= stream.refPos) {
        stream.refTs = p.timestamp;
        stream.refPos = pos;
      }
    }
    this.place(samples, pos);
  }

  private place(samples: Int16Array, at: number): void {
    let pos = at;
    let s = samples;
    if (pos < 0) {
      s = s.subarray(-pos);
      pos = 0;
    }
    const end = Math.min(this.maxSamples, pos + s.length);
    if (end <= pos) return;
    if (end > this.buffer.length) {
      const grown = new Int16Array(Math.min(this.maxSamples, Math.max(end, this.buffer.length * 2, 8000 * 10)));
      grown.set(this.buffer.subarray(0, this.end));
      this.buffer = grown;
    }
    this.buffer.set(s.subarray(0, end - pos), pos);
    this.end = Math.max(this.end, end);
  }

  /** Samples so far. */
  get length(): number {
    return this.end;
  }

  pcm(): Int16Array {
    return this.buffer.subarray(0, this.end);
  }
}

/** The packets' audio (see RtpTimeline; no capture times: each SSRC appended after the previous one). */
export function rtpToPcm(packets: RtpPacket[], maxSamples = 8000 * 3600): Int16Array {
  const timeline = new RtpTimeline(maxSamples);
  for (const p of packets) timeline.add(p);
  return timeline.pcm();
}

export const WAV_HEADER_BYTES = 44;

/** The 44-byte header of a 16-bit mono PCM WAV file holding `dataBytes` of samples. */
export function pcmWavHeader(dataBytes: number, rate = 8000): Buffer {
  const b = Buffer.alloc(WAV_HEADER_BYTES);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

/** A 16-bit mono WAV file of 8 kHz PCM. */
export function pcmToWav(samples: Int16Array, rate = 8000): Buffer {
  const b = Buffer.alloc(WAV_HEADER_BYTES + samples.length * 2);
  pcmWavHeader(samples.length * 2, rate).copy(b);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, 44 + i * 2);
  return b;
}
