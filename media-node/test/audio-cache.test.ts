// The node's audio cache has one byte budget: least recently used first, a tenant over its share first,
// files being played are kept, and generated audio (silence, tones) is one file per length bucket.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { isNotFound } from '@sipms/shared/util/fs-errors';
import { auDurationMs } from '../src/media/au.js';
import { AudioCache } from '../src/media/audio-cache.js';
import { FileAudioSources, lengthBucketMs, toneWav } from '../src/media/audio-sources.js';

const noPrompts = {} as PromptStore;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A clock the test moves: pins (audio length + margin) run out when it is advanced. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function file(dir: string, owner: string, name: string, bytes: number): Promise<string> {
  await mkdir(join(dir, 'url', owner), { recursive: true });
  const path = join(dir, 'url', owner, name);
  await writeFile(path, Buffer.alloc(bytes));
  return path;
}

const gone = (path: string): Promise<boolean> =>
  stat(path).then(
    () => false,
    (err: unknown) => {
      if (isNotFound(err)) return true;
      throw err;
    },
  );

describe('AudioCache: one byte budget', () => {
  test('filling the cache past its budget evicts the least recently used files (from disk too)', async () => {
    const dir = await tempDir('cache-lru-');
    const t = clock();
    const cache = new AudioCache({ maxBytes: 1000, tenantShare: 1, pinMarginMs: 0, now: t.now });
    const a = await file(dir, 'x', 'a.au', 300);
    const b = await file(dir, 'x', 'b.au', 300);
    const c = await file(dir, 'x', 'c.au', 300);
    await cache.add(a, 'x');
    await cache.add(b, 'x');
    await cache.add(c, 'x');
    t.advance(1000); // the pins (300 bytes = 37.5 ms of audio) have run out
    assert.equal(cache.use(a), true, 'a is used again: b is now the least recently used');
    t.advance(1000);
    const d = await file(dir, 'x', 'd.au', 300);
    await cache.add(d, 'x');
    assert.equal(cache.bytes, 900);
    assert.equal(cache.has(b), false);
    assert.ok(await gone(b), 'the evicted file is removed');
    for (const kept of [a, c, d]) assert.ok(cache.has(kept) && !(await gone(kept)));
  });

  test('a tenant over its share loses its own entries first; another tenant’s older entries stay', async () => {
    const dir = await tempDir('cache-share-');
    const t = clock();
    const cache = new AudioCache({ maxBytes: 1000, tenantShare: 0.5, pinMarginMs: 0, now: t.now });
    const quiet: string[] = [];
    for (let i = 0; i < 2; i++) {
      quiet.push(await file(dir, 'quiet', `q${i}.au`, 100));
      await cache.add(quiet.at(-1)!, 'quiet');
    }
    t.advance(1000);
    const noisy: string[] = [];
    for (let i = 0; i < 7; i++) {
      noisy.push(await file(dir, 'noisy', `n${i}.au`, 100));
      await cache.add(noisy.at(-1)!, 'noisy');
    }
    t.advance(1000);
    assert.equal(cache.bytesOf('noisy'), 700, 'no pressure yet: a tenant may use more than its share');
    for (let i = 2; i < 5; i++) {
      quiet.push(await file(dir, 'quiet', `q${i}.au`, 100));
      await cache.add(quiet.at(-1)!, 'quiet');
    }
    assert.equal(cache.bytes, 1000);
    for (const q of quiet) assert.ok(cache.has(q), `${q} (the quiet tenant's, oldest of all) stays`);
    assert.equal(cache.bytesOf('noisy'), 500, 'the noisy tenant lost its two least recently used entries');
    assert.ok(await gone(noisy[0]!));
    assert.ok(await gone(noisy[1]!));
  });

  test('a file handed out for playing is not evicted while its audio can still be playing', async () => {
    const dir = await tempDir('cache-pin-');
    const t = clock();
    // 8000 bytes of µ-law = 1 s of audio; pinned for 1 s + 500 ms.
    const cache = new AudioCache({ maxBytes: 10_000, tenantShare: 1, pinMarginMs: 500, now: t.now });
    const playing = await file(dir, 'x', 'playing.au', 8000);
    await cache.add(playing, 'x');
    t.advance(1000);
    const next = await file(dir, 'x', 'next.au', 8000);
    await cache.add(next, 'x');
    assert.ok(cache.has(playing) && !(await gone(playing)), 'still playing: kept, the cache is over budget');
    assert.equal(cache.bytes, 16_000);
    t.advance(1000);
    const third = await file(dir, 'x', 'third.au', 1000);
    await cache.add(third, 'x');
    assert.equal(cache.has(playing), false, 'its pin ran out: evicted');
    assert.equal(cache.bytes, 9000);
  });
});

describe('FileAudioSources within the budget', () => {
  let server: Server;
  let base = '';
  const wav = toneWav(500, 440); // 4000 bytes of µ-law once converted

  before(async () => {
    server = createServer((req, res) => res.writeHead(200, { etag: `"${req.url}"` }).end(wav));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('URL audio of one tenant past the budget evicts its own older audio, another tenant’s stays', async () => {
    const dir = await tempDir('cache-url-');
    const t = clock();
    const audio = new FileAudioSources({
      prompts: noPrompts,
      cacheDir: dir,
      addresses: AddressPolicy.fromSettings('allow-loopback'),
      cacheMaxBytes: 30_000,
      cacheTenantShare: 0.5,
      cachePinMarginMs: 0,
      now: t.now,
    });
    try {
      const other = await audio.url('other', `${base}/other.wav`);
      const mine: string[] = [];
      for (let i = 0; i < 8; i++) {
        t.advance(2000);
        mine.push(await audio.url('noisy', `${base}/${i}.wav`));
      }
      t.advance(2000);
      assert.ok(audio.cachedBytes <= 30_000, `${audio.cachedBytes} bytes cached`);
      assert.ok(!(await gone(other)), 'the other tenant’s audio stays (it is the oldest of all)');
      assert.ok(await gone(mine[0]!), 'the noisy tenant’s oldest audio went');
      assert.ok(!(await gone(mine.at(-1)!)));
      assert.ok(audio.cachedBytesOf('noisy') > 0 && audio.cachedBytesOf('other') > 0);
      // An evicted URL is fetched again when asked for.
      const again = await audio.url('noisy', `${base}/0.wav`);
      assert.ok(!(await gone(again)));
    } finally {
      await audio.close();
    }
  });

  test('a restarted node counts what is on disk against the budget and drops the old layout', async () => {
    const dir = await tempDir('cache-restart-');
    const opts = {
      prompts: noPrompts,
      cacheDir: dir,
      addresses: AddressPolicy.fromSettings('allow-loopback'),
    };
    const first = new FileAudioSources(opts);
    const file = await first.url('t1', `${base}/keep.wav`);
    await first.silence(500);
    await first.close();
    const bytes = first.cachedBytes;
    assert.ok(bytes > 4000);
    // Files of the layout before the budget (one folder per kind, no owner) and a half-written file.
    await writeFile(join(dir, 'silence', '777ms.au'), Buffer.alloc(6000));
    await writeFile(join(dir, 'url', 'abc.json'), '{}');
    await writeFile(`${file}.123.tmp`, Buffer.alloc(100));
    const second = new FileAudioSources(opts);
    try {
      assert.equal(await second.url('t1', `${base}/keep.wav`), file, 'the cached file is found again');
      assert.equal(second.cachedBytes, bytes);
      assert.ok(await gone(join(dir, 'silence', '777ms.au')));
      assert.ok(await gone(join(dir, 'url', 'abc.json')));
      assert.ok(await gone(`${file}.123.tmp`));
    } finally {
      await second.close();
    }
  });

  test('ffmpeg writes to disk and cuts audio longer than maxAudioSeconds', async () => {
    const dir = await tempDir('cache-long-');
    const long = createServer((_req, res) => res.writeHead(200).end(toneWav(3000, 440)));
    await new Promise<void>((r) => long.listen(0, '127.0.0.1', () => r()));
    const audio = new FileAudioSources({
      prompts: noPrompts,
      cacheDir: dir,
      addresses: AddressPolicy.fromSettings('allow-loopback'),
      maxAudioSeconds: 1,
    });
    try {
      const au = await readFile(await audio.url('t1', `http://127.0.0.1:${(long.address() as AddressInfo).port}/`));
      assert.equal(auDurationMs(au), 1000);
      assert.equal(au.readUInt32BE(8), au.length - au.readUInt32BE(4), 'the header has the real data size');
    } finally {
      await audio.close();
      long.closeAllConnections();
      await new Promise((r) => long.close(r));
    }
  });
});

test('many distinct silence lengths do not grow the cache without bound: one file per length bucket', async () => {
  const dir = await tempDir('cache-silence-');
  const audio = new FileAudioSources({ prompts: noPrompts, cacheDir: dir });
  try {
    for (let ms = 1; ms <= 60_000; ms += 17) await audio.silence(ms);
    const files = await readdir(join(dir, 'silence', 'node'));
    assert.ok(files.length <= 200, `${files.length} silence files for 3530 distinct lengths`);
    assert.ok(audio.cachedBytes < 20 * 1024 ** 2, `${audio.cachedBytes} bytes of silence`);
    assert.equal(audio.cachedEntries, files.length);
    // Close to what was asked for: 20 ms steps below 1 s, 100 ms below 10 s, 1 s above.
    assert.equal(auDurationMs(await readFile(await audio.silence(500))), 500);
    assert.equal(auDurationMs(await readFile(await audio.silence(1234))), 1200);
    assert.equal(auDurationMs(await readFile(await audio.silence(12_600))), 13_000);
    for (let ms = 1; ms <= 60_000; ms += 37) {
      const b = lengthBucketMs(ms, 60_000);
      assert.ok(Math.abs(b - Math.max(20, ms)) <= Math.max(10, ms * 0.05), `${ms} ms → ${b} ms`);
    }
    for (let ms = 20; ms <= 10_000; ms += 111) await audio.tone(1000, ms);
    assert.ok((await readdir(join(dir, 'tone', 'node'))).length <= 150);
  } finally {
    await audio.close();
  }
});
