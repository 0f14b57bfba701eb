// The local stand-in for S3's presigned URLs: FsPromptStore signs them, localObjectHandler serves them over real
// HTTP, and refuses what S3 would refuse (expired, tampered, another size, type or method) and any name outside
// the tenant's folder even under a valid signature.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { FsPromptStore, LOCAL_OBJECTS_PATH } from '../src/adapters/fs-prompt-store.js';
import { localObjectHandler } from '../src/adapters/local-object-server.js';
import { signObjectToken, verifyObjectToken } from '../src/crypto/object-token.js';
import { createLogger } from '../src/util/logger.js';

const key = randomBytes(32);
let root: string;
let server: Server;
let base: string;
let clock = Date.parse('2030-01-01T00:00:00Z');
const now = () => clock;
let store: FsPromptStore;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'object-urls-'));
  const handle = localObjectHandler({
    store: new FsPromptStore(root),
    key,
    logger: createLogger({}, 'silent'),
    now,
  });
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!path.startsWith(LOCAL_OBJECTS_PATH)) return void res.writeHead(404).end();
    handle(req, res, path.slice(LOCAL_OBJECTS_PATH.length)).catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  store = new FsPromptStore(root, { baseUrl: base, key, now });
});
after(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  clock = Date.parse('2030-01-01T00:00:00Z');
});

const wav = (n: number) => {
  const b = randomBytes(n);
  b.write('RIFF', 0, 'ascii');
  return b;
};
const put = (url: string, body: Buffer, contentType = 'audio/wav') =>
  fetch(url, { method: 'PUT', headers: { 'content-type': contentType }, body });
const code = async (res: Response) => /<Code>(\w+)<\/Code>/.exec(await res.text())?.[1];

test('an upload URL stores exactly the declared file; a download URL gives it back byte-identical', async () => {
  const bytes = wav(100_000);
  const up = await store.uploadUrl('t1', 'big.wav', {
    contentType: 'audio/wav',
    bytes: bytes.length,
    expiresInSec: 900,
  });
  assert.equal(up.method, 'PUT');
  assert.deepEqual(up.headers, { 'content-type': 'audio/wav' });
  assert.equal(up.expiresAt, '2030-01-01T00:15:00.000Z');
  assert.ok(up.url.startsWith(`${base}/_objects/`));
  const res = await put(up.url, bytes);
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
  assert.deepEqual(await readFile(join(root, 't1', 'big.wav')), bytes);
  // Written aside and renamed: no temporary file is left.
  assert.deepEqual(
    (await readdir(join(root, 't1'))).filter((f) => f.endsWith('.tmp')),
    [],
  );

  // The same extension lookup as get: `big` finds `big.wav`.
  const down = await store.downloadUrl('t1', 'big', { expiresInSec: 900 });
  assert.ok(down);
  assert.deepEqual(
    { name: down.name, size: down.size, contentType: down.contentType },
    { name: 'big.wav', size: bytes.length, contentType: 'audio/wav' },
  );
  const got = await fetch(down.url);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('content-type'), 'audio/wav');
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
  assert.equal(await store.downloadUrl('t1', 'missing', { expiresInSec: 900 }), undefined);
});

test('an expired URL is refused (403 AccessDenied), for either method', async () => {
  const bytes = wav(1000);
  const up = await store.uploadUrl('t1', 'late', { contentType: 'audio/wav', bytes: bytes.length, expiresInSec: 60 });
  clock += 60_001;
  const res = await put(up.url, bytes);
  assert.equal(res.status, 403);
  assert.equal(await code(res), 'AccessDenied');
  assert.equal(await store.stored('t1', 'late'), undefined);

  clock -= 60_001;
  assert.equal((await put(up.url, bytes)).status, 200, 'the same URL worked before its expiry');
  const down = (await store.downloadUrl('t1', 'late', { expiresInSec: 60 }))!;
  clock += 60_001;
  const got = await fetch(down.url);
  assert.equal(got.status, 403);
  assert.equal(await code(got), 'AccessDenied');
});

test('a tampered token is refused: claims changed, signature changed, or signed with another key', async () => {
  const bytes = wav(1000);
  const up = await store.uploadUrl('t1', 'small', { contentType: 'audio/wav', bytes: bytes.length, expiresInSec: 60 });
  const token = up.url.slice(up.url.indexOf(LOCAL_OBJECTS_PATH) + LOCAL_OBJECTS_PATH.length);
  const [payload, sig] = token.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  const otherTenant = Buffer.from(JSON.stringify({ ...claims, t: 't2' })).toString('base64url');
  const longer = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 86_400_000 })).toString('base64url');
  const flipped = sig.slice(0, -2) + (sig.endsWith('AA') ? 'BB' : 'AA');
  const foreignKey = signObjectToken(randomBytes(32), claims);
  for (const bad of [
    `${otherTenant}.${sig}`,
    `${longer}.${sig}`,
    `${payload}.${flipped}`,
    foreignKey,
    payload,
    'x.y.z',
  ]) {
    const res = await put(`${base}${LOCAL_OBJECTS_PATH}${bad}`, bytes);
    assert.equal(res.status, 403, bad);
    assert.equal(await code(res), 'SignatureDoesNotMatch', bad);
  }
  assert.equal(await store.stored('t2', 'small'), undefined);
  assert.equal(await store.stored('t1', 'small'), undefined);
  assert.equal(verifyObjectToken(key, token)?.n, 'small', 'the untampered token verifies');
});

test('another size or content type than signed is refused, and nothing is stored', async () => {
  const bytes = wav(1000);
  const up = await store.uploadUrl('t1', 'exact', { contentType: 'audio/wav', bytes: 1000, expiresInSec: 60 });
  for (const [body, type] of [
    [wav(1001), 'audio/wav'],
    [wav(999), 'audio/wav'],
    [bytes, 'audio/mpeg'],
    [bytes, 'audio/WAV'],
    [bytes, 'application/octet-stream'],
  ] as const) {
    const res = await put(up.url, body, type);
    assert.equal(res.status, 403, `${body.length} ${type}`);
    assert.equal(await code(res), 'SignatureDoesNotMatch');
  }
  assert.equal(await store.stored('t1', 'exact'), undefined);
});

test('a body without Content-Length (chunked) is refused with 411; a body cut short stores nothing', async () => {
  const up = await store.uploadUrl('t1', 'chunked', { contentType: 'audio/wav', bytes: 10, expiresInSec: 60 });
  const send = (headers: Record<string, string>, body: Buffer, end: boolean) =>
    new Promise<number>((ok, fail) => {
      const req = request(up.url, { method: 'PUT', headers }, (res) => {
        res.resume();
        ok(res.statusCode ?? 0);
      });
      req.on('error', fail);
      req.write(body);
      if (end) req.end();
      else setTimeout(() => req.destroy(), 200);
    });
  assert.equal(await send({ 'content-type': 'audio/wav', 'transfer-encoding': 'chunked' }, wav(10), true), 411);
  // The declared length, then the client gives up after 5 bytes: nothing half-written appears.
  await send({ 'content-type': 'audio/wav', 'content-length': '10' }, wav(5), false).catch(() => 0);
  assert.equal(await store.stored('t1', 'chunked'), undefined);
});

test('a URL allows only its method: an upload URL does not read, a download URL does not write', async () => {
  const bytes = wav(500);
  await store.put('t1', 'keep', bytes, 'audio/wav');
  const down = (await store.downloadUrl('t1', 'keep', { expiresInSec: 60 }))!;
  const overwrite = await put(down.url, wav(500));
  assert.equal(overwrite.status, 403);
  assert.equal(await code(overwrite), 'SignatureDoesNotMatch');
  assert.deepEqual(await readFile(join(root, 't1', 'keep')), bytes);
  const up = await store.uploadUrl('t1', 'keep', { contentType: 'audio/wav', bytes: 500, expiresInSec: 60 });
  const read = await fetch(up.url);
  assert.equal(read.status, 403);
  assert.equal(await code(read), 'SignatureDoesNotMatch');
  assert.equal((await fetch(down.url, { method: 'DELETE' })).status, 403);
});

test("a validly signed token naming something outside the tenant's folder opens nothing", async () => {
  const bytes = wav(100);
  await store.put('t2', 'secret', bytes, 'audio/wav');
  const e = clock + 60_000;
  const escapes = [
    { t: 't1', n: '../t2/secret' },
    { t: '..', n: 'secret' },
    { t: 't1/../t2', n: 'secret' },
    { t: 't1', n: '/etc/passwd' },
    { t: 't1', n: '.secret.type' },
    { t: '', n: 't2' },
  ];
  for (const c of escapes) {
    const get = await fetch(`${base}${LOCAL_OBJECTS_PATH}${signObjectToken(key, { m: 'GET', ...c, e })}`);
    assert.equal(get.status, 403, JSON.stringify(c));
    assert.equal(await code(get), 'AccessDenied');
    const token = signObjectToken(key, { m: 'PUT', ...c, s: 100, c: 'audio/wav', e });
    const res = await put(`${base}${LOCAL_OBJECTS_PATH}${token}`, wav(100));
    assert.equal(res.status, 403, JSON.stringify(c));
  }
  assert.deepEqual(await readFile(join(root, 't2', 'secret')), bytes, "t2's file is untouched");
  assert.deepEqual((await readdir(root)).sort(), ['t1', 't2']);
  // The store does not issue such URLs in the first place.
  await assert.rejects(
    store.uploadUrl('t1', '../t2/secret', { contentType: 'audio/wav', bytes: 1, expiresInSec: 60 }),
    /not a storable prompt name/,
  );
});

test('a store without an object URL key issues no URLs; keys under 32 bytes are refused', async () => {
  await assert.rejects(
    new FsPromptStore(root).uploadUrl('t1', 'x', { contentType: 'audio/wav', bytes: 1, expiresInSec: 60 }),
    /no object URL key/,
  );
  assert.throws(() => signObjectToken(randomBytes(16), { m: 'GET', t: 't1', n: 'x', e: 0 }), /at least 32 bytes/);
});
