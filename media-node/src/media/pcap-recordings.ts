import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifNotFound } from '@sipms/shared/util/fs-errors';
import { parseRtp, pcmToWav, readPcapUdp, rtpToPcm } from './pcap.js';

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

  /** After `stop recording`: the caller's audio (RTP sent to `callerFacingPort`) as an 8 kHz WAV file. */
  async finish(callerFacingPort: number): Promise<{ file: string; durationMs: number }> {
    const before = this.current?.before ?? new Set<string>();
    this.current = undefined;
    const name = (await this.pcaps()).find((n) => !before.has(n));
    if (!name) throw new Error('rtpengine wrote no recording file');
    const pcapPath = join(this.pcapDir, name);
    const datagrams = readPcapUdp(await readFile(pcapPath));
    const rtp = datagrams
      .filter((d) => d.dstPort === callerFacingPort)
      .map((d) => parseRtp(d.payload))
      .filter((p) => p !== undefined);
    const pcm = rtpToPcm(rtp);
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
