// Recordings from rtpengine's pcap output are bounded by the wall clock and a byte cap, not by RTP
// timestamps: two packets with timestamps 0 and 28,790,000 make a short WAV and a short duration.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PcapUdpReader, parseRtp, RtpTimeline, readPcapUdp, rtpToPcm } from '../src/media/pcap.js';
import { PcapRecordings } from '../src/media/pcap-recordings.js';

const PORT = 40_000;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Pkt {
  /** Capture time, seconds. */
  t: number;
  ts: number;
  seq?: number;
  ssrc?: number;
  dstPort?: number;
  /** µ-law byte of the payload (160 bytes = 20 ms). */
  fill?: number;
}

function rtp(p: Pkt): Buffer {
  const b = Buffer.alloc(12 + 160, p.fill ?? 0x55);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE((p.seq ?? 0) & 0xffff, 2);
  b.writeUInt32BE(p.ts >>> 0, 4);
  b.writeUInt32BE(p.ssrc ?? 0xabcd, 8);
  return b;
}

/** A classic little-endian pcap (Ethernet) of RTP over UDP/IPv4 towards `dstPort`. */
function pcap(packets: Pkt[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const records = packets.map((p) => {
    const payload = rtp(p);
    const frame = Buffer.alloc(14 + 20 + 8 + payload.length);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + 8 + payload.length, 16);
    frame[14 + 8] = 64;
    frame[14 + 9] = 17;
    frame.set([127, 0, 0, 1], 14 + 12);
    frame.set([127, 0, 0, 1], 14 + 16);
    frame.writeUInt16BE(30_000, 34);
    frame.writeUInt16BE(p.dstPort ?? PORT, 36);
    frame.writeUInt16BE(8 + payload.length, 38);
    payload.copy(frame, 42);
    const rec = Buffer.alloc(16);
    const sec = Math.floor(p.t);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(Math.round((p.t - sec) * 1e6), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...records]);
}

/** A steady stream: `n` packets of 20 ms from capture time `t0` and timestamp `ts0`. */
function stream(n: number, t0 = 1000, ts0 = 0, seq0 = 0): Pkt[] {
  return Array.from({ length: n }, (_, i) => ({ t: t0 + i * 0.02, ts: ts0 + i * 160, seq: seq0 + i }));
}

/** rtpengine's layout: <dir>/pcaps/<call-id>-<16 hex>.pcap, written between start and stop. */
async function recorded(packets: Pkt[]): Promise<{ recordings: PcapRecordings; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pcap-rec-'));
  dirs.push(dir);
  const recordings = new PcapRecordings(dir, 'call-1@example');
  recordings.expectNewFile(await recordings.existing());
  await mkdir(join(dir, 'pcaps'), { recursive: true });
  await writeFile(join(dir, 'pcaps', `${encodeURIComponent('call-1@example')}-0123456789abcdef.pcap`), pcap(packets));
  return { recordings, dir };
}

test('two packets with timestamps 0 and 28,790,000 make a short WAV and a short duration', async () => {
  const { recordings } = await recorded([
    { t: 1000, ts: 0, seq: 0 },
    { t: 1000.02, ts: 28_790_000, seq: 1 },
  ]);
  // The leg ran about 5 s by the wall clock.
  const { file, durationMs } = await recordings.finish(PORT, { maxDurationMs: 5000 });
  assert.ok(durationMs <= 5000, `a ${durationMs} ms recording`);
  assert.equal(durationMs, 40, 'each packet where it arrived: 2 × 20 ms');
  assert.ok((await stat(file)).size <= 44 + 5 * 16_000, `${(await stat(file)).size} bytes`);
});

test('the wall clock bounds the capture too: packets beyond the time the recording ran are dropped', async () => {
  const { recordings } = await recorded(stream(250)); // 5 s of packets
  const { file, durationMs } = await recordings.finish(PORT, { maxDurationMs: 2000 });
  assert.equal(durationMs, 2000);
  assert.equal((await readFile(file)).length, 44 + 2000 * 16);
});

test('RECORDING_MAX_BYTES caps the WAV', async () => {
  const { recordings } = await recorded(stream(150)); // 3 s
  const { file, durationMs } = await recordings.finish(PORT, { maxDurationMs: 60_000, maxBytes: 44 + 16_000 });
  assert.equal(durationMs, 1000);
  assert.equal((await readFile(file)).length, 44 + 16_000);
});

test('a steady stream keeps its length; other directions are ignored; the capture file is removed', async () => {
  const packets = [...stream(75), ...stream(10, 1000.01, 0).map((p) => ({ ...p, dstPort: 9 }))];
  const { recordings, dir } = await recorded(packets);
  const { durationMs } = await recordings.finish(PORT, { maxDurationMs: 1600 });
  assert.equal(durationMs, 1500);
  assert.deepEqual(readPcapUdp(Buffer.alloc(0)), []);
  await assert.rejects(stat(join(dir, 'pcaps', 'call-1%40example-0123456789abcdef.pcap')));
});

test('a timestamp jump mid-stream continues where the packet arrived: no hour of silence', () => {
  const before = stream(50); // 1 s
  const afterJump = stream(50, 1001, 28_790_000, 50).map((p) => ({ ...p, fill: 0x10 }));
  const timeline = new RtpTimeline(8000 * 3600);
  for (const p of [...before, ...afterJump]) timeline.add(parseRtp(rtp(p))!, p.t);
  assert.equal(timeline.length, 16_000, '2 s of audio in 2 s');
  const pcm = timeline.pcm();
  assert.notEqual(pcm[8000], 0, 'the second part starts at 1 s');
});

test('reordering is still undone and loss becomes silence, by timestamp', () => {
  const inOrder = stream(10);
  const shuffled = [inOrder[0]!, inOrder[2]!, inOrder[1]!, ...inOrder.slice(3, 7), ...inOrder.slice(8)];
  const timeline = new RtpTimeline(8000 * 60);
  for (const p of shuffled) timeline.add(parseRtp(rtp(p))!, p.t);
  assert.equal(timeline.length, 1600);
  const pcm = timeline.pcm();
  assert.equal(pcm[7 * 160 + 5], 0, 'the lost packet is silence');
  assert.notEqual(pcm[2 * 160 + 5], 0, 'the late packet is in its place');
  // Without capture times (rtpToPcm), timestamps alone place the packets as before.
  assert.equal(rtpToPcm(shuffled.map((p) => parseRtp(rtp(p))!)).length, 1600);
});

test('the pcap reader gives the same datagrams however the file is cut into chunks', () => {
  const file = pcap(stream(20));
  const whole = readPcapUdp(file);
  const reader = new PcapUdpReader();
  const chunked = [];
  for (let o = 0; o < file.length; o += 7) chunked.push(...reader.push(file.subarray(o, o + 7)));
  assert.equal(whole.length, 20);
  assert.deepEqual(chunked, whole);
  // A record cut short at the end (rtpengine killed while writing) is left out.
  assert.equal(readPcapUdp(file.subarray(0, file.length - 5)).length, 19);
});
