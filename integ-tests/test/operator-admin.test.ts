import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { renderScenario, runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// The operator's controls on the real local deployment (`npm start`): the admin token and its API,
// suspension (REST and a real SIP call), signup modes, limits that the media node applies, claimable
// numbers and the per-tenant cap, and outbound destinations.
const NUMBER = '+4930555001';

describe('operator controls on the local deployment', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let admin: ApiClient;
  let api: ApiClient;
  let tenant: { tenantId: string; domain: string; apiKey: string };

  before(async () => {
    stack = await startLocalStack({
      rtpPortMin: 37500,
      rtpPortMax: 37599,
      env: {
        CLAIMABLE_NUMBERS: '+4930*, 1000-1999',
        OUTBOUND_DESTINATIONS: '+49, 127.0.0.1, *.example.com',
        TENANT_MAX_NUMBERS: '3',
        SIGNUP_LIMIT_PER_HOUR: '50',
      },
    });
    hook = new WebhookServer();
    await hook.start();
    admin = new ApiClient(stack.apiUrl, stack.adminToken);
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('Operated', hook.url);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
  });
  after(async () => {
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  /** An INVITE to NUMBER that must end in `status`. */
  const callNumber = (status: number) =>
    renderScenario('uac-expect-status.xml', { status }).then((xml) =>
      runSipp(['-sf', xml, '-s', NUMBER, '-m', '1', '-timeout', '15s', `${stack.sipHost}:${stack.sipPort}`]),
    );

  test('the admin token is made once into DATA_DIR/run/admin-token (0600), named in the ready line', async () => {
    assert.match(stack.adminToken, /^msa_[A-Za-z0-9_-]{40,}$/);
    const file = await stat(join(stack.dataDir, 'run', 'admin-token'));
    assert.equal(file.mode & 0o777, 0o600);
  });

  test('admin routes take the admin token, never a tenant key; tenant routes never the admin token', async () => {
    const list = await admin.call('GET', '/v1/admin/tenants');
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const me = list.json.tenants.find((t: { tenantId: string }) => t.tenantId === tenant.tenantId);
    assert.equal(me.state, 'active');
    assert.equal(me.numberCount, 1);
    assert.equal(me.effectiveLimits.maxNumbers, 3);
    assert.equal(JSON.stringify(list.json).includes('whsec_'), false, 'no secrets');

    for (const [method, path] of [
      ['GET', '/v1/admin/tenants'],
      ['GET', `/v1/admin/tenants/${tenant.tenantId}`],
      ['POST', `/v1/admin/tenants/${tenant.tenantId}/suspend`],
      ['PUT', '/v1/admin/settings'],
      ['POST', '/v1/admin/invitations'],
    ] as const) {
      const res = await api.call(method, path, method === 'GET' ? undefined : {});
      assert.equal(res.status, 401, `${method} ${path} with a tenant key`);
      assert.equal(res.json.error.code, 'unauthorized');
    }
    const asTenant = new ApiClient(stack.apiUrl, stack.adminToken);
    for (const path of ['/v1/tenant', '/v1/numbers', '/v1/api-keys']) {
      assert.equal((await asTenant.call('GET', path)).status, 401, `${path} with the admin token`);
    }
    assert.equal((await admin.call('GET', '/v1/admin/tenants/t0000000000000000')).status, 404);

    // Paging: one at a time, every tenant once.
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await admin.call('GET', `/v1/admin/tenants?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      seen.push(...page.json.tenants.map((t: { tenantId: string }) => t.tenantId));
      cursor = page.json.nextCursor ?? '';
    } while (cursor);
    assert.ok(seen.includes(tenant.tenantId));
    assert.equal(new Set(seen).size, seen.length);

    const settings = await admin.call('GET', '/v1/admin/settings');
    assert.deepEqual(settings.json.deployment, {
      claimableNumbers: ['+4930*', '1000-1999'],
      outboundDestinations: { numberPrefixes: ['+49'], sipDomains: ['127.0.0.1', '*.example.com'] },
      tenantDefaults: { maxConcurrentCalls: 100, callsPerSecond: 10, maxNumbers: 3, maxSlowCallbacks: 20 },
    });
  });

  test('suspend: the keys get 403 tenant_suspended, an INVITE to its number gets 404 and no newCall; resume', async () => {
    hook.responder = (cb) => (cb.name === 'newCall' ? { body: { action: 'drop', sipStatus: 603 } } : undefined);
    const suspended = await admin.call('POST', `/v1/admin/tenants/${tenant.tenantId}/suspend`, {
      reason: 'unpaid invoice 2030-01',
    });
    assert.equal(suspended.status, 200, JSON.stringify(suspended.json));
    assert.deepEqual([suspended.json.state, suspended.json.suspendedReason], ['suspended', 'unpaid invoice 2030-01']);

    for (const [method, path, body] of [
      ['GET', '/v1/tenant', undefined],
      ['GET', '/v1/numbers', undefined],
      ['PUT', '/v1/numbers/+4930555002', undefined],
      ['POST', `/mediaservice/${tenant.domain}/placeivrcall`, { destination: 'sip:x@127.0.0.1:9' }],
    ] as const) {
      const res = await api.call(method, path, body);
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.json.error.code, 'tenant_suspended');
      assert.equal(res.json.error.reason, 'unpaid invoice 2030-01');
    }
    // A wrong key is still 401: suspension is told only to the tenant's own keys.
    assert.equal((await new ApiClient(stack.apiUrl, `${tenant.apiKey}x`).call('GET', '/v1/tenant')).status, 401);

    const refused = await callNumber(404);
    assert.equal(refused.code, 0, refused.errors || refused.stderr);
    assert.match(refused.messages, /SIP\/2\.0 404 Not Found/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.named('newCall').length, 0, 'no callback for a suspended tenant');

    const resumed = await admin.call('POST', `/v1/admin/tenants/${tenant.tenantId}/resume`);
    assert.deepEqual([resumed.status, resumed.json.state, resumed.json.suspendedReason], [200, 'active', null]);
    assert.equal((await api.call('GET', '/v1/tenant')).status, 200);
    const answered = await callNumber(603);
    assert.equal(answered.code, 0, answered.errors || answered.stderr);
    assert.equal(hook.named('newCall').length, 1);
    await hook.waitFor('sessionCompleted');
  });

  test('limits set by the admin apply on the media node: maxConcurrentCalls 1 → a second call gets SIP 503', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 4000 }], hangup: true } };
      return undefined;
    };
    const patched = await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, {
      limits: { maxConcurrentCalls: 1 },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    assert.equal(patched.json.limits.maxConcurrentCalls, 1);
    assert.equal(patched.json.effectiveLimits.maxConcurrentCalls, 1);

    const first = runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      NUMBER,
      '-m',
      '1',
      '-timeout',
      '30s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    await hook.waitFor('getIvrCommand');
    const second = await callNumber(503);
    assert.equal(second.code, 0, second.errors || second.stderr);
    assert.match(second.messages, /SIP\/2\.0 503 Service Unavailable \(at most 1 simultaneous calls\)/);
    const placed = await api.call('POST', `/mediaservice/${tenant.domain}/placeivrcall`, {
      destination: 'sip:x@127.0.0.1:9',
    });
    assert.deepEqual([placed.status, placed.json.error?.code, placed.json.error?.limit], [429, 'rate_limited', 1]);
    assert.equal((await first).code, 0);

    const reset = await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, {
      limits: { maxConcurrentCalls: null },
    });
    assert.deepEqual(
      [reset.json.limits.maxConcurrentCalls, reset.json.effectiveLimits.maxConcurrentCalls],
      [null, 100],
    );
  });

  test('numbers: only claimable patterns (403 number_not_claimable), at most maxNumbers (409 limit_exceeded)', async () => {
    for (const number of ['+4931000001', '2000', '999', 'alice']) {
      const res = await api.call('PUT', `/v1/numbers/${encodeURIComponent(number)}`);
      assert.equal(res.status, 403, number);
      assert.deepEqual([res.json.error.code, res.json.error.number], ['number_not_claimable', number]);
    }
    assert.equal((await api.call('PUT', '/v1/numbers/1500')).status, 201);
    assert.equal((await api.call('PUT', '/v1/numbers/1501')).status, 201);
    const over = await api.call('PUT', '/v1/numbers/1502');
    assert.equal(over.status, 409);
    assert.deepEqual([over.json.error.code, over.json.error.limit], ['limit_exceeded', 3]);
    assert.equal((await api.call('PUT', '/v1/numbers/1501')).status, 200, 'a number held is still "already yours"');

    const raised = await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, { limits: { maxNumbers: 4 } });
    assert.equal(raised.json.effectiveLimits.maxNumbers, 4);
    assert.equal((await api.call('PUT', '/v1/numbers/1502')).status, 201);
    assert.equal((await admin.call('GET', `/v1/admin/tenants/${tenant.tenantId}`)).json.numberCount, 4);
    assert.equal((await api.call('DELETE', '/v1/numbers/1502')).status, 200);
    assert.equal((await admin.call('GET', `/v1/admin/tenants/${tenant.tenantId}`)).json.numberCount, 3);
  });

  test('placeivrcall: a destination outside the allow-lists is 403 destination_not_allowed; a tenant list narrows', async () => {
    const place = (destination: string) =>
      api.call('POST', `/mediaservice/${tenant.domain}/placeivrcall`, { destination, timeoutSec: 2 });
    for (const destination of ['sip:agent@evil.test', '+1900555123', 'sip:a@example.com']) {
      const res = await place(destination);
      assert.equal(res.status, 403, `${destination}: ${JSON.stringify(res.json)}`);
      assert.deepEqual([res.json.error.code, res.json.error.destination], ['destination_not_allowed', destination]);
      assert.ok(res.json.error.message.includes(destination));
    }
    assert.equal((await place('sip:x@127.0.0.1:9')).status, 200);

    const narrowed = await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, {
      limits: { outboundDestinations: { numberPrefixes: ['+4930'], sipDomains: ['pbx.example.com'] } },
    });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.json));
    const refused = await place('sip:x@127.0.0.1:9');
    assert.deepEqual([refused.status, refused.json.error.code], [403, 'destination_not_allowed']);
    // The tenant's list cannot widen the deployment's.
    await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, {
      limits: { outboundDestinations: { numberPrefixes: ['*'], sipDomains: ['*'] } },
    });
    assert.equal((await place('sip:agent@evil.test')).status, 403);
    await admin.call('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, { limits: { outboundDestinations: null } });
    assert.equal((await place('sip:x@127.0.0.1:9')).status, 200);
  });

  test('signup: closed → 403 signup_closed; invitation → needs a single-use code; open again', async () => {
    const anon = new ApiClient(stack.apiUrl);
    const signup = (body: Record<string, unknown>) => anon.call('POST', '/v1/tenants', { name: 'Newcomer', ...body });
    try {
      assert.equal((await admin.call('PUT', '/v1/admin/settings', { signup: 'closed' })).json.signup, 'closed');
      const closed = await signup({});
      assert.deepEqual([closed.status, closed.json.error.code], [403, 'signup_closed']);

      const set = await admin.call('PUT', '/v1/admin/settings', { signup: 'invitation' });
      assert.deepEqual([set.status, set.json.signup], [200, 'invitation']);
      assert.ok(set.json.updatedAt);
      assert.deepEqual((await signup({})).json.error.code, 'invitation_required');
      assert.deepEqual(
        (await signup({ invitationCode: 'inv_guessguessguessguessguess' })).json.error.code,
        'invitation_invalid',
      );

      const invitation = await admin.call('POST', '/v1/admin/invitations', { expiresInHours: 1, note: 'Newcomer' });
      assert.equal(invitation.status, 201, JSON.stringify(invitation.json));
      assert.ok(Date.parse(invitation.json.expiresAt) - Date.now() <= 3600_000);
      const admitted = await signup({ invitationCode: invitation.json.code });
      assert.equal(admitted.status, 201, JSON.stringify(admitted.json));
      const reused = await signup({ invitationCode: invitation.json.code });
      assert.deepEqual([reused.status, reused.json.error.code], [403, 'invitation_invalid']);
    } finally {
      await admin.call('PUT', '/v1/admin/settings', { signup: 'open' });
    }
    assert.equal((await signup({})).status, 201);
  });
});
