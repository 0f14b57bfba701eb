import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineRoute } from '@sipms/shared/api/route-definition';
import { createLogger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { createApiHandler, implement } from '../src/http/api-handler.js';
import { createPowertoolsLogger, levelFromEnv } from '../src/observability/powertools-logger.js';

/** A Powertools-backed logger whose lines land in an array, parsed. */
function capture(base: Record<string, unknown> = { service: 'control-plane' }, level?: 'debug' | 'info' | 'warn') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createPowertoolsLogger(base, level, (line) => {
    raw.push(line);
    lines.push(JSON.parse(line));
  });
  return { log, lines, raw };
}

test("a line has the media node's fields: level, time, service, then the fields as given, msg last", () => {
  const { log, lines } = capture();
  log.info({ sessionId: 's1', tenantId: 't1', traceId: 'a'.repeat(32), n: 3, empty: '', none: null }, 'hello');
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.deepEqual(Object.keys(line).slice(0, 3), ['level', 'time', 'service']);
  assert.equal(Object.keys(line).at(-1), 'msg');
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'hello');
  assert.equal(line.service, 'control-plane');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(line.sessionId, 's1');
  assert.equal(line.tenantId, 't1');
  assert.equal(line.traceId, 'a'.repeat(32));
  assert.equal(line.n, 3);
  // As the media node writes them: '' and null are kept (Powertools' default printing drops them).
  assert.equal(line.empty, '');
  assert.equal(line.none, null);
  for (const powertoolsKey of ['message', 'timestamp', 'sampling_rate', 'xray_trace_id']) {
    assert.ok(!(powertoolsKey in line), `no ${powertoolsKey}`);
  }
});

test('the same keys as the media node logger (shared createLogger) for the same call', () => {
  const { log, lines } = capture({ service: 'control-plane', c: 'x' });
  const shared: Record<string, unknown>[] = [];
  const ref = createLogger({ service: 'control-plane', c: 'x' }, 'info', (l) => shared.push(JSON.parse(l)));
  log.warn({ sessionId: 's1', err: new Error('boom') }, 'm');
  ref.warn({ sessionId: 's1', err: new Error('boom') }, 'm');
  assert.deepEqual(Object.keys(lines[0]!), Object.keys(shared[0]!));
  assert.equal(lines[0]!.level, shared[0]!.level);
});

test('errors keep name, message, stack and the cause chain', () => {
  const { log, lines } = capture();
  const root = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  log.error({ err: new Error('delivery failed', { cause: root }) }, 'request failed');
  const err = lines[0]!.err as Record<string, unknown>;
  assert.equal(lines[0]!.level, 'error');
  assert.equal(err.name, 'Error');
  assert.equal(err.message, 'delivery failed');
  assert.match(String(err.stack), /delivery failed\n\s+at /);
  const cause = err.cause as Record<string, unknown>;
  assert.equal(cause.message, 'connect ECONNREFUSED');
  assert.equal(cause.code, 'ECONNREFUSED');
  assert.match(String(cause.stack), /ECONNREFUSED\n\s+at /);
});

test("a child's fields are on every line; the call's fields win; the parent is unchanged", () => {
  const { log, lines } = capture();
  const child = log.child({ requestId: 'r1', routeKey: 'GET /x' }).child({ tenantId: 't1' });
  child.info({ routeKey: 'override' }, 'a');
  log.info({}, 'b');
  assert.equal(lines[0]!.requestId, 'r1');
  assert.equal(lines[0]!.tenantId, 't1');
  assert.equal(lines[0]!.routeKey, 'override');
  assert.equal(lines[0]!.service, 'control-plane');
  assert.ok(!('requestId' in lines[1]!));
  // A field named like one of Powertools' reserved keys is kept, not dropped with a warning.
  child.info({ level: 'custom' }, 'c');
  assert.equal(lines.length, 3);
});

test('levels: below the level nothing is written; LOG_LEVEL in either case; silent writes nothing', () => {
  const { log, lines } = capture({ service: 'x' }, 'warn');
  log.debug({}, 'd');
  log.info({}, 'i');
  log.warn({}, 'w');
  log.error({}, 'e');
  assert.deepEqual(
    lines.map((l) => l.level),
    ['warn', 'error'],
  );
  const debug = capture({ service: 'x' }, 'debug');
  debug.log.debug({ k: 1 }, 'd');
  assert.equal(debug.lines[0]!.level, 'debug');
  const silent: string[] = [];
  createPowertoolsLogger({}, 'silent', (l) => silent.push(l)).error({}, 'e');
  assert.deepEqual(silent, []);
  assert.equal(levelFromEnv({ LOG_LEVEL: 'DEBUG' }), 'debug');
  assert.equal(levelFromEnv({ LOG_LEVEL: 'warn' }), 'warn');
  assert.equal(levelFromEnv({ POWERTOOLS_LOG_LEVEL: 'error', LOG_LEVEL: 'debug' }), 'error');
  assert.equal(levelFromEnv({ LOG_LEVEL: 'verbose' }), 'info');
  assert.equal(levelFromEnv({}), 'info');
});

test("an API handler's lines carry the invocation's awsRequestId; overlapping invocations keep their own", async () => {
  const { log, lines } = capture();
  const route = defineRoute({
    routeKey: 'GET /v1/usage',
    group: 'usage',
    auth: false,
    operationId: 'x',
    summary: 'x',
    tags: [],
    responses: { 200: { description: 'x', schema: z.object({}) } },
    errors: [],
  });
  const handler = createApiHandler(
    'usage',
    [
      implement(route, async () => {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('boom');
      }),
    ],
    () => ({ authenticate: async () => undefined, logger: log }),
  );
  const event = { routeKey: 'GET /v1/usage', headers: {}, requestContext: { requestId: 'gw' } };
  const results = await Promise.all([
    handler(event as unknown as APIGatewayProxyEventV2, { awsRequestId: 'req-1' } as never),
    handler(event as unknown as APIGatewayProxyEventV2, { awsRequestId: 'req-2' } as never),
    handler(event as unknown as APIGatewayProxyEventV2),
  ]);
  assert.deepEqual(
    results.map((r) => r.statusCode),
    [500, 500, 500],
  );
  const failed = lines.filter((l) => l.msg === 'request failed');
  assert.deepEqual(failed.map((l) => l.awsRequestId).sort(), ['req-1', 'req-2', undefined].sort());
  assert.ok(failed.every((l) => (l.err as { stack?: string }).stack?.includes('boom')));
});

test('outside Lambda: a default service name, POWERTOOLS_SERVICE_NAME when set', () => {
  const saved = process.env.POWERTOOLS_SERVICE_NAME;
  try {
    delete process.env.POWERTOOLS_SERVICE_NAME;
    const a = capture({});
    a.log.info({}, 'x');
    assert.equal(a.lines[0]!.service, 'control-plane');
    process.env.POWERTOOLS_SERVICE_NAME = 'from-env';
    const b = capture({ service: 'node-sweeper' });
    b.log.info({}, 'x');
    assert.equal(b.lines[0]!.service, 'from-env');
  } finally {
    if (saved === undefined) delete process.env.POWERTOOLS_SERVICE_NAME;
    else process.env.POWERTOOLS_SERVICE_NAME = saved;
  }
});
