import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRtp, type RtpPacket, readPcapUdp } from '@sipms/media-node/media/pcap';

export interface CapturedPacket {
  /** Capture time on the wire (seconds, tcpdump's clock). */
  t: number;
  srcPort: number;
  dstPort: number;
  /** The RTP header and payload, when the datagram is RTP. */
  rtp: RtpPacket | undefined;
  /** A one-line summary, like tcpdump's. */
  line: string;
  /** The UDP payload. */
  payload: Buffer;
}

/**
 * Captures packets on the wire with tcpdump into a pcap file: the caller's view (what arrived at its
 * media port, with the RTP headers), without touching the caller's socket. `packets()` reads it after
 * `stop()`. Needs root (CI runs as root) and the `tcpdump` package.
 */
export class RtpCapture {
  private readonly child;
  private readonly started: Promise<void>;
  private readonly dir = mkdtempSync(join(tmpdir(), 'rtp-capture-'));
  private readonly file = join(this.dir, 'capture.pcap');
  private parsed: CapturedPacket[] | undefined;

  /**
   * `headerBytes`: keep only each packet's first bytes (a benchmark that needs the RTP header and a tag, not the
   * audio), and let tcpdump buffer its writes: at thousands of packets a second the capture costs far less
   * CPU, and its timestamps are still the kernel's.
   */
  constructor(filter: string, options: { headerBytes?: number } = {}) {
    // -U: write each packet at once; -Z root: keep the rights to write into our private folder.
    const light = options.headerBytes !== undefined;
    this.child = spawn(
      'tcpdump',
      [
        '-i',
        'lo',
        '-n',
        ...(light ? ['-s', String(options.headerBytes)] : ['-U', '--immediate-mode']),
        '-Z',
        'root',
        '-B',
        '16384',
        '-w',
        this.file,
        filter,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.started = new Promise((resolve, reject) => {
      let err = '';
      this.child.stderr.on('data', (d: Buffer) => {
        err += d.toString('utf8');
        if (/listening on/.test(err)) resolve();
      });
      this.child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${err}`)));
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  /** Packets captured (read after stop()), with their capture times. */
  packets(): CapturedPacket[] {
    if (this.parsed) return this.parsed;
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.file);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return []; // tcpdump wrote nothing: nothing captured
      throw err;
    }
    return readPcapUdp(bytes).map((d) => ({
      t: d.t,
      srcPort: d.srcPort,
      dstPort: d.dstPort,
      rtp: parseRtp(d.payload),
      payload: d.payload,
      line: `${d.t.toFixed(6)} IP 127.0.0.1.${d.srcPort} > 127.0.0.1.${d.dstPort}: UDP, length ${d.payload.length}`,
    }));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGINT');
      await gone;
    }
    this.parsed = this.packets();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Splits one direction's RTP into the prompts it carried: a new SSRC or a jump in RTP timestamp or
 * arrival (a new `play media`) starts a new segment. Returns packet counts and durations per segment.
 */
export function segments(packets: CapturedPacket[], gapSec = 0.1): { packets: number; seconds: number }[] {
  const out: { packets: number; first: number; last: number }[] = [];
  let prev: CapturedPacket | undefined;
  for (const p of packets) {
    if (!p.rtp || p.rtp.payloadType >= 72) continue;
    const split =
      !prev ||
      prev.rtp!.ssrc !== p.rtp.ssrc ||
      p.t - prev.t > gapSec ||
      (p.rtp.timestamp - prev.rtp!.timestamp) >>> 0 > 8000;
    if (split) out.push({ packets: 0, first: p.t, last: p.t });
    const s = out[out.length - 1]!;
    s.packets++;
    s.last = p.t;
    prev = p;
  }
  return out.map((s) => ({ packets: s.packets, seconds: s.last - s.first + 0.02 }));
}
