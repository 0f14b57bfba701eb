import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomId } from '@sipms/shared/util/ids';
import { pcmWavHeader, WAV_HEADER_BYTES } from '../media/pcap.js';

const RATE = 8000;
/** Samples gathered before a write: one second, so the file system sees 50 writes a minute, not 3000. */
const CHUNK_SAMPLES = RATE;

/** A conference's mix being written to a WAV file (8 kHz, 16-bit, mono). */
export interface MixRecording {
  /** One 20 ms frame of the mix (copied). */
  write(frame: Int16Array): void;
  /** True once `maxBytes` is reached: later frames are dropped, the owner should stop it. */
  readonly full: boolean;
  /** Finishes the file; resolves with its path and length. The caller owns (and removes) the file. */
  stop(): Promise<{ file: string; durationMs: number }>;
  /** Drops the file (the conference could not store it). */
  discard(): Promise<void>;
}

/**
 * Starts a recording under `dir`, at most `maxBytes` long (RECORDING_MAX_BYTES, header included). The samples
 * go to disk a second at a time through a write stream, so an hour of mix is not held in memory.
 */
export async function startMixRecording(dir: string, maxBytes: number): Promise<MixRecording> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${randomId('mix')}.wav`);
  const stream = createWriteStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  stream.write(pcmWavHeader(0, RATE));
  return new FileMixRecording(file, stream, Math.floor((maxBytes - WAV_HEADER_BYTES) / 2));
}

class FileMixRecording implements MixRecording {
  private chunk = Buffer.alloc(CHUNK_SAMPLES * 2);
  private filled = 0;
  private samples = 0;
  private failed: Error | undefined;

  constructor(
    private readonly file: string,
    private readonly stream: WriteStream,
    private readonly maxSamples: number,
  ) {
    stream.on('error', (err) => {
      this.failed = err;
    });
  }

  get full(): boolean {
    return this.samples >= this.maxSamples;
  }

  write(frame: Int16Array): void {
    if (this.failed) return;
    const take = Math.min(frame.length, this.maxSamples - this.samples);
    for (let i = 0; i < take; i++) {
      this.chunk.writeInt16LE(frame[i]!, this.filled * 2);
      this.filled++;
      if (this.filled === CHUNK_SAMPLES) this.flush();
    }
    this.samples += take;
  }

  private flush(): void {
    if (this.filled === 0) return;
    this.stream.write(this.chunk.subarray(0, this.filled * 2));
    // The stream keeps the buffer it was given until written: the next chunk is a new one.
    this.chunk = Buffer.alloc(CHUNK_SAMPLES * 2);
    this.filled = 0;
  }

  async stop(): Promise<{ file: string; durationMs: number }> {
    this.flush();
    await new Promise<void>((resolve, reject) =>
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    if (this.failed) throw this.failed;
    // The sizes are known only now: patch the header in place.
    const handle = await open(this.file, 'r+');
    try {
      await handle.write(pcmWavHeader(this.samples * 2, RATE), 0, WAV_HEADER_BYTES, 0);
    } finally {
      await handle.close();
    }
    return { file: this.file, durationMs: Math.round((this.samples / RATE) * 1000) };
  }

  async discard(): Promise<void> {
    this.stream.destroy();
    await rm(this.file, { force: true });
  }
}
