import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signObjectToken } from '@sipms/shared/crypto/object-token';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';

// Large prompt files by upload and download URLs on the real local deployment: the local stand-in for S3's
// presigned URLs (`/_objects/<token>` on the API's own server), with plain fetch as a tenant would use them.
describe('prompt files larger than an API request, by URL', () => {
  let stack: LocalStack;
  let a: ApiClient;
  let b: ApiClient;
  let tenantA: { tenantId: string; domain: string };
  // 500 s of 8 kHz 16-bit silence: 8,000,044 bytes, twice what one API request or response may carry.
  const big = toneWav(500_000, 440, 0);

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: 38600, rtpPortMax: 38699 });
    a = new ApiClient(stack.apiUrl);
    b = new ApiClient(stack.apiUrl);
    tenantA = await a.signup('Big Prompts');
    await b.signup('Bystander');
  });
  after(async () => {
    await stack?.stop();
  });

  const base = () => `/mediaservice/${tenantA.domain}/promptfile`;

  test('an 8 MB WAV goes up by its upload URL, not through the API', async () => {
    const direct = await a.call('PUT', `${base()}/big`, big);
    assert.equal(direct.status, 413);
    assert.equal(direct.json.error.code, 'payload_too_large');
    assert.match(direct.json.error.message, /upload-url/);

    const tooBig = await a.call('POST', `${base()}/big/upload-url`, { contentType: 'audio/wav', bytes: 100_000_001 });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.json.error.code, 'payload_too_large');
    assert.equal(tooBig.json.error.limit, 100_000_000);

    const res = await a.call('POST', `${base()}/big/upload-url`, { contentType: 'audio/wav', bytes: big.length });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const { url, method, headers, expiresAt } = res.json as {
      url: string;
      method: string;
      headers: Record<string, string>;
      expiresAt: string;
    };
    assert.equal(method, 'PUT');
    assert.ok(url.startsWith(`${stack.apiUrl}/_objects/`), url);
    assert.deepEqual(headers, { 'content-type': 'audio/wav' });
    const ttl = Date.parse(expiresAt) - Date.now();
    assert.ok(ttl > 14 * 60_000 && ttl <= 15 * 60_000, expiresAt);

    // Another size or type than declared is refused, as S3 refuses it (403), and stores nothing.
    for (const [body, type] of [
      [Buffer.concat([big, Buffer.alloc(1)]), 'audio/wav'],
      [big.subarray(0, big.length - 2), 'audio/wav'],
      [big, 'audio/mpeg'],
    ] as const) {
      const refused = await fetch(url, { method: 'PUT', headers: { 'content-type': type }, body });
      assert.equal(refused.status, 403, `${body.length} ${type}`);
      assert.match(await refused.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    }
    assert.equal((await a.call('GET', `${base()}/big`)).status, 404, 'nothing was stored');

    const put = await fetch(url, { method: 'PUT', headers, body: big });
    assert.equal(put.status, 200, await put.text());

    const list = await a.call('GET', base());
    assert.deepEqual(
      list.json.prompts.map((p: { name: string; size: number }) => [p.name, p.size]),
      [['big', big.length]],
    );
  });

  test('it comes back byte-identical by its download URL and by the plain GET (302 to that URL)', async () => {
    const link = await a.call('GET', `${base()}/big/download-url`);
    assert.equal(link.status, 200, JSON.stringify(link.json));
    assert.equal(link.json.size, big.length);
    assert.equal(link.json.contentType, 'audio/wav');
    assert.ok(link.json.url.startsWith(`${stack.apiUrl}/_objects/`));
    const viaLink = await fetch(link.json.url);
    assert.equal(viaLink.status, 200);
    assert.equal(viaLink.headers.get('content-type'), 'audio/wav');
    assert.ok(Buffer.from(await viaLink.arrayBuffer()).equals(big), 'download URL: byte-identical');

    const auth = { authorization: `Bearer ${a.apiKey}` };
    const plain = await fetch(`${stack.apiUrl}${base()}/big`, { headers: auth, redirect: 'manual' });
    assert.equal(plain.status, 302);
    const location = plain.headers.get('location')!;
    assert.ok(location.startsWith(`${stack.apiUrl}/_objects/`), location);
    // The redirect target needs no API key: fetched as a client following it to S3 would (no Authorization).
    const followed = await fetch(location);
    assert.equal(followed.status, 200);
    assert.ok(Buffer.from(await followed.arrayBuffer()).equals(big), 'plain GET after 302: byte-identical');
    // fetch's default redirect handling gets there too.
    const auto = await fetch(`${stack.apiUrl}${base()}/big`, { headers: auth });
    assert.equal(auto.status, 200);
    assert.ok(Buffer.from(await auto.arrayBuffer()).equals(big));

    // A small file still comes in the response itself.
    const small = toneWav(200);
    assert.equal((await a.call('PUT', `${base()}/small`, small)).status, 200);
    const got = await fetch(`${stack.apiUrl}${base()}/small`, { headers: auth, redirect: 'manual' });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(small));
  });

  test("another tenant gets 404 for both URL routes on A's domain; a missing file is 404", async () => {
    const up = await b.call('POST', `${base()}/big/upload-url`, { contentType: 'audio/wav', bytes: 10 });
    assert.equal(up.status, 404);
    assert.equal(up.json.error.code, 'not_found');
    const down = await b.call('GET', `${base()}/big/download-url`);
    assert.equal(down.status, 404);
    assert.equal(down.json.error.code, 'not_found');
    assert.equal((await a.call('GET', `${base()}/missing/download-url`)).status, 404);
    const bad = await a.call('POST', `${base()}/big/upload-url`, { contentType: 'text/plain', bytes: 10 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.field, 'contentType');
  });

  test('an expired or forged object URL is refused', async () => {
    // Tokens signed with the deployment's own key (DATA_DIR/run/object-urls.key), one of them already expired.
    const key = Buffer.from((await readFile(join(stack.dataDir, 'run', 'object-urls.key'), 'utf8')).trim(), 'base64');
    const claims = { m: 'GET' as const, t: tenantA.tenantId, n: 'big' };
    const fresh = await fetch(
      `${stack.apiUrl}/_objects/${signObjectToken(key, { ...claims, e: Date.now() + 60_000 })}`,
    );
    assert.equal(fresh.status, 200, 'a fresh token under the same key works');
    await fresh.body?.cancel();
    const expired = await fetch(
      `${stack.apiUrl}/_objects/${signObjectToken(key, { ...claims, e: Date.now() - 1000 })}`,
    );
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /<Code>AccessDenied<\/Code><Message>Request has expired/);
    const forged = signObjectToken(Buffer.alloc(32, 1), { ...claims, e: Date.now() + 60_000 });
    const refused = await fetch(`${stack.apiUrl}/_objects/${forged}`);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /SignatureDoesNotMatch/);
  });
});
