import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';

// A tenant's whole account through the API, on the real local deployment (dynalite behind the local API
// Gateway adapter): settings, secrets, numbers, keys, prompts, sessions, usage; number races; the signup limit.
const SIGNUP_LIMIT = 8;

describe('tenant lifecycle on the local deployment', () => {
  let stack: LocalStack;
  let api: ApiClient;
  let tenant: { tenantId: string; domain: string; apiKey: string; signingSecret: string };
  let signups = 0;

  before(async () => {
    stack = await startLocalStack({
      rtpPortMin: 37000,
      rtpPortMax: 37099,
      env: { SIGNUP_LIMIT_PER_HOUR: String(SIGNUP_LIMIT) },
    });
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('Lifecycle Ltd', 'http://127.0.0.1:9/hooks');
    signups++;
  });
  after(async () => {
    await stack?.stop();
  });

  test('settings: read, change, validate, and secrets never shown again', async () => {
    const me = await api.call('GET', '/v1/tenant');
    assert.equal(me.status, 200);
    assert.equal(me.headers.get('cache-control'), 'no-store');
    assert.equal(JSON.stringify(me.json).includes(tenant.signingSecret), false);
    const patched = await api.call('PATCH', '/v1/tenant', {
      fallbackUrl: 'http://127.0.0.1:9/fallback',
      callbackTimeoutMs: 3000,
      callbackRetries: 0,
      codecs: ['PCMA'],
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    assert.deepEqual(
      [patched.json.fallbackUrl, patched.json.callbackTimeoutMs, patched.json.callbackRetries, patched.json.codecs],
      ['http://127.0.0.1:9/fallback', 3000, 0, ['PCMA']],
    );
    assert.ok(patched.json.updatedAt);
    const cleared = await api.call('PATCH', '/v1/tenant', { fallbackUrl: null });
    assert.equal(cleared.json.fallbackUrl, null);
    assert.equal((await api.call('GET', '/v1/tenant')).json.callbackTimeoutMs, 3000);
  });

  test('signing-secret rotation shows the new secret once; the previous stays valid 24 h', async () => {
    const before = Date.now();
    const rotated = await api.call('POST', '/v1/tenant/signing-secrets');
    assert.equal(rotated.status, 201, JSON.stringify(rotated.json));
    assert.match(rotated.json.signingSecret, /^whsec_/);
    assert.notEqual(rotated.json.signingSecret, tenant.signingSecret);
    const expires = Date.parse(rotated.json.previousSecretExpiresAt);
    assert.ok(Math.abs(expires - before - 24 * 3600_000) < 60_000);
    const me = await api.call('GET', '/v1/tenant');
    assert.equal(JSON.stringify(me.json).includes('whsec_'), false);
  });

  test('numbers: claim, idempotent re-claim, list, release', async () => {
    assert.equal((await api.call('PUT', '/v1/numbers/+4940555001')).status, 201);
    assert.equal((await api.call('PUT', '/v1/numbers/alice.support')).status, 201);
    assert.equal((await api.call('PUT', '/v1/numbers/+4940555001')).status, 200);
    const list = await api.call('GET', '/v1/numbers');
    assert.deepEqual(list.json.numbers.map((n: { number: string }) => n.number).sort(), [
      '+4940555001',
      'alice.support',
    ]);
    assert.deepEqual((await api.call('DELETE', '/v1/numbers/alice.support')).json, { success: true });
    assert.equal((await api.call('DELETE', '/v1/numbers/alice.support')).status, 404);
  });

  test('concurrent claims of one number by five tenants: exactly one wins', async () => {
    const rivals = await Promise.all(
      [1, 2, 3, 4, 5].map(async (i) => {
        const c = new ApiClient(stack.apiUrl);
        await c.signup(`Rival ${i}`);
        signups++;
        return c;
      }),
    );
    const results = await Promise.all(rivals.map((c) => c.call('PUT', '/v1/numbers/+4940555999')));
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409]);
    const winner = rivals[results.findIndex((r) => r.status === 201)]!;
    for (const c of rivals) {
      const mine = (await c.call('GET', '/v1/numbers')).json.numbers.map((n: { number: string }) => n.number);
      assert.deepEqual(mine, c === winner ? ['+4940555999'] : []);
    }
  });

  test('API keys: named, shown once, listed without secrets, revoked at once', async () => {
    const created = await api.call('POST', '/v1/api-keys', { name: 'ci' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const ci = new ApiClient(stack.apiUrl, created.json.apiKey);
    assert.equal((await ci.call('GET', '/v1/tenant')).json.tenantId, tenant.tenantId);
    const listed = await api.call('GET', '/v1/api-keys');
    assert.deepEqual(
      listed.json.apiKeys.map((k: { name: string }) => k.name),
      ['default', 'ci'],
    );
    assert.equal(JSON.stringify(listed.json).includes(created.json.apiKey), false);
    assert.ok(listed.json.apiKeys.find((k: { name: string }) => k.name === 'ci').lastUsedAt, 'lastUsedAt set by use');

    // Revocation while the key is in use: every request after the revocation answered fails.
    const inFlight = Array.from({ length: 10 }, () => ci.call('GET', '/v1/tenant'));
    assert.deepEqual((await api.call('DELETE', `/v1/api-keys/${created.json.keyId}`)).json, { success: true });
    await Promise.all(inFlight);
    for (let i = 0; i < 5; i++) assert.equal((await ci.call('GET', '/v1/tenant')).status, 401);
    assert.equal((await api.call('DELETE', `/v1/api-keys/${created.json.keyId}`)).status, 404);

    // The key in use can revoke itself only while another remains.
    const [own] = (await api.call('GET', '/v1/api-keys')).json.apiKeys;
    const last = await api.call('DELETE', `/v1/api-keys/${own.keyId}`);
    assert.equal(last.status, 409);
    assert.equal(last.json.error.code, 'conflict');
  });

  test('prompt files: upload, list with paging, content type on GET, delete', async () => {
    const base = `/mediaservice/${tenant.domain}/promptfile`;
    for (const name of ['c-menu', 'a-welcome', 'b-goodbye.wav']) {
      assert.equal((await api.call('PUT', `${base}/${name}`, toneWav(100))).status, 200);
    }
    const names: string[] = [];
    let cursor = '';
    let pages = 0;
    do {
      const page = await api.call('GET', `${base}?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.json));
      names.push(...page.json.prompts.map((p: { name: string; size: number }) => p.name));
      for (const p of page.json.prompts) assert.ok(p.size > 44 && p.updatedAt);
      cursor = page.json.nextCursor ?? '';
      pages++;
    } while (cursor);
    assert.deepEqual(names, ['a-welcome', 'b-goodbye.wav', 'c-menu']);
    assert.equal(pages, 2);
    const got = await api.call('GET', `${base}/b-goodbye`);
    assert.equal(got.headers.get('content-type'), 'audio/wav');
    assert.equal((await api.call('GET', `${base}?cursor=!!`)).json.error.field, 'cursor');
    assert.deepEqual((await api.call('DELETE', `${base}/c-menu`)).json, { success: true });
    assert.equal((await api.call('GET', `${base}/c-menu`)).status, 404);
  });

  test('sessions and usage of a new tenant are empty; bad ranges name the field', async () => {
    assert.deepEqual((await api.call('GET', '/v1/sessions')).json, { sessions: [] });
    const usage = await api.call('GET', '/v1/usage?from=2030-01-01&to=2030-01-31');
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.json.days, []);
    assert.equal(usage.json.totals.callSeconds, 0);
    const reversed = await api.call('GET', '/v1/usage?from=2030-02-01&to=2030-01-31');
    assert.deepEqual([reversed.status, reversed.json.error.field], [400, 'to']);
  });

  test(`signups are limited per source address (${SIGNUP_LIMIT} per hour): 429 with the limit, nothing created`, async () => {
    const anon = new ApiClient(stack.apiUrl);
    while (signups < SIGNUP_LIMIT) {
      assert.equal((await anon.call('POST', '/v1/tenants', { name: `Filler ${signups}` })).status, 201);
      signups++;
    }
    const limited = await anon.call('POST', '/v1/tenants', { name: 'One too many' });
    assert.equal(limited.status, 429);
    assert.equal(limited.json.error.code, 'rate_limited');
    assert.equal(limited.json.error.limit, SIGNUP_LIMIT);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.ok(limited.headers.get('x-request-id'));
    // An invalid body is still answered 400 (validation comes first and creates nothing).
    assert.equal((await anon.call('POST', '/v1/tenants', {})).status, 400);
  });
});
