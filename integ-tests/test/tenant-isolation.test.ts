import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROUTES } from '@sipms/shared/api/routes';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { renderScenario, runSipp } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// Two tenants on the real local deployment. Tenant B (and callers with no or bad keys) try every route with
// tenant A's ids: each answer is "not found" exactly as for an id that does not exist, or "unauthorized",
// and A's account is unchanged afterwards. A's session comes from a real SIP call (SIPp → media node).
const NUMBER_A = '+4940777001';

describe('isolation between tenants', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let a: ApiClient;
  let b: ApiClient;
  let tenantA: { tenantId: string; domain: string; apiKey: string };
  let tenantB: { tenantId: string; domain: string; apiKey: string };
  let extraKeyId: string;
  let sessionId: string;

  /** Everything A owns, as A sees it. */
  const snapshot = async () => {
    const tenant = (await a.call('GET', '/v1/tenant')).json;
    const numbers = (await a.call('GET', '/v1/numbers')).json;
    const keys = (await a.call('GET', '/v1/api-keys')).json.apiKeys.map((k: { keyId: string }) => k.keyId);
    const prompts = (await a.call('GET', `/mediaservice/${tenantA.domain}/promptfile`)).json;
    const prompt = (await a.call('GET', `/mediaservice/${tenantA.domain}/promptfile/hello`)).bytes.toString('base64');
    const session = (await a.call('GET', `/v1/sessions/${sessionId}`)).json.sessionId;
    return { tenant, numbers, keys, prompts, prompt, session };
  };

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: 37100, rtpPortMax: 37199 });
    hook = new WebhookServer((cb) =>
      cb.name === 'newCall' ? { body: { action: 'drop', sipStatus: 603 } } : undefined,
    );
    await hook.start();
    a = new ApiClient(stack.apiUrl);
    b = new ApiClient(stack.apiUrl);
    tenantA = await a.signup('Tenant A', hook.url);
    tenantB = await b.signup('Tenant B');
    assert.equal((await a.call('PUT', `/v1/numbers/${NUMBER_A}`)).status, 201);
    assert.equal((await a.call('PUT', `/mediaservice/${tenantA.domain}/promptfile/hello`, toneWav(100))).status, 200);
    extraKeyId = (await a.call('POST', '/v1/api-keys', { name: 'second' })).json.keyId;
    const xml = await renderScenario('uac-expect-status.xml', { status: 603 });
    const sipp = await runSipp([
      '-sf',
      xml,
      '-s',
      NUMBER_A,
      '-m',
      '1',
      '-timeout',
      '20s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, sipp.errors || sipp.stderr);
    sessionId = String((await hook.waitFor('newCall')).body.sessionId);
    await hook.waitFor('sessionCompleted');
  });
  after(async () => {
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  test("A's session is listed for A (filtered by number), never for B", async () => {
    const mine = await a.call('GET', `/v1/sessions?number=${encodeURIComponent(NUMBER_A)}`);
    assert.deepEqual(
      mine.json.sessions.map((s: { sessionId: string }) => s.sessionId),
      [sessionId],
    );
    assert.deepEqual((await a.call('GET', '/v1/sessions?number=%2B4940777999')).json.sessions, []);
    const future = new Date(Date.now() + 3600_000).toISOString();
    assert.deepEqual((await a.call('GET', `/v1/sessions?from=${encodeURIComponent(future)}`)).json.sessions, []);
    assert.deepEqual((await b.call('GET', '/v1/sessions')).json, { sessions: [] });
  });

  test("a softphone credential is the caller's own: its SIP URI is in the caller's domain; a tenantId is refused", async () => {
    const mine = await a.call('POST', '/v1/softphone/credentials', { ttlSec: 60 });
    const theirs = await b.call('POST', '/v1/softphone/credentials');
    assert.equal(mine.status, 201, JSON.stringify(mine.json));
    assert.equal(theirs.status, 201, JSON.stringify(theirs.json));
    assert.equal(mine.json.credential.sipUri, `sip:softphone-${mine.json.credential.credentialId}@${tenantA.domain}`);
    assert.equal(
      theirs.json.credential.sipUri,
      `sip:softphone-${theirs.json.credential.credentialId}@${tenantB.domain}`,
    );
    const spoofed = await b.call('POST', '/v1/softphone/credentials', { tenantId: tenantA.tenantId });
    assert.equal(spoofed.status, 400);
    assert.equal(spoofed.json.error.field, 'tenantId');
  });

  test("every route, tried with A's ids by B or without a valid key: not found or unauthorized, nothing changes", async () => {
    const before = await snapshot();
    const ids = {
      domain: tenantA.domain,
      filename: 'hello',
      number: NUMBER_A,
      keyId: extraKeyId,
      sessionId,
      tenantId: tenantA.tenantId,
      // A conference of A's would be found by its host only while it runs; a name is per tenant either way.
      name: 'room-1',
      participantId: 'p0000000000000000000',
    };
    const unknown = {
      domain: 'nobody-000000.sip.localhost',
      filename: 'hello',
      number: '+4940777990',
      keyId: '000000000000',
      sessionId: 'sdoesnotexist',
      tenantId: 't0000000000000000',
      name: 'no-such-room',
      participantId: 'p0000000000000000001',
    };
    const fill = (routeKey: string, values: Record<string, string>) =>
      routeKey
        .split(' ')[1]!
        .replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(values[p as keyof typeof ids]!));
    const bodies: Record<string, unknown> = {
      'PATCH /v1/tenant': { callbackRetries: 5 },
      'POST /v1/api-keys': { name: 'x' },
      'POST /v1/softphone/credentials': { ttlSec: 60 },
      'POST /v1/tenants': { name: 'x' },
      'POST /mediaservice/{domain}/promptfile/{filename}/upload-url': { contentType: 'audio/wav', bytes: 1000 },
      'POST /mediaservice/{domain}/placeivrcall': { destination: 'sip:nobody@127.0.0.1:9', sessionId },
      'POST /mediaservice/{domain}/hangupparticipant': { sessionId, participantId: 'p0000000000000000000' },
      'POST /mediaservice/{domain}/interruptivrcommand': { sessionId, participantId: 'p0000000000000000000' },
      'POST /mediaservice/{domain}/connect': {
        sessionId,
        participantIds: ['p0000000000000000000', 'p0000000000000000001'],
      },
      'POST /mediaservice/{domain}/splitconnection': { sessionId, connectionId: 'c0000000000000000000' },
      'POST /mediaservice/{domain}/startrecording': { sessionId, connectionId: 'c0000000000000000000' },
      'POST /mediaservice/{domain}/stoprecording': { sessionId, connectionId: 'c0000000000000000000' },
      'POST /mediaservice/{domain}/conference/{name}/participants/{participantId}': { muted: true },
    };
    const query: Record<string, string> = { 'GET /v1/usage': '?from=2030-01-01&to=2030-01-02' };
    const tried = new Set<string>();
    const bad = [new ApiClient(stack.apiUrl), new ApiClient(stack.apiUrl, `${tenantA.apiKey.slice(0, -2)}xx`)];

    for (const route of ROUTES) {
      const [method] = route.routeKey.split(' ') as [string];
      const body = route.routeKey.includes('promptfile/') && method === 'PUT' ? toneWav(50) : bodies[route.routeKey];
      const path = fill(route.routeKey, ids) + (query[route.routeKey] ?? '');
      tried.add(route.routeKey);
      if (route.auth) {
        for (const client of bad) {
          const res = await client.call(method, path, body);
          assert.equal(res.status, 401, `${route.routeKey} without a valid key`);
          assert.equal(res.json.error.code, 'unauthorized');
        }
      }
      if (route.auth === 'admin') {
        // The operator's routes: a tenant's key is no admin token, whoever's ids it names.
        const asTenant = await b.call(method, path, body);
        assert.equal(asTenant.status, 401, `${route.routeKey} with a tenant key`);
        assert.equal(asTenant.json.error.code, 'unauthorized');
        continue;
      }
      if (!route.auth || !/\{/.test(route.routeKey)) continue;
      // B with A's ids answers exactly as B with ids that exist nowhere.
      const foreign = await b.call(method, path, body);
      if (route.routeKey === 'PUT /v1/numbers/{number}') {
        // The one documented exception: a number has one owner, so claiming A's number is a conflict.
        assert.equal(foreign.status, 409);
        continue;
      }
      const missing = await b.call(method, fill(route.routeKey, unknown) + (query[route.routeKey] ?? ''), body);
      assert.equal(missing.status, 404, `${route.routeKey} unknown ids: ${JSON.stringify(missing.json)}`);
      assert.equal(foreign.status, 404, `${route.routeKey} with A's ids: ${JSON.stringify(foreign.json)}`);
      assert.deepEqual(
        { status: foreign.status, code: foreign.json.error.code, message: foreign.json.error.message },
        { status: missing.status, code: missing.json.error.code, message: missing.json.error.message },
        route.routeKey,
      );
      assert.deepEqual(Object.keys(foreign.json.error).sort(), Object.keys(missing.json.error).sort());
    }
    assert.deepEqual([...tried].sort(), ROUTES.map((r) => r.routeKey).sort(), 'every route was tried');

    // B's own listings never show A's data.
    const seenByB = JSON.stringify(
      await Promise.all(
        ['/v1/tenant', '/v1/numbers', '/v1/api-keys', '/v1/sessions', `/mediaservice/${tenantB.domain}/promptfile`].map(
          async (p) => (await b.call('GET', p)).json,
        ),
      ),
    );
    for (const secretOfA of [tenantA.tenantId, NUMBER_A, extraKeyId, sessionId, 'hello']) {
      assert.equal(seenByB.includes(secretOfA), false, secretOfA);
    }
    assert.deepEqual(await snapshot(), before, "A's account is unchanged");
  });
});
