import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { auDurationMs } from '../src/media/au.js';
import { FileAudioSources, silentWav, toneWav } from '../src/media/audio-sources.js';

// ffmpeg and espeak-ng are runtime packages (system-packages.json; `npm test` installs them): no test skips
// without them, as the product does not run without them.
const noPrompts = {} as PromptStore;
/** The single-machine deployment's policy: the test servers listen on loopback. */
const addresses = AddressPolicy.fromSettings('allow-loopback');

describe('URL phrases: fetched with limits, cached by URL and validator, converted by ffmpeg', () => {
  let server: Server;
  let base = '';
  let dir: string;
  const hits: { path: string; inm?: string; ims?: string }[] = [];
  let etagBody = toneWav(300, 440);
  let etag = '"v1"';
  const mp3 = execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=f=500:d=0.5', '-f', 'mp3', '-']);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audio-url-'));
    server = createServer((req, res) => {
      const path = req.url ?? '';
      hits.push({
        path,
        ...(req.headers['if-none-match'] ? { inm: String(req.headers['if-none-match']) } : {}),
        ...(req.headers['if-modified-since'] ? { ims: String(req.headers['if-modified-since']) } : {}),
      });
      if (path === '/etag.wav') {
        if (req.headers['if-none-match'] === etag) return res.writeHead(304).end();
        return res.writeHead(200, { etag, 'content-type': 'audio/wav' }).end(etagBody);
      }
      if (path === '/lastmod.wav') {
        const lm = 'Tue, 01 Dec 2026 10:00:00 GMT';
        if (req.headers['if-modified-since'] === lm) return res.writeHead(304).end();
        return res.writeHead(200, { 'last-modified': lm }).end(toneWav(200, 300));
      }
      if (path === '/tone.wav') return res.writeHead(200).end(toneWav(200, 440));
      if (path === '/fresh.wav') return res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(toneWav(200, 440));
      if (path === '/song.mp3') return res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(mp3);
      if (path === '/page.html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>oops</html>');
      if (path === '/big.wav') return res.writeHead(200).end(Buffer.alloc(3000));
      if (path === '/slow.wav') return setTimeout(() => res.writeHead(200).end(toneWav(100, 440)), 1500);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const audio = () =>
    new FileAudioSources({ prompts: noPrompts, cacheDir: dir, urlMaxBytes: 2000_000, urlTimeoutMs: 500, addresses });

  test('ETag: revalidated with If-None-Match; 304 keeps the cached file; a new version replaces it', async () => {
    const a = audio();
    const first = await a.url('t1', `${base}/etag.wav`);
    const second = await a.url('t1', `${base}/etag.wav`);
    assert.equal(second, first);
    const etagHits = hits.filter((h) => h.path === '/etag.wav');
    assert.equal(etagHits.length, 2);
    assert.equal(etagHits[1]!.inm, '"v1"');
    etag = '"v2"';
    etagBody = toneWav(600, 440);
    const third = await a.url('t1', `${base}/etag.wav`);
    assert.notEqual(third, first);
    const au = await readFile(third);
    assert.equal(au.readUInt32BE(16), 8000);
    assert.ok(Math.abs(auDurationMs(au) - 600) < 30, 'the new version is 600 ms');
    await assert.rejects(stat(first), 'the old version was removed');
  });

  test('Last-Modified: revalidated with If-Modified-Since', async () => {
    const a = audio();
    const first = await a.url('t1', `${base}/lastmod.wav`);
    assert.equal(await a.url('t1', `${base}/lastmod.wav`), first);
    assert.equal(hits.filter((h) => h.path === '/lastmod.wav').at(-1)!.ims, 'Tue, 01 Dec 2026 10:00:00 GMT');
  });

  test('Cache-Control max-age: fresh entries are used without a request', async () => {
    const a = audio();
    await a.url('t1', `${base}/fresh.wav`);
    await a.url('t1', `${base}/fresh.wav`);
    assert.equal(hits.filter((h) => h.path === '/fresh.wav').length, 1);
  });

  test('any format ffmpeg reads (mp3) becomes 8 kHz µ-law AU', async () => {
    const au = await readFile(await audio().url('t1', `${base}/song.mp3`));
    assert.equal(au.toString('ascii', 0, 4), '.snd');
    assert.equal(au.readUInt32BE(16), 8000);
    assert.ok(auDurationMs(au) > 450, 'about 0.5 s of audio');
  });

  test('failures reject with a reason: 404, not audio, too large, too slow', async () => {
    const a = audio();
    await assert.rejects(a.url('t1', `${base}/missing.wav`), /HTTP 404/);
    await assert.rejects(a.url('t1', `${base}/page.html`), /not playable audio/);
    const small = new FileAudioSources({ prompts: noPrompts, cacheDir: dir, urlMaxBytes: 1000, addresses });
    await assert.rejects(small.url('t1', `${base}/big.wav`), /larger than 1000 bytes/);
    await assert.rejects(a.url('t1', `${base}/slow.wav`), /timed out/);
  });

  test('without ffmpeg nothing is played as it is: the audio is refused, naming the package', async () => {
    const noFfmpeg = new FileAudioSources({
      prompts: { localPath: async () => join(dir, 'prompt.wav') } as unknown as PromptStore,
      cacheDir: join(dir, 'no-ffmpeg'),
      ffmpegBinary: join(dir, 'no-such-ffmpeg'),
      addresses,
    });
    await writeFile(join(dir, 'prompt.wav'), toneWav(200, 440));
    const refused = /no-such-ffmpeg not found: ffmpeg is required to play audio \(Debian package ffmpeg\)/;
    await assert.rejects(noFfmpeg.url('t1', `${base}/tone.wav`), refused);
    await assert.rejects(noFfmpeg.prompt('t1', 'welcome'), refused);
  });
});

test('tts: espeak-ng audio is cached by a hash of its parameters', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audio-tts-'));
  try {
    const a = new FileAudioSources({ prompts: noPrompts, cacheDir: dir });
    const t0 = performance.now();
    const first = await a.speech('t1', { text: 'Welcome to the test', language: 'en-GB' });
    const cold = performance.now() - t0;
    const t1 = performance.now();
    assert.equal(await a.speech('t1', { text: 'Welcome to the test', language: 'en-GB' }), first);
    const warm = performance.now() - t1;
    assert.notEqual(await a.speech('t1', { text: 'Welcome to the test', language: 'de-DE' }), first);
    const au = await readFile(first);
    assert.equal(au.toString('ascii', 0, 4), '.snd');
    assert.equal(au.readUInt32BE(8), au.length - au.readUInt32BE(4), 'the data size is the real size');
    assert.ok(auDurationMs(au) > 800, `speech of ${auDurationMs(au)} ms`);
    console.log(`# espeak-ng: first ${cold.toFixed(0)} ms, cached ${warm.toFixed(1)} ms`);
    await assert.rejects(
      new FileAudioSources({ prompts: noPrompts, cacheDir: dir }).speech('t1', { text: 'x', voice: 'zz-nonexistent' }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('silence and tone files have the requested length', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audio-gen-'));
  try {
    const a = new FileAudioSources({ prompts: noPrompts, cacheDir: dir });
    assert.equal(auDurationMs(await readFile(await a.silence(500))), 500);
    assert.equal(auDurationMs(await readFile(await a.tone(1000, 400))), 400);
    assert.deepEqual(silentWav(20).subarray(44), Buffer.alloc(320));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
