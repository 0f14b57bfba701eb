// S3PromptStore's upload and download URLs, made by the real presigner (no network: signing is local). The
// upload URL's signature is checked by an independent SigV4 implementation below, as S3 would check it: the
// declared size and type verify, any other size or type does not.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { beforeEach, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3PromptStore } from '../src/adapters/s3-prompt-store.js';

const s3 = mockClient(S3Client);
beforeEach(() => s3.reset());

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const store = () =>
  new S3PromptStore(new S3Client({ region: 'eu-west-1', credentials }), {
    bucket: 'sipms-prompts',
    cacheDir: '/nonexistent',
  });

/** RFC 3986 encoding, as SigV4's canonical query string wants it. */
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();

/** Would S3 accept this request for this presigned URL? SigV4 query-string auth, computed from scratch. */
function sigV4Accepts(url: string, method: string, headers: Record<string, string>): boolean {
  const u = new URL(url);
  const q = [...u.searchParams].filter(([k]) => k !== 'X-Amz-Signature');
  const signed = u.searchParams.get('X-Amz-SignedHeaders')!.split(';');
  const all: Record<string, string> = { host: u.host, ...headers };
  const canonicalHeaders = signed.map((h) => `${h}:${(all[h] ?? '').trim()}\n`).join('');
  const canonical = [
    method,
    u.pathname,
    q
      .map(([k, v]) => [rfc3986(k), rfc3986(v)])
      .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&'),
    canonicalHeaders,
    signed.join(';'),
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const amzDate = u.searchParams.get('X-Amz-Date')!;
  const scope = u.searchParams.get('X-Amz-Credential')!.split('/').slice(1).join('/');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const [date, region, service] = scope.split('/') as [string, string, string];
  let k = hmac(`AWS4${credentials.secretAccessKey}`, date);
  k = hmac(hmac(hmac(k, region), service), 'aws4_request');
  return createHmac('sha256', k).update(toSign).digest('hex') === u.searchParams.get('X-Amz-Signature');
}

test('the upload URL is a presigned PUT binding the exact size and type, with no empty-body checksum', async () => {
  const before = Date.now();
  const up = await store().uploadUrl('t1', 'big.wav', {
    contentType: 'audio/wav',
    bytes: 8_000_044,
    expiresInSec: 900,
  });
  const u = new URL(up.url);
  assert.equal(up.method, 'PUT');
  assert.deepEqual(up.headers, { 'content-type': 'audio/wav' });
  assert.equal(u.host, 'sipms-prompts.s3.eu-west-1.amazonaws.com');
  assert.equal(u.pathname, '/prompts/t1/big.wav');
  assert.equal(u.searchParams.get('X-Amz-SignedHeaders'), 'content-length;content-type;host');
  assert.equal(u.searchParams.get('X-Amz-Expires'), '900');
  assert.equal(u.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  // The SDK's default checksum would sign the CRC32 of no body (AAAAAA==) and make S3 refuse every upload.
  assert.deepEqual(
    [...u.searchParams.keys()].filter((k) => /checksum/i.test(k)),
    [],
  );
  const expires = Date.parse(up.expiresAt);
  assert.ok(expires >= before + 900_000 && expires <= Date.now() + 900_000, up.expiresAt);

  const ok = { 'content-length': '8000044', 'content-type': 'audio/wav' };
  assert.equal(sigV4Accepts(up.url, 'PUT', ok), true, 'the declared request verifies');
  assert.equal(sigV4Accepts(up.url, 'PUT', { ...ok, 'content-length': '8000045' }), false, 'another size');
  assert.equal(sigV4Accepts(up.url, 'PUT', { ...ok, 'content-type': 'audio/mpeg' }), false, 'another type');
  assert.equal(sigV4Accepts(up.url, 'GET', ok), false, 'another method');
  assert.equal(s3.calls().length, 0, 'signing needs no request to S3');
});

test('the download URL presigns a GET of the key the extension lookup finds; undefined when missing', async () => {
  const missing = new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 } });
  s3.on(HeadObjectCommand, { Key: 'prompts/t1/rec' }).rejects(missing);
  s3.on(HeadObjectCommand, { Key: 'prompts/t1/rec.wav' }).resolves({
    ContentLength: 9_000_000,
    ContentType: 'audio/wav',
  });
  const down = await store().downloadUrl('t1', 'rec', { expiresInSec: 900 });
  assert.ok(down);
  assert.deepEqual(
    { name: down.name, size: down.size, contentType: down.contentType },
    { name: 'rec.wav', size: 9_000_000, contentType: 'audio/wav' },
  );
  const u = new URL(down.url);
  assert.equal(u.pathname, '/prompts/t1/rec.wav');
  assert.equal(u.searchParams.get('X-Amz-SignedHeaders'), 'host');
  assert.equal(u.searchParams.get('X-Amz-Expires'), '900');
  assert.equal(sigV4Accepts(down.url, 'GET', {}), true);
  assert.equal(sigV4Accepts(down.url, 'PUT', {}), false);
  assert.equal(s3.commandCalls(GetObjectCommand).length, 0, 'nothing is downloaded to sign');

  s3.on(HeadObjectCommand).rejects(missing);
  assert.equal(await store().downloadUrl('t1', 'none', { expiresInSec: 900 }), undefined);
});
