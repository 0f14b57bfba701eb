// The REST client against the real local deployment (startLocalStack: the API as `npm start` runs it), and its
// retry, timeout and abort handling against a scripted node:http server (a fake API, named ScriptedApi below:
// those failures cannot be produced on demand by the real one).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { toneWav } from '@sipms/integ-tests/audio';
import { type LocalStack, startLocalStack } from '@sipms/integ-tests/local-stack';
import { SipmsClient } from '../src/client/client.js';
import { isSipmsApiError, SipmsApiError } from '../src/client/errors.js';

// rtpengine ports of this file (no calls are placed here, but the stack runs a media node).
const RTP_MIN = 32400;
const RTP_MAX = 32499;

async function rejects(promise: Promise<unknown>, check: Partial<Pick<SipmsApiError, 'status' | 'code' | 'field'>>) {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SipmsApiError, `expected SipmsApiError, got ${String(error)}`);
  for (const [k, v] of Object.entries(check)) {
    assert.equal(error[k as keyof SipmsApiError], v, `${k} of ${JSON.stringify({ ...error, message: error.message })}`);
  }
  return error;
}

describe('SipmsClient against the local deployment', () => {
  let stack: LocalStack;
  let client: SipmsClient;
  let domain: string;
  let signingSecret: string;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    const anonymous = new SipmsClient({ baseUrl: stack.apiUrl });
    const tenant = await anonymous.signup({ name: 'SDK REST GmbH', callbackUrl: 'http://127.0.0.1:9/hooks' });
    assert.match(tenant.apiKey, /^msk_/);
    ({ domain, signingSecret } = tenant);
    client = anonymous.withApiKey(tenant.apiKey); // no domain: looked up from GET /v1/tenant
  });

  after(async () => {
    const code = await stack?.stop();
    assert.equal(code, 0, 'the stack stops cleanly');
  });

  test('tenant: get, update, a validation error naming the field, secret rotation', async () => {
    const t = await client.tenant.get();
    assert.equal(t.domain, domain);
    assert.equal(await client.domain(), domain);
    const updated = await client.tenant.update({
      callbackTimeoutMs: 3000,
      callbackRetries: 1,
      codecs: ['PCMA', 'PCMU'],
    });
    assert.equal(updated.callbackTimeoutMs, 3000);
    assert.deepEqual(updated.codecs, ['PCMA', 'PCMU']);
    const bad = await rejects(client.tenant.update({ callbackTimeoutMs: 20 }), {
      status: 400,
      code: 'validation_failed',
      field: 'callbackTimeoutMs',
    });
    assert.ok(bad.requestId, 'the request id is kept');
    assert.equal(bad.operation, 'updateTenant');
    const rotated = await client.tenant.rotateSigningSecret();
    assert.notEqual(rotated.signingSecret, signingSecret);
    assert.ok(rotated.previousSecretExpiresAt);
  });

  test('a wrong API key is unauthorized; an unknown domain is not_found', async () => {
    await rejects(client.withApiKey('msk_wrong').tenant.get(), { status: 401, code: 'unauthorized' });
    await rejects(client.request('listPromptFiles', { params: { domain: 'other.sip.localhost' } }), {
      status: 404,
      code: 'not_found',
    });
  });

  test('numbers: claim, list, release; a number held by another tenant is a conflict', async () => {
    const claimed = await client.numbers.claim('+4930555001');
    assert.deepEqual(claimed, { number: '+4930555001', success: true });
    assert.deepEqual(
      (await client.numbers.list()).numbers.map((n) => n.number),
      ['+4930555001'],
    );
    const other = await new SipmsClient({ baseUrl: stack.apiUrl }).signup({ name: 'Other Tenant' });
    await rejects(new SipmsClient({ baseUrl: stack.apiUrl, apiKey: other.apiKey }).numbers.claim('+4930555001'), {
      status: 409,
    });
    assert.deepEqual(await client.numbers.release('+4930555001'), { success: true });
    assert.deepEqual((await client.numbers.list()).numbers, []);
  });

  test('API keys: create (the key works), list, revoke (the key stops working)', async () => {
    const created = await client.apiKeys.create('ci');
    assert.match(created.apiKey, /^msk_/);
    const ci = client.withApiKey(created.apiKey, domain);
    assert.equal((await ci.tenant.get()).domain, domain);
    assert.ok((await client.apiKeys.list()).apiKeys.some((k) => k.keyId === created.keyId));
    assert.deepEqual(await client.apiKeys.revoke(created.keyId), { success: true });
    await rejects(ci.tenant.get(), { status: 401 });
  });

  test('softphone: a credential for this tenant (token, WebSocket URL, SIP URI in its domain); ttlSec is checked', async () => {
    const before = Date.now();
    const { credential } = await client.createSoftphoneCredential({ ttlSec: 120 });
    assert.match(credential.credentialId, /^sc_[a-z2-7]{26}$/);
    assert.ok(credential.token.startsWith(`${credential.credentialId}.`), credential.token);
    assert.match(credential.wsUrl, /^wss?:\/\/[^/]+/);
    assert.equal(credential.sipUri, `sip:softphone-${credential.credentialId}@${domain}`);
    const ttlMs = Date.parse(credential.expiresAt) - before;
    assert.ok(ttlMs > 115_000 && ttlMs <= 120_000, String(ttlMs));
    const byDefault = (await client.createSoftphoneCredential()).credential;
    assert.notEqual(byDefault.credentialId, credential.credentialId);
    assert.ok(Date.parse(byDefault.expiresAt) - before > 595_000, 'ttlSec defaults to 600');
    await rejects(client.createSoftphoneCredential({ ttlSec: 59 }), {
      status: 400,
      code: 'validation_failed',
      field: 'ttlSec',
    });
  });

  test('idempotency: every POST carries a key; the same key twice answers the first result', async () => {
    const a = await client.apiKeys.create('twice', { idempotencyKey: 'sdk-test-key-1' });
    const b = await client.apiKeys.create('twice', { idempotencyKey: 'sdk-test-key-1' });
    assert.equal(b.keyId, a.keyId, 'the repeat did nothing again');
    const c = await client.apiKeys.create('twice');
    const d = await client.apiKeys.create('twice');
    assert.notEqual(c.keyId, d.keyId, 'fresh keys: two calls, two keys');
  });

  test('prompts: put, list, get, download URL, upload URL, delete', async () => {
    const wav = toneWav(500);
    assert.deepEqual(await client.prompts.put('sdk-tone', wav, { contentType: 'audio/wav' }), { success: true });
    const listed = await client.prompts.list({ limit: 10 });
    assert.ok(
      listed.prompts.some((p) => p.name.startsWith('sdk-tone')),
      JSON.stringify(listed),
    );
    const got = await client.prompts.get('sdk-tone');
    assert.equal(Buffer.from(got.bytes).toString('ascii', 0, 4), 'RIFF');
    assert.match(got.contentType, /audio\/wav/);
    const dl = await client.prompts.downloadUrl('sdk-tone');
    assert.equal(dl.size, got.bytes.byteLength);
    const viaUrl = await fetch(dl.url);
    assert.equal(viaUrl.status, 200);
    // Through an upload URL (the path for large files), then read back.
    const big = toneWav(2000, 660);
    assert.deepEqual(await client.prompts.upload('sdk-big', big, 'audio/wav'), { success: true });
    assert.equal((await client.prompts.get('sdk-big')).bytes.byteLength, big.byteLength);
    assert.deepEqual(await client.prompts.delete('sdk-tone'), { success: true });
    await rejects(client.prompts.get('sdk-tone'), { status: 404, code: 'not_found' });
    // The generic call of a bytes operation: bytes, or the API's error.
    assert.equal(
      Buffer.from(await client.request('getPromptFile', { params: { filename: 'sdk-big' } })).toString('ascii', 0, 4),
      'RIFF',
    );
    await rejects(client.request('getPromptFile', { params: { filename: 'sdk-tone' } }), { status: 404 });
    await rejects(client.prompts.put('bad/name', wav), { status: 400, code: 'validation_failed' });
  });

  test('sessions, usage and live calls: empty lists, typed 404s for unknown sessions and conferences', async () => {
    const page = await client.sessions.list({ limit: 5 });
    assert.deepEqual(page.sessions, []);
    const all: unknown[] = [];
    for await (const s of client.sessions.all()) all.push(s);
    assert.deepEqual(all, []);
    await rejects(client.sessions.get('s-does-not-exist'), { status: 404, code: 'not_found' });
    const today = new Date().toISOString().slice(0, 10);
    const usage = await client.usage.get({ from: today, to: today });
    assert.equal(usage.from, today);
    assert.equal(typeof usage.totals.callAttempts, 'number');
    await rejects(client.calls.hangupParticipant({ sessionId: 's-none', participantId: 'p-none' }), {
      status: 404,
      code: 'not_found',
    });
    await rejects(client.calls.connect({ sessionId: 's-none', participantIds: ['a', 'b'] }), { status: 404 });
    await rejects(client.conferences.get('no-such-room'), { status: 404, code: 'not_found' });
    const doc = await client.openApiDocument();
    assert.equal(doc.openapi, '3.1.0');
  });
});

/** A scripted fake of the API: each request gets the next scripted answer. */
class ScriptedApi {
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  script: ((res: import('node:http').ServerResponse) => void)[] = [];
  private server: Server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    const next = this.script.shift();
    if (next) next(res);
    else res.writeHead(500).end();
  });
  url = '';
  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close() {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(r));
  }
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (res: import('node:http').ServerResponse) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

describe('SipmsClient retries, timeouts and aborts (ScriptedApi)', () => {
  const api = new ScriptedApi();
  before(() => api.start());
  after(() => api.close());

  test('503 and 429 are retried with the same idempotency key; then the answer', async () => {
    api.requests.length = 0;
    api.script = [
      json(503, { error: { code: 'unavailable', message: 'busy' } }),
      json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'retry-after': '0' }),
      json(200, { success: true, sessionId: 's1', participantId: 'p1' }),
    ];
    const client = new SipmsClient({ baseUrl: api.url, apiKey: 'msk_x', domain: 'd.sip.localhost' });
    const r = await client.calls.placeIvrCall({ destination: 'sip:a@example.com' });
    assert.deepEqual(r, { success: true, sessionId: 's1', participantId: 'p1' });
    assert.equal(api.requests.length, 3);
    const keys = api.requests.map((q) => q.headers['idempotency-key']);
    assert.ok(keys[0] && keys.every((k) => k === keys[0]), JSON.stringify(keys));
    assert.equal(api.requests[0]!.url, '/mediaservice/d.sip.localhost/placeivrcall');
    assert.equal(api.requests[0]!.headers.authorization, 'Bearer msk_x');
    assert.deepEqual(JSON.parse(api.requests[0]!.body), { destination: 'sip:a@example.com' });
  });

  test('after maxRetries the last API error is thrown; 4xx is not retried', async () => {
    api.requests.length = 0;
    api.script = [
      json(503, { error: { code: 'unavailable', message: 'a' } }),
      json(503, { error: { code: 'unavailable', message: 'b' } }),
    ];
    const client = new SipmsClient({ baseUrl: api.url, apiKey: 'k', domain: 'd', maxRetries: 1 });
    await rejects(client.calls.connect({ sessionId: 's', participantIds: ['a', 'b'] }), {
      status: 503,
      code: 'unavailable',
    });
    assert.equal(api.requests.length, 2);
    api.requests.length = 0;
    api.script = [json(409, { error: { code: 'conflict', message: 'already connected' } })];
    await rejects(client.calls.connect({ sessionId: 's', participantIds: ['a', 'b'] }), {
      status: 409,
      code: 'conflict',
    });
    assert.equal(api.requests.length, 1);
  });

  test('a proxy error page is invalid_response; the path is encoded; GET carries no idempotency key', async () => {
    api.requests.length = 0;
    api.script = [(res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>')];
    const client = new SipmsClient({ baseUrl: `${api.url}/`, apiKey: 'k', maxRetries: 0 });
    const e = await rejects(client.sessions.get('a/b?c'), { status: 502, code: 'invalid_response' });
    assert.match(e.message, /Bad Gateway/);
    assert.equal(api.requests[0]!.url, '/v1/sessions/a%2Fb%3Fc');
    assert.equal(api.requests[0]!.headers['idempotency-key'], undefined);
  });

  test('no answer within timeoutMs is a timeout (after the retries)', async () => {
    api.requests.length = 0;
    api.script = [() => undefined, () => undefined]; // never answer
    const client = new SipmsClient({ baseUrl: api.url, apiKey: 'k', timeoutMs: 200, maxRetries: 1 });
    const started = Date.now();
    await rejects(client.tenant.get(), { status: 0, code: 'timeout' });
    assert.equal(api.requests.length, 2);
    assert.ok(Date.now() - started >= 400);
  });

  test("the caller's AbortSignal rejects with its reason, at once and without retries", async () => {
    api.requests.length = 0;
    api.script = [() => undefined];
    const client = new SipmsClient({ baseUrl: api.url, apiKey: 'k', timeoutMs: 10_000 });
    const controller = new AbortController();
    const pending = client.tenant.get({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user left')), 100);
    await assert.rejects(pending, /user left/);
    assert.equal(api.requests.length, 1);
  });

  test('a refused connection is a network_error', async () => {
    const client = new SipmsClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', maxRetries: 0 });
    const e = await rejects(client.tenant.get(), { status: 0, code: 'network_error' });
    assert.ok(isSipmsApiError(e, 'network_error'));
  });
});
