import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';

// The control plane through the local API Gateway adapter, on dynalite: auth, validation, isolation,
// the error shape, persistence across a restart, and start-up errors that name the setting to change.
describe('control plane on the local deployment', () => {
  let dataDir: string;
  let stack: LocalStack;
  let a: ApiClient;
  let b: ApiClient;
  let tenantA: { tenantId: string; domain: string; apiKey: string };
  let tenantB: { tenantId: string; domain: string; apiKey: string };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sipms-cp-'));
    stack = await startLocalStack({ rtpPortMin: 31200, rtpPortMax: 31299, dataDir });
    a = new ApiClient(stack.apiUrl);
    b = new ApiClient(stack.apiUrl);
    tenantA = await a.signup('Tenant A', 'http://127.0.0.1:9/hooks');
    tenantB = await b.signup('Tenant B');
  });

  after(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('signup returns the documented fields once; GET /v1/tenant never shows secrets', async () => {
    assert.match(tenantA.tenantId, /^t[0-9a-z]{16}$/);
    assert.match(tenantA.domain, /^tenant-a-[0-9a-z]{6}\.sip\.localhost$/);
    assert.match(tenantA.apiKey, /^msk_/);
    assert.notEqual(tenantA.domain, tenantB.domain);
    const me = await a.call('GET', '/v1/tenant');
    assert.equal(me.status, 200);
    assert.equal(me.json.tenantId, tenantA.tenantId);
    assert.equal(me.json.callbackUrl, 'http://127.0.0.1:9/hooks');
    assert.equal(me.json.callbackTimeoutMs, 5000);
    assert.equal(me.json.callbackRetries, 2);
    assert.equal(JSON.stringify(me.json).includes('whsec_'), false);
    assert.ok(me.headers.get('x-request-id'));
  });

  test('missing or wrong API key → 401 with the error shape', async () => {
    const anon = new ApiClient(stack.apiUrl);
    for (const key of ['', 'msk_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', `${tenantA.apiKey}x`]) {
      anon.apiKey = key;
      const res = await anon.call('GET', '/v1/tenant');
      assert.equal(res.status, 401, key);
      assert.equal(res.json.error.code, 'unauthorized');
      assert.equal(typeof res.json.error.message, 'string');
    }
  });

  test('invalid bodies → 400 naming the field; nothing changes', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/tenants', {}, 'name'],
      ['POST', '/v1/tenants', { name: 'x', callbackUrl: 'ftp://x' }, 'callbackUrl'],
      ['PATCH', '/v1/tenant', { callbackTimeoutMs: 20000 }, 'callbackTimeoutMs'],
      ['PATCH', '/v1/tenant', { callbackRetries: -1 }, 'callbackRetries'],
      ['PATCH', '/v1/tenant', { surprise: true }, ''],
      ['PUT', '/v1/numbers/not%20a%20number', undefined, 'number'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await a.call(method, path, body);
      assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.error.code, 'validation_failed');
      if (field) assert.equal(res.json.error.field, field);
    }
    const notJson = await fetch(`${stack.apiUrl}/v1/tenant`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${tenantA.apiKey}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'bad_request');
    assert.equal((await a.call('GET', '/v1/tenant')).json.callbackTimeoutMs, 5000);
  });

  test('a number has one owner; the other tenant gets 409 and cannot release it', async () => {
    assert.equal((await a.call('PUT', '/v1/numbers/+4940111222')).status, 201);
    assert.equal((await a.call('PUT', '/v1/numbers/+4940111222')).status, 200, 'idempotent for the owner');
    const taken = await b.call('PUT', '/v1/numbers/+4940111222');
    assert.equal(taken.status, 409);
    assert.equal(taken.json.error.code, 'conflict');
    assert.equal((await b.call('DELETE', '/v1/numbers/+4940111222')).status, 404);
    const list = await a.call('GET', '/v1/numbers');
    assert.deepEqual(
      list.json.numbers.map((n: { number: string }) => n.number),
      ['+4940111222'],
    );
    assert.deepEqual((await b.call('GET', '/v1/numbers')).json.numbers, []);
  });

  test("prompt files: upload, fetch, audio check, and another tenant's domain answers 404", async () => {
    const wav = toneWav(300);
    const put = await a.call('PUT', `/mediaservice/${tenantA.domain}/promptfile/hello`, wav);
    assert.deepEqual([put.status, put.json], [200, { success: true }]);
    const got = await fetch(`${stack.apiUrl}/mediaservice/${tenantA.domain}/promptfile/hello`, {
      headers: { authorization: `Bearer ${tenantA.apiKey}` },
    });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'audio/wav');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), wav);
    const notAudio = await a.call(
      'PUT',
      `/mediaservice/${tenantA.domain}/promptfile/bad`,
      Buffer.from('hello world, not audio'),
    );
    assert.equal(notAudio.status, 415);
    assert.equal(notAudio.json.error.code, 'unsupported_media_type');
    const badName = await a.call('PUT', `/mediaservice/${tenantA.domain}/promptfile/..%2Fescape`, wav);
    assert.equal(badName.status, 400);
    const foreign = await b.call('PUT', `/mediaservice/${tenantA.domain}/promptfile/hello`, wav);
    assert.equal(foreign.status, 404);
    assert.equal((await b.call('GET', `/mediaservice/${tenantA.domain}/promptfile/hello`)).status, 404);
    assert.equal((await a.call('GET', `/mediaservice/${tenantA.domain}/promptfile/missing`)).status, 404);
  });

  test('unknown routes and sessions answer 404 with the error shape', async () => {
    const route = await a.call('GET', '/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.json.error.code, 'not_found');
    const session = await a.call('GET', '/v1/sessions/s-does-not-exist');
    assert.equal(session.status, 404);
  });

  test('a port that is taken stops start-up with a message naming the variable', async () => {
    const port = new URL(stack.apiUrl).port;
    await assert.rejects(
      startLocalStack({ rtpPortMin: 31300, rtpPortMax: 31399, env: { API_PORT: port } }),
      /already in use: set API_PORT/,
    );
    await assert.rejects(
      startLocalStack({ rtpPortMin: 31300, rtpPortMax: 31399, env: { SIP_PORT: String(stack.sipPort) } }),
      /set SIP_PORT/,
    );
  });

  test('tenants, keys and prompts survive a restart (data under DATA_DIR)', async () => {
    assert.equal(await stack.stop(), 0);
    stack = await startLocalStack({ rtpPortMin: 31200, rtpPortMax: 31299, dataDir });
    a = new ApiClient(stack.apiUrl, tenantA.apiKey);
    const me = await a.call('GET', '/v1/tenant');
    assert.equal(me.status, 200);
    assert.equal(me.json.domain, tenantA.domain);
    assert.equal((await a.call('GET', `/mediaservice/${tenantA.domain}/promptfile/hello`)).status, 200);
  });
});
