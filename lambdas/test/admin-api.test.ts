import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_ROUTES, adminRoutes } from '@sipms/shared/api/admin-routes';
import { defineRoute } from '@sipms/shared/api/route-definition';
import { checkDestination, parseOutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import { sha256Hex } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { fixedHash, SecretTokenSource, verifyAdminToken } from '../src/admin/admin-token.js';
import { type ApiDeps, createApiHandler, implement } from '../src/http/api-handler.js';
import { tenantSuspendedError } from '../src/http/tenant-suspended.js';
import { type CallPolicy, LiveCallService } from '../src/live-calls/live-call-service.js';

const ADMIN_TOKEN = 'msa_the-operators-token-0123456789';
const TENANT_KEY = 'msk_000000000000_tenantkeytenantkeytenantkey';
const SUSPENDED_KEY = 'msk_111111111111_tenantkeytenantkeytenantkey';

const deps = (): ApiDeps => ({
  authenticate: async (key) => {
    if (key === SUSPENDED_KEY) throw tenantSuspendedError('unpaid invoice');
    return key === TENANT_KEY ? { tenantId: 't1', keyId: 'k1' } : undefined;
  },
  authenticateAdmin: (token) => verifyAdminToken(fixedHash(sha256Hex(ADMIN_TOKEN)), token),
  logger: createLogger({}, 'error', () => undefined),
});

const SETTINGS = {
  signup: 'open',
  updatedAt: null,
  deployment: {
    claimableNumbers: ['*'],
    outboundDestinations: { numberPrefixes: ['*'], sipDomains: ['*'] },
    tenantDefaults: { maxConcurrentCalls: 100, callsPerSecond: 10, maxNumbers: 100, maxSlowCallbacks: 20 },
  },
};

// The admin group with stand-in implementations: only the route under test answers.
const admin = createApiHandler(
  'admin',
  ADMIN_ROUTES.map((route) =>
    implement(route, async () =>
      route === adminRoutes.getSettings ? { status: 200, json: SETTINGS } : { status: 500 },
    ),
  ),
  deps,
);

// A tenant route (the usage group's one route key, as api-handler.test.ts does).
const tenantRoute = defineRoute({
  routeKey: 'GET /v1/usage',
  group: 'usage',
  auth: true,
  operationId: 'x',
  summary: 'x',
  tags: [],
  responses: { 200: { description: 'x', schema: z.object({ tenantId: z.string() }) } },
  errors: [],
});
const tenant = createApiHandler(
  'usage',
  [implement(tenantRoute, async (req) => ({ status: 200, json: { tenantId: req.tenantId } }))],
  deps,
);

async function call(
  handler: (e: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
  routeKey: string,
  bearer?: string,
) {
  const res = await handler({
    routeKey,
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1', http: { sourceIp: '192.0.2.1' } },
  } as unknown as APIGatewayProxyEventV2);
  return { status: res.statusCode, body: res.body ? JSON.parse(String(res.body)) : undefined };
}

test('admin routes take the admin token only: a tenant key, nothing or a wrong token is 401', async () => {
  const ok = await call(admin, 'GET /v1/admin/settings', ADMIN_TOKEN);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.signup, 'open');
  for (const bearer of [TENANT_KEY, undefined, `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)]) {
    const res = await call(admin, 'GET /v1/admin/settings', bearer);
    assert.equal(res.status, 401, String(bearer));
    assert.equal(res.body.error.code, 'unauthorized');
    assert.match(res.body.error.message, /admin token/);
  }
});

test('tenant routes refuse the admin token (401) and a suspended tenant (403 with the reason)', async () => {
  assert.deepEqual(await call(tenant, 'GET /v1/usage', TENANT_KEY), { status: 200, body: { tenantId: 't1' } });
  const withAdmin = await call(tenant, 'GET /v1/usage', ADMIN_TOKEN);
  assert.equal(withAdmin.status, 401);
  assert.equal(withAdmin.body.error.code, 'unauthorized');
  const suspended = await call(tenant, 'GET /v1/usage', SUSPENDED_KEY);
  assert.equal(suspended.status, 403);
  assert.equal(suspended.body.error.code, 'tenant_suspended');
  assert.equal(suspended.body.error.reason, 'unpaid invoice');
});

test('without a configured token every admin request is 401', async () => {
  const none = createApiHandler(
    'admin',
    ADMIN_ROUTES.map((route) => implement(route, async () => ({ status: 200, json: SETTINGS }))),
    () => ({ ...deps(), authenticateAdmin: (token: string) => verifyAdminToken(fixedHash(undefined), token) }),
  );
  assert.equal((await call(none, 'GET /v1/admin/settings', ADMIN_TOKEN)).status, 401);
  assert.equal((await call(none, 'GET /v1/admin/settings', '')).status, 401);
});

test('the secret is read once per TTL; a failed read is not kept', async () => {
  let reads = 0;
  let now = 0;
  let fail = false;
  const source = new SecretTokenSource(
    async (id) => {
      reads++;
      assert.equal(id, 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:admin');
      if (fail) throw new Error('AccessDenied');
      return `${ADMIN_TOKEN}\n`;
    },
    'arn:aws:secretsmanager:eu-west-1:111111111111:secret:admin',
    60_000,
    () => now,
  );
  assert.equal(await verifyAdminToken(source, ADMIN_TOKEN), true);
  assert.equal(await verifyAdminToken(source, 'wrong'), false);
  assert.equal(reads, 1, 'bad tokens cost no secret reads');
  now = 61_000;
  fail = true;
  await assert.rejects(verifyAdminToken(source, ADMIN_TOKEN), /AccessDenied/);
  fail = false;
  assert.equal(await verifyAdminToken(source, ADMIN_TOKEN), true);
  assert.equal(reads, 3);
});

test('placeivrcall: a suspended tenant and a destination outside the allow-lists are refused before any node', async () => {
  const sent: unknown[] = [];
  const registry = {
    pickNode: async () => ({ nodeId: 'n1' }) as never,
    send: async (_node: string, cmd: unknown) => {
      sent.push(cmd);
      return 'command-id';
    },
  };
  let policy: CallPolicy;
  const service = new LiveCallService({ get: async () => undefined }, registry, {
    attempts: { countAttempt: async () => undefined },
    active: { others: async () => 0 },
    policyFor: async () => policy,
  });
  const deployment = parseOutboundDestinations('+49,pbx.example.com');
  const tenantList = { numberPrefixes: ['+4930'], sipDomains: ['pbx.example.com'] };
  policy = {
    suspended: undefined,
    maxConcurrentCalls: 5,
    callsPerSecond: 5,
    checkDestination: (d) => checkDestination(d, deployment, tenantList),
  };
  const place = (destination: string) => service.placeIvrCall('t1', { destination, timeoutSec: 30 });

  await assert.rejects(place('+4940123'), (e: { code: string; details: { destination: string }; message: string }) => {
    assert.equal(e.code, 'destination_not_allowed');
    assert.equal(e.details.destination, '+4940123');
    assert.match(e.message, /\+4940123/);
    return true;
  });
  await assert.rejects(place('sip:a@evil.test'), { code: 'destination_not_allowed' });
  assert.equal(sent.length, 0);
  await place('sip:agent@pbx.example.com');
  await place('+4930123');
  assert.equal(sent.length, 2);

  policy = { ...policy, suspended: { reason: 'fraud' } };
  await assert.rejects(place('+4930123'), { code: 'tenant_suspended' });
  assert.equal(sent.length, 2);
});
