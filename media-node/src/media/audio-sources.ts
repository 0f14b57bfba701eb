import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { guardedLookup } from '@sipms/shared/net/guarded-lookup';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { packageProviding } from '@sipms/shared/system-packages';
import { isNotFound } from '@sipms/shared/util/fs-errors';
import type { Logger } from '@sipms/shared/util/logger';
import { Agent, type Dispatcher, request } from 'undici';
import type { AudioSources, SpeechRequest } from '../ports/call-data.js';
import { ulawAu } from './au.js';
import { AudioCache, DEFAULT_AUDIO_CACHE_MAX_BYTES, DEFAULT_AUDIO_CACHE_TENANT_SHARE } from './audio-cache.js';
import { pcmToWav } from './pcap.js';
import { EspeakSpeech, type SpeechSynthesizer } from './speech-synthesizer.js';
import { mixWavs } from './wav-mix.js';

export { espeakVoice } from './speech-synthesizer.js';

const run = promisify(execFile);

/** The ffmpeg the audio sources run unless told otherwise; required (the start-up check looks for it). */
export const DEFAULT_FFMPEG_BINARY = 'ffmpeg';

/** What a `url` phrase refused by the address policy is skipped with (never the address or a status). */
export const ADDRESS_NOT_ALLOWED = 'address not allowed by the outbound address policy';

/** Redirects a `url` phrase follows at most, each hop checked like the first URL. */
export const MAX_URL_REDIRECTS = 3;

/** The cache's folders, one per kind of audio, each with one folder per owner. */
const KINDS = ['tts', 'silence', 'tone', 'url', 'play'] as const;
type Kind = (typeof KINDS)[number];

/** The owner of generated audio (silence, tones): the node, not a tenant. */
const NODE_OWNER = 'node';

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
  /**
   * Where `url` phrases may connect (CALLBACK_URL_POLICY, OUTBOUND_ALLOW_CIDRS), checked for every
   * redirect hop and at connect time. Default: public addresses only.
   */
  addresses?: AddressPolicy;
  /** AUDIO_CACHE_MAX_BYTES: the budget of every kind of cached audio together (default 2 GiB). */
  cacheMaxBytes?: number;
  /** AUDIO_CACHE_TENANT_SHARE: the part of the budget past which a tenant's entries go first (default 0.25). */
  cacheTenantShare?: number;
  /** How long a file handed out stays pinned beyond its own length (default 30 s). */
  cachePinMarginMs?: number;
  /** Audio longer than this is cut when converted (seconds; default 3600), which bounds every file. */
  maxAudioSeconds?: number;
  now?: () => number;
  logger?: Logger;
}

/** What we remember about a fetched URL (the `.json` beside its file): how to revalidate it (RFC 9111). */
interface UrlCacheEntry {
  url: string;
  etag?: string;
  lastModified?: string;
  freshUntil: number;
}

/** A failed `url` fetch; `useCached`: a cached copy may be played instead (network errors, 5xx). */
class UrlFetchError extends Error {
  constructor(
    message: string,
    readonly useCached: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Audio for the IVR, as 8 kHz µ-law AU files rtpengine plays (see au.ts). Converted prompts, speech and
 * URL audio are cached per tenant under a hash of their parameters, and silence and tones per length
 * bucket, all within one byte budget (AudioCache: least recently used first, a tenant over its share
 * first); concurrent requests for the same audio share one synthesis or download.
 */
export class FileAudioSources implements AudioSources {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly ready: Promise<void>;
  private readonly speechEngine: SpeechSynthesizer;
  private readonly now: () => number;
  private readonly cache: AudioCache;
  private readonly addresses: AddressPolicy;
  private readonly agent: Agent;
  /** The current file of each fetched URL, by `<owner>/<url key>`. */
  private readonly urlFiles = new Map<string, string>();
  private readonly ownerDirs = new Set<string>();

  constructor(private readonly opts: AudioSourceOptions) {
    this.speechEngine = opts.speech ?? new EspeakSpeech();
    this.now = opts.now ?? Date.now;
    this.addresses = opts.addresses ?? new AddressPolicy();
    const timeout = opts.urlTimeoutMs ?? 5000;
    this.agent = new Agent({
      // Every connection resolves through the policy, so a name re-pointed later is refused too.
      connect: { lookup: guardedLookup(this.addresses) as never, timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    this.cache = new AudioCache({
      maxBytes: opts.cacheMaxBytes ?? DEFAULT_AUDIO_CACHE_MAX_BYTES,
      tenantShare: opts.cacheTenantShare ?? DEFAULT_AUDIO_CACHE_TENANT_SHARE,
      ...(opts.cachePinMarginMs === undefined ? {} : { pinMarginMs: opts.cachePinMarginMs }),
      now: this.now,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    this.ready = this.init();
  }

  private async init(): Promise<void> {
    await Promise.all(KINDS.map((d) => mkdir(join(this.opts.cacheDir, d), { recursive: true })));
    const indexed = await this.cache.load(this.opts.cacheDir, KINDS);
    // URL files are named <key>-<version>.au: the most recently used version of a key is the current one.
    const urlDir = join(this.opts.cacheDir, 'url');
    const stale: string[] = [];
    for (const path of indexed) {
      const m = /^([^/]+)\/([0-9a-f]{40})-[0-9a-f]{16}\.au$/.exec(path.slice(urlDir.length + 1));
      if (!path.startsWith(`${urlDir}/`) || !m) continue;
      const id = `${m[1]}/${m[2]}`;
      const previous = this.urlFiles.get(id);
      if (previous) stale.push(previous);
      this.urlFiles.set(id, path);
    }
    for (const path of stale) await this.cache.remove(path);
  }

  /** Bytes of cached audio on this node (files and their metadata), for metrics. */
  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /** Bytes of cached audio a tenant owns (speech, URL audio, converted prompts). */
  cachedBytesOf(tenantId: string): number {
    return this.cache.bytesOf(ownerOf(tenantId));
  }

  /** Number of cached files (silence and tones included). */
  get cachedEntries(): number {
    return this.cache.entryCount;
  }

  /** Closes the connections `url` phrases keep open. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  async prompt(tenantId: string, fileName: string): Promise<string | undefined> {
    const path = await this.opts.prompts.localPath(tenantId, fileName);
    return path ? this.playable(tenantId, path) : undefined;
  }

  /**
   * The file as 8 kHz µ-law AU (see au.ts: rtpengine paces it evenly), converted once and cached by the
   * source's path, size and modification time. An AU prompt is played as it is, from the prompt store.
   */
  private async playable(tenantId: string, source: string): Promise<string> {
    if (source.endsWith('.au')) return source;
    await this.ready;
    const s = await stat(source);
    const key = hash(['play', source, String(s.size), String(s.mtimeMs)]);
    return this.cached('play', ownerOf(tenantId), `${key}.au`, (path) => this.transcode(source, path));
  }

  async speech(tenantId: string, input: SpeechRequest): Promise<string> {
    await this.ready;
    const engine = this.speechEngine;
    const key = hash(engine.cacheKey(input));
    return this.cached('tts', ownerOf(tenantId), `${key}.au`, async (path) => {
      const out = await engine.synthesize(input);
      // The extension tells ffmpeg what it reads; the synthesized file is only an input.
      const synthesized = `${path}.${randomSuffix()}.in.${out.extension}`;
      await writeFile(synthesized, out.audio);
      try {
        await this.transcode(synthesized, path);
      } finally {
        await rm(synthesized, { force: true });
      }
    });
  }

  /**
   * Silence of about the requested length: one file per length bucket (20 ms steps below 1 s, 100 ms to
   * 10 s, 1 s to 60 s), so any number of distinct lengths makes at most ~190 small files.
   */
  async silence(durationMs: number): Promise<string> {
    await this.ready;
    const ms = lengthBucketMs(durationMs, 60_000);
    return this.cached('silence', NODE_OWNER, `${ms}ms.au`, (path) =>
      writeAtomically(path, ulawAu(new Int16Array(Math.round(ms * 8)))),
    );
  }

  /** A tone of about the requested length (the same buckets as silence, up to 10 s) and pitch (whole Hz). */
  async tone(hz: number, durationMs: number): Promise<string> {
    await this.ready;
    const ms = lengthBucketMs(durationMs, 10_000);
    const pitch = Math.max(20, Math.min(4000, Math.round(hz)));
    return this.cached('tone', NODE_OWNER, `${pitch}hz-${ms}ms.au`, (path) =>
      writeAtomically(path, ulawAu(tonePcm(ms, pitch))),
    );
  }

  /** Stores the recording, then removes `wavFile` (it belongs to us once handed over). */
  async saveRecording(tenantId: string, fileName: string, wavFile: string): Promise<void> {
    await this.opts.prompts.put(tenantId, fileName, await readFile(wavFile), 'audio/wav', 'recording');
    await rm(wavFile, { force: true });
  }

  async saveMixedRecording(tenantId: string, fileName: string, wavFiles: string[]): Promise<void> {
    const parts = await Promise.all(wavFiles.map((f) => readFile(f)));
    const [first, ...rest] = parts;
    if (!first) throw new Error('no recording to mix');
    const mixed = rest.reduce<Buffer>((sum, part) => mixWavs(sum, part), first);
    await this.opts.prompts.put(tenantId, fileName, mixed, 'audio/wav', 'recording');
    await Promise.all(wavFiles.map((f) => rm(f, { force: true })));
  }

  /**
   * A URL's audio, fetched under the outbound address policy: fresh cache entries are used as they are;
   * stale ones are revalidated with If-None-Match / If-Modified-Since (304 keeps the file). Network
   * errors and 5xx fall back to a cached copy; 4xx means the audio is gone. A new body is streamed to
   * disk within the size limit and converted by ffmpeg to 8 kHz µ-law AU. Each tenant has its own copy.
   */
  async url(tenantId: string, url: string): Promise<string> {
    await this.ready;
    const owner = ownerOf(tenantId);
    const key = hash(['url', url]);
    const id = `${owner}/${key}`;
    const file = this.urlFiles.get(id);
    if (file && !this.cache.has(file)) this.urlFiles.delete(id); // evicted
    // Marked used (and pinned) first: a revalidation may keep playing it.
    const meta = file && this.cache.use(file) ? await readJson<UrlCacheEntry>(`${file}.json`) : undefined;
    const cached = file && meta?.url === url ? { file, meta } : undefined;
    if (cached && this.now() < cached.meta.freshUntil && this.cache.use(cached.file)) return cached.file;
    return this.once(`url/${id}`, () => this.fetchUrl(url, owner, key, cached));
  }

  private async fetchUrl(
    url: string,
    owner: string,
    key: string,
    cached: { file: string; meta: UrlCacheEntry } | undefined,
  ): Promise<string> {
    const max = this.opts.urlMaxBytes ?? 10_000_000;
    const dir = await this.ownerDir('url', owner);
    const headers: Record<string, string> = { accept: 'audio/*, */*;q=0.5' };
    if (cached?.meta.etag) headers['if-none-match'] = cached.meta.etag;
    if (cached?.meta.lastModified) headers['if-modified-since'] = cached.meta.lastModified;
    const body = join(dir, `.in-${process.pid}-${randomSuffix()}`);
    let res: Dispatcher.ResponseData;
    let version = '';
    let evicted = false;
    try {
      const signal = AbortSignal.timeout(this.opts.urlTimeoutMs ?? 5000);
      res = await this.get(url, headers, signal);
      if (res.statusCode === 304 && cached) {
        await res.body.dump();
        if (this.cache.use(cached.file)) {
          await this.updateMeta(cached.file, { ...cached.meta, freshUntil: this.freshUntil(res.headers, cached.meta) });
          return cached.file;
        }
        evicted = true; // while it was revalidated: fetched again in full below
      } else {
        if (res.statusCode < 200 || res.statusCode > 299) {
          await res.body.dump();
          throw new UrlFetchError(`HTTP ${res.statusCode}`, res.statusCode >= 500);
        }
        const declared = Number(header(res.headers, 'content-length') ?? 0);
        if (declared > max) {
          await res.body.dump();
          throw new UrlFetchError(`larger than ${max} bytes`, false);
        }
        version = await saveLimited(res.body, body, max, signal);
      }
    } catch (err) {
      await rm(body, { force: true });
      const failure = asFetchError(err);
      if (failure.message === ADDRESS_NOT_ALLOWED) {
        this.opts.logger?.info({ err, url }, 'url phrase refused by the outbound address policy');
      }
      if (cached && failure.useCached && this.cache.use(cached.file)) return cached.file;
      throw new Error(`fetching ${url} failed: ${failure.message}`, { cause: err });
    }
    if (evicted) return this.fetchUrl(url, owner, key, undefined);
    const file = join(dir, `${key}-${version}.au`);
    try {
      if (!this.cache.has(file)) await this.transcode(body, file);
    } finally {
      await rm(body, { force: true });
    }
    const etag = header(res.headers, 'etag');
    const lastModified = header(res.headers, 'last-modified');
    const meta: UrlCacheEntry = {
      url,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
      freshUntil: 0,
    };
    meta.freshUntil = this.freshUntil(res.headers, meta);
    await writeAtomically(`${file}.json`, Buffer.from(JSON.stringify(meta)));
    await this.cache.add(file, owner, { sidecar: true });
    this.urlFiles.set(`${owner}/${key}`, file);
    // A playing call keeps its open file; removing the old version only frees the name.
    if (cached && cached.file !== file) await this.cache.remove(cached.file);
    return file;
  }

  /**
   * GET under the address policy: only http(s); an IP-literal host is checked here (it is connected
   * to without a lookup), a name by the guarded lookup at connect time; redirects are followed by
   * hand, at most MAX_URL_REDIRECTS, each hop checked the same way.
   */
  private async get(url: string, headers: Record<string, string>, signal: AbortSignal) {
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new UrlFetchError('only http and https URLs are fetched', false);
      }
      const host = target.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && !this.addresses.allows(host)) throw new UrlFetchError(ADDRESS_NOT_ALLOWED, false);
      const res = await request(target, { dispatcher: this.agent, method: 'GET', headers, signal });
      const location = header(res.headers, 'location');
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || !location) return res;
      await res.body.dump();
      if (hop >= MAX_URL_REDIRECTS) throw new UrlFetchError(`more than ${MAX_URL_REDIRECTS} redirects`, false);
      try {
        target = new URL(location, target);
      } catch (err) {
        throw new UrlFetchError('redirected to an invalid URL', false, { cause: err });
      }
    }
  }

  private async updateMeta(file: string, meta: UrlCacheEntry): Promise<void> {
    await writeAtomically(`${file}.json`, Buffer.from(JSON.stringify(meta)));
    this.cache.use(file);
  }

  private freshUntil(headers: Dispatcher.ResponseData['headers'], entry: Pick<UrlCacheEntry, 'etag' | 'lastModified'>) {
    const cc = (header(headers, 'cache-control') ?? '').toLowerCase();
    if (/no-cache|no-store/.test(cc)) return 0;
    const maxAge = /max-age=(\d+)/.exec(cc);
    if (maxAge) return this.now() + Number(maxAge[1]) * 1000;
    // Without validators a revalidation is a full download: keep it a short while.
    if (!entry.etag && !entry.lastModified) return this.now() + (this.opts.urlDefaultMaxAgeSec ?? 60) * 1000;
    return 0;
  }

  /**
   * Any format ffmpeg reads, as 8 kHz µ-law AU written by ffmpeg straight to `out` (nothing is held in
   * memory), cut at maxAudioSeconds; a file ffmpeg cannot read is not audio. There is no fallback
   * without ffmpeg: rtpengine plays other files with audible gaps, so a missing ffmpeg rejects.
   */
  private async transcode(source: string, out: string): Promise<void> {
    const ffmpeg = this.opts.ffmpegBinary ?? DEFAULT_FFMPEG_BINARY;
    const tmp = `${out}.${process.pid}.${randomSuffix()}.tmp`;
    const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', source];
    args.push('-t', String(this.opts.maxAudioSeconds ?? 3600));
    args.push('-ac', '1', '-ar', '8000', '-c:a', 'pcm_mulaw', '-f', 'au', '-y', tmp);
    try {
      await run(ffmpeg, args, { timeout: 20_000, maxBuffer: 1024 * 1024 });
      await fixAuDataSize(tmp);
      await rename(tmp, out);
    } catch (err) {
      await rm(tmp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (err as { path?: string }).path === ffmpeg) {
        throw new Error(
          `${ffmpeg} not found: ffmpeg is required to play audio (Debian package ${packageProviding('ffmpeg')})`,
        );
      }
      if (err instanceof NoAudioError) throw new Error('not playable audio (no audio in it)', { cause: err });
      const stderr = String((err as { stderr?: string }).stderr ?? '')
        .trim()
        .split('\n')
        .pop();
      throw new Error(`not playable audio (${stderr || (err as Error).message})`, { cause: err });
    }
  }

  /**
   * The cached file `<kind>/<owner>/<name>`: used (and pinned) when cached, otherwise made once by
   * `produce` (which writes the path) and added to the cache.
   */
  private async cached(kind: Kind, owner: string, name: string, produce: (path: string) => Promise<void>) {
    const path = join(this.opts.cacheDir, kind, owner, name);
    if (this.cache.use(path)) return path;
    return this.once(`${kind}/${owner}/${name}`, async () => {
      await this.ownerDir(kind, owner);
      await produce(path);
      await this.cache.add(path, owner);
      return path;
    });
  }

  private async ownerDir(kind: Kind, owner: string): Promise<string> {
    const dir = join(this.opts.cacheDir, kind, owner);
    if (!this.ownerDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.ownerDirs.add(dir);
    }
    return dir;
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

/** The cache folder of a tenant: a hash, as tenant ids are not file names. */
function ownerOf(tenantId: string): string {
  return `t${hash(['tenant', tenantId]).slice(0, 24)}`;
}

/** A length rounded to its bucket: 20 ms steps below 1 s, 100 ms below 10 s, 1 s above; 20 ms to `max`. */
export function lengthBucketMs(durationMs: number, max: number): number {
  const ms = Math.max(20, Math.min(max, Number.isFinite(durationMs) ? durationMs : 20));
  const step = ms < 1000 ? 20 : ms < 10_000 ? 100 : 1000;
  return Math.max(20, Math.min(max, Math.round(ms / step) * step));
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The error a failed fetch is reported with: the policy's refusal, a timeout, or what happened. */
function asFetchError(err: unknown): UrlFetchError {
  if (err instanceof UrlFetchError) return err;
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; name?: string } };
  if (e.code === 'EADDRNOTALLOWED' || e.cause?.code === 'EADDRNOTALLOWED') {
    return new UrlFetchError(ADDRESS_NOT_ALLOWED, false);
  }
  const timeouts = ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'];
  const timedOut =
    e.name === 'TimeoutError' ||
    timeouts.includes(e.code ?? '') ||
    (e.name === 'AbortError' && e.cause?.name === 'TimeoutError');
  if (timedOut) return new UrlFetchError('timed out', true);
  return new UrlFetchError(e.code ?? e.cause?.code ?? e.message ?? String(err), true);
}

/** Streams a body to `path`, failing past `max` bytes; returns a hash of the body (its version). */
async function saveLimited(
  body: AsyncIterable<Uint8Array>,
  path: string,
  max: number,
  signal: AbortSignal,
): Promise<string> {
  const digest = createHash('sha256');
  let size = 0;
  await pipeline(
    body,
    async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (size > max) throw new UrlFetchError(`larger than ${max} bytes`, false);
        digest.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(path),
    { signal },
  );
  return digest.digest('hex').slice(0, 16);
}

class NoAudioError extends Error {}

/** ffmpeg leaves the data size "unknown" when it cannot seek back: set it from the file's size. */
async function fixAuDataSize(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const head = Buffer.alloc(12);
    const { bytesRead } = await fh.read(head, 0, 12, 0);
    const { size } = await fh.stat();
    const offset = bytesRead === 12 ? head.readUInt32BE(4) : 0;
    if (bytesRead < 12 || head.toString('ascii', 0, 4) !== '.snd' || size <= offset) throw new NoAudioError();
    if (head.readUInt32BE(8) !== size - offset) {
      const fixed = Buffer.alloc(4);
      fixed.writeUInt32BE(size - offset);
      await fh.write(fixed, 0, 4, 8);
    }
  } finally {
    await fh.close();
  }
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
