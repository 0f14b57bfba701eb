import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineRoute } from '@sipms/shared/api/route-definition';
import { ROUTE_GROUPS } from '@sipms/shared/api/routes';
import { createLogger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { createApiHandler, implement } from '../src/http/api-handler.js';

test('every route group has a handler module implementing exactly its routes', async () => {
  for (const group of ROUTE_GROUPS) {
    // createApiHandler throws at load when a declared route is missing or an undeclared one is present.
    const mod = (await import(`../src/handlers/${group}.ts`)) as { handler: unknown };
    assert.equal(typeof mod.handler, 'function', group);
  }
});

test('a group that misses a declared route refuses to load', () => {
  assert.throws(
    () => createApiHandler('usage', [], () => ({ authenticate: async () => undefined, logger: createLogger() })),
    /not implemented GET \/v1\/usage/,
  );
});

// A stand-in for the usage group's one route (same key, so the group check passes) with a JSON body.
const echo = defineRoute({
  routeKey: 'GET /v1/usage',
  group: 'usage',
  auth: true,
  operationId: 'x',
  summary: 'x',
  tags: [],
  body: z.object({ n: z.number() }),
  responses: { 200: { description: 'x', schema: z.object({ n: z.number() }) } },
  errors: [],
});

function harness(run: (n: number) => Promise<unknown>) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'debug', (l) => lines.push(JSON.parse(l)));
  const bound = implement(echo, async (req, { body }) => {
    req.log.info({ n: body.n }, 'inside the handler');
    return { status: 200, json: await run(body.n) };
  });
  const handler = createApiHandler('usage', [bound], () => ({
    authenticate: async (key: string) => (key === 'good' ? { tenantId: 't1', keyId: 'k1' } : undefined),
    logger,
  }));
  const call = (body: unknown, key = 'good') =>
    handler({
      routeKey: 'GET /v1/usage',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { requestId: 'req-42', http: { sourceIp: '192.0.2.1' } },
    } as unknown as APIGatewayProxyEventV2);
  return { lines, call };
}

test('request ids are in the response and in every log line; internals never leak', async () => {
  const { lines, call } = harness(async () => {
    throw new Error('ECONNREFUSED 10.1.2.3:8000 secret-internal-detail');
  });
  const res = await callAs(call, { n: 1 });
  assert.equal(res.statusCode, 500);
  assert.equal(res.headers?.['x-request-id'], 'req-42');
  assert.equal(String(res.body).includes('ECONNREFUSED'), false);
  assert.equal(String(res.body).includes('at '), false);
  assert.deepEqual(JSON.parse(String(res.body)), {
    error: { code: 'internal', message: 'internal error', requestId: 'req-42' },
  });
  assert.ok(lines.length >= 3);
  for (const line of lines) assert.equal(line.requestId, 'req-42', JSON.stringify(line));
  assert.ok(lines.some((l) => l.msg === 'inside the handler' && l.tenantId === 't1'));
});

test('responses pass through their schema: extra fields stripped, a broken contract is a 500', async () => {
  const ok = await callAs(harness(async (n) => ({ n, secret: 'whsec_x' })).call, { n: 2 });
  assert.deepEqual(JSON.parse(String(ok.body)), { n: 2 });
  const broken = await callAs(harness(async () => ({ n: 'two' })).call, { n: 2 });
  assert.equal(broken.statusCode, 500);
});

test('401 before validation; 400 names the field', async () => {
  const { call } = harness(async (n) => ({ n }));
  assert.equal((await callAs(call, { n: 'x' }, 'bad')).statusCode, 401);
  const res = await callAs(call, { n: 'x' });
  assert.equal(res.statusCode, 400);
  assert.equal(JSON.parse(String(res.body)).error.field, 'n');
});

async function callAs(call: (body: unknown, key?: string) => Promise<unknown>, body: unknown, key?: string) {
  return (await call(body, key)) as { statusCode: number; headers?: Record<string, string>; body?: string };
}
