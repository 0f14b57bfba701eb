import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import type { AudioSources } from '../ports/call-data.js';

const run = promisify(execFile);

export interface AudioSourceOptions {
  prompts: PromptStore;
  cacheDir: string;
  espeakBinary?: string;
  urlMaxBytes?: number;
  urlTimeoutMs?: number;
}

/**
 * Audio for the IVR, as files rtpengine can play (it transcodes anything ffmpeg reads). Generated audio is
 * cached under a hash of its parameters, so the second caller hears it without waiting, and concurrent
 * requests for the same audio share one synthesis.
 */
export class FileAudioSources implements AudioSources {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly ready: Promise<void>;

  constructor(private readonly opts: AudioSourceOptions) {
    this.ready = Promise.all(
      ['tts', 'silence', 'url'].map((d) => mkdir(join(opts.cacheDir, d), { recursive: true })),
    ).then(() => undefined);
  }

  prompt(tenantId: string, fileName: string): Promise<string | undefined> {
    return this.opts.prompts.localPath(tenantId, fileName);
  }

  speech(input: {
    text: string;
    voice?: string | undefined;
    language?: string | undefined;
    ssml?: boolean;
  }): Promise<string> {
    const voice = espeakVoice(input.voice, input.language);
    const key = hash(['espeak', voice, input.ssml ? 'ssml' : 'text', input.text]);
    return this.cached('tts', key, async (tmp) => {
      const args = ['-v', voice, '-w', tmp];
      if (input.ssml) args.push('-m');
      // `--` ends options, so text starting with "-" is spoken, not parsed.
      await run(this.opts.espeakBinary ?? 'espeak-ng', [...args, '--', input.text], { timeout: 15_000 });
    });
  }

  silence(durationMs: number): Promise<string> {
    const ms = Math.max(20, Math.min(60_000, Math.round(durationMs)));
    return this.cached('silence', `${ms}ms`, (tmp) => writeFile(tmp, silentWav(ms)));
  }

  url(url: string): Promise<string> {
    const max = this.opts.urlMaxBytes ?? 10_000_000;
    return this.cached('url', hash(['url', url]), async (tmp) => {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.urlTimeoutMs ?? 5000), redirect: 'follow' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > max) throw new Error(`larger than ${max} bytes`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (bytes.length > max) throw new Error(`larger than ${max} bytes`);
      await writeFile(tmp, bytes);
    });
  }

  private async cached(kind: string, key: string, produce: (tmpPath: string) => Promise<void>): Promise<string> {
    await this.ready;
    const path = join(this.opts.cacheDir, kind, `${key}.wav`);
    if (await exists(path)) return path;
    const id = `${kind}/${key}`;
    let pending = this.inFlight.get(id);
    if (!pending) {
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      pending = produce(tmp)
        .then(() => rename(tmp, path))
        .then(() => path)
        .finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

function hash(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);
}

/** The espeak-ng voice closest to a requested voice or BCP 47 language (en-US → en-us, de-DE → de, …). */
export function espeakVoice(voice: string | undefined, language: string | undefined): string {
  const wanted = (language ?? 'en-US').toLowerCase();
  const exact: Record<string, string> = {
    'en-us': 'en-us',
    'en-gb': 'en-gb',
    'en-au': 'en-gb',
    'pt-br': 'pt-br',
    'es-us': 'es-419',
    'es-mx': 'es-419',
    'fr-ca': 'fr-fr',
    'cmn-cn': 'cmn',
    'zh-cn': 'cmn',
  };
  // An espeak voice name (lower case, e.g. "en-gb") is used as given; Polly names ("Joanna") fall back to the language.
  if (voice && /^[a-z]{2,3}(-[a-z0-9]+)*$/.test(voice)) return voice;
  const primary = wanted.split('-')[0]!;
  return exact[wanted] ?? (/^[a-z]{2,3}$/.test(primary) ? primary : 'en-us');
}

/** A 8 kHz 16-bit mono WAV of silence. */
export function silentWav(durationMs: number): Buffer {
  const samples = Math.round((8000 * durationMs) / 1000);
  const data = samples * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  return b;
}
