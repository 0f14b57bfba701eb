// `url` phrases go through the outbound address policy: IP-literal hosts are checked, names are checked at
// connect time (guarded lookup), redirects are followed by hand and each hop is checked; a refusal is skipped
// with a reason that names the policy, never an internal address or status.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { auDurationMs } from '../src/media/au.js';
import { FileAudioSources, toneWav } from '../src/media/audio-sources.js';

const noPrompts = {} as PromptStore;
const refused = /fetching .* failed: address not allowed by the outbound address policy$/;

describe('url phrases under the outbound address policy', () => {
  let server: Server;
  let port = 0;
  let dir: string;
  const hits: string[] = [];
  const sources: FileAudioSources[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audio-policy-'));
    server = createServer((req, res) => {
      const path = req.url ?? '';
      hits.push(path);
      if (path === '/tone.wav') return res.writeHead(200).end(toneWav(200, 440));
      if (path === '/to-metadata') {
        return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      }
      if (path === '/to-private') return res.writeHead(307, { location: 'http://10.1.2.3:8080/admin' }).end();
      if (path === '/to-mapped') return res.writeHead(301, { location: `http://[::ffff:10.0.0.1]/` }).end();
      if (path === '/to-file') return res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      if (path === '/hop1') return res.writeHead(302, { location: '/hop2' }).end();
      if (path === '/hop2') return res.writeHead(303, { location: `http://localhost:${port}/tone.wav` }).end();
      if (path.startsWith('/loop')) return res.writeHead(302, { location: `/loop${path.length}` }).end();
      // An "internal service": its status must never reach the reason.
      res.writeHead(418).end('internal secret');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of sources) await s.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const audio = (mode: 'public-https' | 'allow-loopback', cidrs = '') => {
    const a = new FileAudioSources({
      prompts: noPrompts,
      cacheDir: join(dir, mode),
      addresses: AddressPolicy.fromSettings(mode, cidrs),
      urlTimeoutMs: 2000,
    });
    sources.push(a);
    return a;
  };

  test('public only: loopback as an IPv4 literal, an IPv4-mapped IPv6 literal, or a name is refused', async () => {
    const a = audio('public-https');
    hits.length = 0;
    await assert.rejects(a.url('t1', `http://127.0.0.1:${port}/tone.wav`), refused);
    await assert.rejects(a.url('t1', `http://[::ffff:127.0.0.1]:${port}/tone.wav`), refused);
    await assert.rejects(a.url('t1', `http://[::1]:${port}/tone.wav`), refused);
    // `localhost` is a name: the guarded lookup refuses the address it resolves to, at connect time.
    await assert.rejects(a.url('t1', `http://localhost:${port}/tone.wav`), refused);
    await assert.rejects(a.url('t1', 'http://169.254.169.254/latest/meta-data/'), refused);
    assert.deepEqual(hits, [], 'no request reached the local server');
  });

  test('the default policy (none given) is public addresses only', async () => {
    const a = new FileAudioSources({ prompts: noPrompts, cacheDir: join(dir, 'default') });
    sources.push(a);
    await assert.rejects(a.url('t1', `http://127.0.0.1:${port}/tone.wav`), refused);
  });

  test('allow-loopback lets the local server through (by address and by name)', async () => {
    const a = audio('allow-loopback');
    const au = await readFile(await a.url('t1', `http://127.0.0.1:${port}/tone.wav`));
    assert.ok(Math.abs(auDurationMs(au) - 200) < 30);
    await a.url('t1', `http://localhost:${port}/tone.wav`);
  });

  test('a redirect from an allowed origin to a forbidden one is refused, naming the policy only', async () => {
    const a = audio('allow-loopback');
    for (const path of ['/to-metadata', '/to-private', '/to-mapped']) {
      const err = await a.url('t1', `http://127.0.0.1:${port}${path}`).then(
        () => assert.fail(`${path} was fetched`),
        (e: Error) => e,
      );
      assert.match(err.message, refused, path);
      // The URL asked for is named (its port is random: 40307 once read as a 307 here), nothing past it.
      const told = err.message.replace(`http://127.0.0.1:${port}${path}`, '<url>');
      assert.doesNotMatch(told, /169\.254|10\.|::ffff|30[12]|307/, 'no internal address or status');
    }
  });

  test('operator CIDRs (OUTBOUND_ALLOW_CIDRS) allow a private range, and only that one', async () => {
    // 127.0.0.0/8 allowed as a CIDR (not as allow-loopback): the redirect to 10.1.2.3 is still refused.
    const a = audio('public-https', '127.0.0.0/8');
    await a.url('t1', `http://127.0.0.1:${port}/tone.wav`);
    await assert.rejects(a.url('t1', `http://127.0.0.1:${port}/to-private`), refused);
  });

  test('redirects: followed within the same policy, at most 3, only to http(s)', async () => {
    const a = audio('allow-loopback');
    const au = await readFile(await a.url('t1', `http://127.0.0.1:${port}/hop1`));
    assert.ok(auDurationMs(au) > 150, 'two hops (relative, then to another name) reach the audio');
    await assert.rejects(a.url('t1', `http://127.0.0.1:${port}/loop`), /more than 3 redirects/);
    await assert.rejects(a.url('t1', `http://127.0.0.1:${port}/to-file`), /only http and https/);
  });
});
