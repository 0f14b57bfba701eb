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

/** The UDP-over-IPv4 datagrams of a pcap file; other packets are skipped. */
export function readPcapUdp(file: Buffer): UdpDatagram[] {
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  let le: boolean;
  let nanos = false;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error('not a pcap file');
  if (magic === 0xa1b23c4d || magic === 0x4d3cb2a1) nanos = true;
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20) & 0xffff;
  const linkHeader =
    linkType === LINKTYPE_ETHERNET
      ? 14
      : linkType === LINKTYPE_LINUX_SLL
        ? 16
        : linkType === LINKTYPE_RAW || linkType === LINKTYPE_RAW_ALT
          ? 0
          : -1;
  if (linkHeader < 0) throw new Error(`unsupported pcap link type ${linkType}`);
  const out: UdpDatagram[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const t = u32(o) + u32(o + 4) / (nanos ? 1e9 : 1e6);
    const caplen = u32(o + 8);
    const start = o + 16;
    o = start + caplen;
    if (o > file.length) break; // a truncated last record (the writer was killed)
    const ip = start + linkHeader;
    if (caplen < linkHeader + 28 || file[ip]! >> 4 !== 4 || file[ip + 9] !== 17) continue;
    const udp = ip + (file[ip]! & 0x0f) * 4;
    const udpLen = file.readUInt16BE(udp + 4);
    out.push({
      t,
      srcPort: file.readUInt16BE(udp),
      dstPort: file.readUInt16BE(udp + 2),
      payload: file.subarray(udp + 8, Math.min(o, udp + udpLen)),
    });
  }
  return out;
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
 * The audio of one RTP stream as 8 kHz PCM: packets placed by RTP timestamp (so loss and gaps become
 * silence, reordering is undone), G.711 only; telephone-event and other payload types are skipped.
 * With several SSRCs (e.g. a re-INVITE), each stream is appended after the previous one.
 */
export function rtpToPcm(packets: RtpPacket[], maxSamples = 8000 * 3600): Int16Array {
  const chunks: Int16Array[] = [];
  let total = 0;
  const bySsrc = new Map<number, RtpPacket[]>();
  for (const p of packets) {
    if (p.payloadType !== 0 && p.payloadType !== 8) continue;
    const list = bySsrc.get(p.ssrc) ?? [];
    list.push(p);
    bySsrc.set(p.ssrc, list);
  }
  for (const list of bySsrc.values()) {
    const base = list[0]!.timestamp;
    // Unsigned 32-bit distance from the first packet (wrap-around safe for a recording under 3 days).
    const at = (p: RtpPacket) => (p.timestamp - base) >>> 0;
    const sorted = list.filter((p) => at(p) < maxSamples).sort((a, b) => at(a) - at(b));
    if (sorted.length === 0) continue;
    const last = sorted[sorted.length - 1]!;
    const length = Math.min(maxSamples - total, at(last) + last.payload.length);
    if (length <= 0) break;
    const pcm = new Int16Array(length);
    for (const p of sorted) {
      const s = decodeG711(p.payloadType, p.payload);
      if (!s) continue;
      const offset = at(p);
      pcm.set(s.subarray(0, Math.max(0, length - offset)), offset);
    }
    chunks.push(pcm);
    total += length;
  }
  const out = new Int16Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** A 16-bit mono WAV file of 8 kHz PCM. */
export function pcmToWav(samples: Int16Array, rate = 8000): Buffer {
  const data = samples.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, 44 + i * 2);
  return b;
}
