import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { packageProviding } from '@sipms/shared/system-packages';
import { ifNotFound, isNotFound } from '@sipms/shared/util/fs-errors';
import type { AudioSources, SpeechRequest } from '../ports/call-data.js';
import { ulawAu } from './au.js';
import { pcmToWav } from './pcap.js';
import { EspeakSpeech, type SpeechSynthesizer } from './speech-synthesizer.js';
import { mixWavs } from './wav-mix.js';

export { espeakVoice } from './speech-synthesizer.js';

const run = promisify(execFile);

/** The ffmpeg the audio sources run unless told otherwise; required (the start-up check looks for it). */
export const DEFAULT_FFMPEG_BINARY = 'ffmpeg';

export interface AudioSourceOptions {
  prompts: PromptStore;
  cacheDir: string;
  /** The TTS engine (TTS_ENGINE): espeak-ng by default. */
  speech?: SpeechSynthesizer;
  /** The ffmpeg program (default `ffmpeg` on PATH) that turns every audio file into 8 kHz µ-law AU. */
  ffmpegBinary?: string;
  urlMaxBytes?: number;
  urlTimeoutMs?: number;
  /** Freshness for a URL response with neither validators nor Cache-Control (seconds). */
  urlDefaultMaxAgeSec?: number;
  now?: () => number;
}

/** What we remember about a fetched URL: the cached file and how to revalidate it (RFC 9111). */
interface UrlCacheEntry {
  url: string;
  file: string;
  etag?: string;
  lastModified?: string;
  freshUntil: number;
}

/**
 * Audio for the IVR, as files rtpengine can play (it transcodes anything ffmpeg reads). Generated audio is
 * cached under a hash of its parameters, so the second caller hears it without waiting, and concurrent
 * requests for the same audio share one synthesis or download.
 */
export class FileAudioSources implements AudioSources {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly ready: Promise<void>;
  private readonly speechEngine: SpeechSynthesizer;
  private readonly now: () => number;

  constructor(private readonly opts: AudioSourceOptions) {
    this.speechEngine = opts.speech ?? new EspeakSpeech();
    this.now = opts.now ?? Date.now;
    this.ready = Promise.all(
      ['tts', 'silence', 'tone', 'url', 'play'].map((d) => mkdir(join(opts.cacheDir, d), { recursive: true })),
    ).then(() => undefined);
  }

  async prompt(tenantId: string, fileName: string): Promise<string | undefined> {
    const path = await this.opts.prompts.localPath(tenantId, fileName);
    return path ? this.playable(path) : undefined;
  }

  /**
   * The file as 8 kHz µ-law AU (see au.ts: rtpengine paces it evenly), converted once and cached by the
   * source's path, size and modification time.
   */
  private async playable(source: string): Promise<string> {
    if (source.endsWith('.au')) return source;
    const s = await stat(source);
    const key = hash(['play', source, String(s.size), String(s.mtimeMs)]);
    const path = join(this.opts.cacheDir, 'play', `${key}.au`);
    if (await exists(path)) return path;
    return this.once(`play/${key}`, async () => {
      await writeAtomically(path, await this.transcode(await readFile(source)));
      return path;
    });
  }

  async speech(input: SpeechRequest): Promise<string> {
    return this.playable(await this.synthesized(input));
  }

  private async synthesized(input: SpeechRequest): Promise<string> {
    const engine = this.speechEngine;
    const key = hash(engine.cacheKey(input));
    await this.ready;
    // The extension depends on what the engine returns; a marker file records it for the next lookup.
    const marker = join(this.opts.cacheDir, 'tts', `${key}.ext`);
    const ext = await readFile(marker, 'utf8').catch(ifNotFound(undefined));
    if (ext) {
      const path = join(this.opts.cacheDir, 'tts', `${key}.${ext}`);
      if (await exists(path)) return path;
    }
    return this.once(`tts/${key}`, async () => {
      const out = await engine.synthesize(input);
      const path = join(this.opts.cacheDir, 'tts', `${key}.${out.extension}`);
      await writeAtomically(path, out.audio);
      await writeFile(marker, out.extension);
      return path;
    });
  }

  silence(durationMs: number): Promise<string> {
    const ms = Math.max(20, Math.min(60_000, Math.round(durationMs)));
    return this.cachedFile('silence', `${ms}ms.au`, () => ulawAu(new Int16Array(Math.round(ms * 8))));
  }

  tone(hz: number, durationMs: number): Promise<string> {
    const ms = Math.max(20, Math.min(10_000, Math.round(durationMs)));
    return this.cachedFile('tone', `${Math.round(hz)}hz-${ms}ms.au`, () => ulawAu(tonePcm(ms, hz)));
  }

  /** Stores the recording, then removes `wavFile` (it belongs to us once handed over). */
  async saveRecording(tenantId: string, fileName: string, wavFile: string): Promise<void> {
    await this.opts.prompts.put(tenantId, fileName, await readFile(wavFile), 'audio/wav');
    await rm(wavFile, { force: true });
  }

  async saveMixedRecording(tenantId: string, fileName: string, wavFiles: string[]): Promise<void> {
    const parts = await Promise.all(wavFiles.map((f) => readFile(f)));
    const [first, ...rest] = parts;
    if (!first) throw new Error('no recording to mix');
    const mixed = rest.reduce<Buffer>((sum, part) => mixWavs(sum, part), first);
    await this.opts.prompts.put(tenantId, fileName, mixed, 'audio/wav');
    await Promise.all(wavFiles.map((f) => rm(f, { force: true })));
  }

  /**
   * A URL's audio: fresh cache entries are used as they are; stale ones are revalidated with
   * If-None-Match / If-Modified-Since (304 keeps the file). Network errors and 5xx fall back to a cached
   * copy; 4xx means the audio is gone. A new body is checked and converted by ffmpeg to 8 kHz µ-law AU.
   */
  async url(url: string): Promise<string> {
    await this.ready;
    const key = hash(['url', url]);
    const metaPath = join(this.opts.cacheDir, 'url', `${key}.json`);
    const cached = await readJson<UrlCacheEntry>(metaPath);
    // Only AU files count: an older cache may hold bytes that were never converted.
    const usable =
      cached && cached.url === url && cached.file.endsWith('.au') && (await exists(cached.file)) ? cached : undefined;
    if (usable && this.now() < usable.freshUntil) return usable.file;
    return this.once(`url/${key}`, () => this.fetchUrl(url, key, metaPath, usable));
  }

  private async fetchUrl(url: string, key: string, metaPath: string, cached: UrlCacheEntry | undefined) {
    const max = this.opts.urlMaxBytes ?? 10_000_000;
    const headers: Record<string, string> = { accept: 'audio/*, */*;q=0.5' };
    if (cached?.etag) headers['if-none-match'] = cached.etag;
    if (cached?.lastModified) headers['if-modified-since'] = cached.lastModified;
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(url, {
        headers,
        signal: AbortSignal.timeout(this.opts.urlTimeoutMs ?? 5000),
        redirect: 'follow',
      });
      if (res.status === 304 && cached) {
        await res.body?.cancel();
        await writeJson(metaPath, { ...cached, freshUntil: this.freshUntil(res.headers, cached) });
        return cached.file;
      }
      if (!res.ok) {
        await res.body?.cancel();
        if (res.status >= 500 && cached) return cached.file;
        throw new Error(`HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > max) {
        await res.body?.cancel();
        throw new Error(`larger than ${max} bytes`);
      }
      body = await readLimited(res, max);
    } catch (err) {
      const message = (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message;
      if (cached && !/^HTTP 4|larger than/.test(message)) return cached.file;
      throw new Error(`fetching ${url} failed: ${message}`);
    }
    const version = createHash('sha256').update(body).digest('hex').slice(0, 16);
    const file = join(this.opts.cacheDir, 'url', `${key}-${version}.au`);
    if (!(await exists(file))) await writeAtomically(file, await this.transcode(body));
    const entry: UrlCacheEntry = {
      url,
      file,
      ...(res.headers.get('etag') ? { etag: res.headers.get('etag')! } : {}),
      ...(res.headers.get('last-modified') ? { lastModified: res.headers.get('last-modified')! } : {}),
      freshUntil: 0,
    };
    entry.freshUntil = this.freshUntil(res.headers, entry);
    await writeJson(metaPath, entry);
    // A playing call keeps its open file; removing the old version only frees the name.
    if (cached && cached.file !== file) await rm(cached.file, { force: true });
    return file;
  }

  private freshUntil(headers: Headers, entry: Pick<UrlCacheEntry, 'etag' | 'lastModified'>): number {
    const cc = (headers.get('cache-control') ?? '').toLowerCase();
    if (/no-cache|no-store/.test(cc)) return 0;
    const maxAge = /max-age=(\d+)/.exec(cc);
    if (maxAge) return this.now() + Number(maxAge[1]) * 1000;
    // Without validators a revalidation is a full download: keep it a short while.
    if (!entry.etag && !entry.lastModified) return this.now() + (this.opts.urlDefaultMaxAgeSec ?? 60) * 1000;
    return 0;
  }

  /**
   * Any format ffmpeg reads, as 8 kHz µ-law AU; a body ffmpeg cannot read is not audio. There is no
   * fallback without ffmpeg: rtpengine plays other files with audible gaps, so a missing ffmpeg rejects.
   */
  private async transcode(body: Buffer): Promise<Buffer> {
    const ffmpeg = this.opts.ffmpegBinary ?? DEFAULT_FFMPEG_BINARY;
    const tmp = join(this.opts.cacheDir, 'url', `.in-${process.pid}-${randomSuffix()}`);
    await writeFile(tmp, body);
    try {
      const { stdout } = await run(
        ffmpeg,
        [
          '-nostdin',
          '-hide_banner',
          '-loglevel',
          'error',
          '-i',
          tmp,
          '-ac',
          '1',
          '-ar',
          '8000',
          '-c:a',
          'pcm_mulaw',
          '-f',
          'au',
          '-',
        ],
        { encoding: 'buffer', timeout: 20_000, maxBuffer: 256 * 1024 * 1024 },
      );
      if (stdout.length <= 24) throw new Error('no audio in it');
      // ffmpeg cannot seek back in a pipe: set the data size it left "unknown".
      stdout.writeUInt32BE(stdout.length - stdout.readUInt32BE(4), 8);
      return stdout;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          `${ffmpeg} not found: ffmpeg is required to play audio (Debian package ${packageProviding('ffmpeg')})`,
        );
      }
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '')
        .trim()
        .split('\n')
        .pop();
      throw new Error(`not playable audio (${stderr || (err as Error).message})`);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async cachedFile(kind: string, name: string, produce: () => Buffer): Promise<string> {
    await this.ready;
    const path = join(this.opts.cacheDir, kind, name);
    if (await exists(path)) return path;
    return this.once(`${kind}/${name}`, async () => {
      await writeAtomically(path, produce());
      return path;
    });
  }

  /** Concurrent requests for the same audio share one producer. */
  private once(id: string, produce: () => Promise<string>): Promise<string> {
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = produce().finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }
}

async function readLimited(res: Response, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) throw new Error(`larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

async function writeAtomically(path: string, bytes: Buffer): Promise<void> {
  // Write then rename, so rtpengine never reads a half-written file.
  const tmp = `${path}.${process.pid}.${randomSuffix()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    // Not cached yet, or a cache entry that is not JSON: both are made again.
    if (isNotFound(err) || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeAtomically(path, Buffer.from(JSON.stringify(value)));
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(ifNotFound(undefined)))?.isFile() ?? false;
}

function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}

function hash(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);
}

/** A 8 kHz 16-bit mono WAV of silence. */
export function silentWav(durationMs: number): Buffer {
  return pcmToWav(new Int16Array(Math.round((8000 * durationMs) / 1000)));
}

/** A 8 kHz 16-bit mono WAV sine tone at half scale, with 5 ms fades so it does not click. */
export function toneWav(durationMs: number, hz: number): Buffer {
  return pcmToWav(tonePcm(durationMs, hz));
}

function tonePcm(durationMs: number, hz: number): Int16Array {
  const n = Math.round((8000 * durationMs) / 1000);
  const pcm = new Int16Array(n);
  const fade = 40;
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / fade, (n - 1 - i) / fade);
    pcm[i] = Math.round(Math.sin((2 * Math.PI * hz * i) / 8000) * 0.5 * 32767 * env);
  }
  return pcm;
}
