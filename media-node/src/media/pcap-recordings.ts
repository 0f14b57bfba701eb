import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifNotFound } from '@sipms/shared/util/fs-errors';
import { parseRtp, pcapUdpFile, pcmToWav, RtpTimeline } from './pcap.js';

/** The longest recording (the IVR's maxDurationSec, 3600 s) as 8 kHz 16-bit WAV: RECORDING_MAX_BYTES' default. */
export const DEFAULT_RECORDING_MAX_BYTES = 44 + 3600 * 8000 * 2;

/** What bounds a recording's audio besides its RTP timestamps. */
export interface RecordingLimits {
  /** How long the recording ran by the wall clock (plus a margin): the WAV is never longer. */
  maxDurationMs?: number;
  /** The WAV file's largest size (header included); default DEFAULT_RECORDING_MAX_BYTES. */
  maxBytes?: number;
}

/**
 * The recordings rtpengine writes for one call with `--recording-method=pcap`: every `start recording`
 * opens `<dir>/pcaps/<call-id, %-escaped>-<16 hex>.pcap` (complete once `stop recording` returns) and a
 * metadata file. This finds the call's file, turns the caller's direction into a WAV, and removes the
 * call's files when the call ends.
 */
export class PcapRecordings {
  private current: { before: Set<string> } | undefined;

  constructor(
    private readonly dir: string,
    private readonly callId: string,
  ) {}

  private get pcapDir(): string {
    return join(this.dir, 'pcaps');
  }

  /** rtpengine's file names escape the Call-ID; compare by unescaping the part before the random suffix. */
  private ownFiles(names: string[], suffix: RegExp): string[] {
    return names.filter((n) => {
      const m = suffix.exec(n);
      if (!m) return false;
      const prefix = n.slice(0, m.index);
      let decoded = prefix;
      try {
        decoded = decodeURIComponent(prefix);
      } catch (err) {
        if (!(err instanceof URIError)) throw err; // not %-escaped: compared as it is
      }
      return decoded === this.callId || prefix === this.callId;
    });
  }

  private async pcaps(): Promise<string[]> {
    const names = await readdir(this.pcapDir).catch(ifNotFound([] as string[])); // none written yet
    return this.ownFiles(names, /-[0-9a-f]{16}\.pcap$/);
  }

  /** The call's pcap files before a `start recording` (the new one is the one not in this set). */
  async existing(): Promise<Set<string>> {
    return new Set(await this.pcaps());
  }

  expectNewFile(before: Set<string>): void {
    this.current = { before };
  }

  /**
   * After `stop recording`: the caller's audio (RTP sent to `callerFacingPort`) as an 8 kHz WAV file, no
   * longer than the wall-clock time the recording ran nor larger than the byte cap, whatever the RTP
   * timestamps say; `durationMs` is the WAV's length. The capture is read a chunk at a time.
   */
  async finish(callerFacingPort: number, limits: RecordingLimits = {}): Promise<{ file: string; durationMs: number }> {
    const before = this.current?.before ?? new Set<string>();
    this.current = undefined;
    const name = (await this.pcaps()).find((n) => !before.has(n));
    if (!name) throw new Error('rtpengine wrote no recording file');
    const pcapPath = join(this.pcapDir, name);
    const byBytes = Math.floor(((limits.maxBytes ?? DEFAULT_RECORDING_MAX_BYTES) - 44) / 2);
    const byClock = limits.maxDurationMs === undefined ? byBytes : Math.ceil(limits.maxDurationMs * 8);
    const timeline = new RtpTimeline(Math.max(0, Math.min(byBytes, byClock)));
    for await (const d of pcapUdpFile(pcapPath)) {
      if (d.dstPort !== callerFacingPort) continue;
      const rtp = parseRtp(d.payload);
      if (rtp) timeline.add(rtp, d.t);
    }
    const pcm = timeline.pcm();
    const outDir = join(this.dir, 'wav');
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `${name.slice(0, -'.pcap'.length)}.wav`);
    await writeFile(file, pcmToWav(pcm));
    await rm(pcapPath, { force: true });
    return { file, durationMs: Math.round(pcm.length / 8) };
  }

  /** Removes what rtpengine wrote for this call (pcaps and metadata). */
  async cleanup(): Promise<void> {
    for (const n of await this.pcaps()) await rm(join(this.pcapDir, n), { force: true });
    const metaDir = join(this.dir, 'metadata');
    const metas = await readdir(metaDir).catch(ifNotFound([] as string[]));
    const own = this.ownFiles(
      metas.filter((n) => n.startsWith('rtpengine-meta-')).map((n) => n.slice('rtpengine-meta-'.length)),
      /-[0-9a-f]{16}\.txt$/,
    );
    for (const n of own) await rm(join(metaDir, `rtpengine-meta-${n}`), { force: true });
  }
}
