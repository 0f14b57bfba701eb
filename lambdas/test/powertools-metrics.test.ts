import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defineRoute } from '@sipms/shared/api/route-definition';
import type { SessionStore } from '@sipms/shared/data/session-store';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { formatTraceparent, newSpan } from '@sipms/shared/observability/trace-context';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { WebhookServer } from '../../integ-tests/src/webhook-server.js';
import { dispatchCallback } from '../src/dispatch/dispatch-callback.js';
import { createApiHandler, implement } from '../src/http/api-handler.js';
import { DIMENSION, METRIC, METRICS_NAMESPACE, statusClass } from '../src/observability/metric-names.js';
import type { ApiRequestMetric, CallbackMetric, ControlPlaneMetrics } from '../src/observability/metrics.js';
import { createPowertoolsMetrics } from '../src/observability/powertools-metrics.js';

/** What the code recorded, in order, and how often it flushed. */
class Recorder implements ControlPlaneMetrics {
  callbacks: CallbackMetric[] = [];
  requests: ApiRequestMetric[] = [];
  flushes = 0;
  callback(m: CallbackMetric) {
    this.callbacks.push(m);
  }
  apiRequest(m: ApiRequestMetric) {
    this.requests.push(m);
  }
  flush() {
    this.flushes++;
  }
}

/** The SessionStore calls dispatchCallback makes, in memory; `claim: false` plays a concurrent holder. */
function fakeSessions(claim: false | { takenOver: boolean } = { takenOver: false }) {
  const stored: unknown[] = [];
  const sessions = {
    claimDelivery: async () => claim,
    getReply: async () => undefined,
    releaseDelivery: async () => true,
    storeOutcomes: async (_s: string, outcomes: { record: unknown }[]) => {
      for (const o of outcomes) stored.push(o.record);
    },
  } as unknown as SessionStore;
  return { sessions, stored };
}

const logger = createLogger({}, 'silent');

describe('the dispatcher records each callback on the metrics recorder', () => {
  const hook = new WebhookServer(() => ({ body: {} }));
  before(() => hook.start());
  after(() => hook.close());

  const tenant = (callbackUrl?: string): TenantRecord =>
    ({
      tenantId: 't1',
      name: 'T',
      callbackUrl,
      callbackTimeoutMs: 2000,
      callbackRetries: 0,
      signingSecrets: [{ secret: 'whsec_test', createdAt: new Date().toISOString() }],
    }) as unknown as TenantRecord;

  const envelope = (type: CallbackEnvelope['type'] = 'callEvent'): CallbackEnvelope => ({
    id: randomId('e'),
    tenantId: 't1',
    sessionId: randomId('s'),
    seq: 1,
    type,
    time: new Date().toISOString(),
    nodeId: 'n1',
    expectsReply: type === 'callEvent',
    payload: {},
    traceparent: formatTraceparent(newSpan()),
  });

  test('a reply: outcome, callback type, latency and webhook attempts; ids as metadata only', async () => {
    const metrics = new Recorder();
    const { sessions } = fakeSessions();
    const env = envelope('callEvent');
    const result = await dispatchCallback(env, {
      tenants: { get: async () => tenant(hook.url) },
      sessions,
      urlPolicy: 'allow-loopback',
      logger,
      metrics,
    });
    assert.deepEqual(result, { status: 'delivered', outcome: 'reply' });
    assert.equal(metrics.callbacks.length, 1);
    const m = metrics.callbacks[0]!;
    assert.equal(m.outcome, 'reply');
    assert.equal(m.callbackType, 'callEvent');
    assert.equal(m.webhookAttempts, 1);
    assert.ok(typeof m.latencyMs === 'number' && m.latencyMs >= 0 && m.latencyMs < 10_000);
    assert.deepEqual([m.tenantId, m.sessionId, m.eventId], ['t1', env.sessionId, env.id]);
  });

  test('no callbackUrl: the defined fallback, no webhook attempt', async () => {
    const metrics = new Recorder();
    await dispatchCallback(envelope('newCall'), {
      tenants: { get: async () => tenant(undefined) },
      sessions: fakeSessions().sessions,
      urlPolicy: 'allow-loopback',
      logger,
      metrics,
    });
    assert.deepEqual(
      metrics.callbacks.map((c) => [c.outcome, c.callbackType, c.webhookAttempts]),
      [['fallback', 'newCall', 0]],
    );
  });

  test('a duplicate: counted, without latency or attempts', async () => {
    const metrics = new Recorder();
    const result = await dispatchCallback(envelope(), {
      tenants: { get: async () => tenant(hook.url) },
      sessions: fakeSessions(false).sessions,
      urlPolicy: 'allow-loopback',
      logger,
      metrics,
    });
    assert.equal(result.status, 'duplicate');
    assert.equal(metrics.callbacks.length, 1);
    assert.equal(metrics.callbacks[0]!.outcome, 'duplicate');
    assert.equal(metrics.callbacks[0]!.latencyMs, undefined);
    assert.equal(metrics.callbacks[0]!.webhookAttempts, undefined);
  });

  test('without a recorder nothing breaks (metrics are optional)', async () => {
    const result = await dispatchCallback(envelope(), {
      tenants: { get: async () => tenant(undefined) },
      sessions: fakeSessions().sessions,
      urlPolicy: 'allow-loopback',
      logger,
    });
    assert.equal(result.status, 'delivered');
  });
});

test('the API handler records each request by route group and status, and flushes at its end', async () => {
  const metrics = new Recorder();
  // A stand-in for the usage group's one route (same key, so the group check passes).
  const route = defineRoute({
    routeKey: 'GET /v1/usage',
    group: 'usage',
    auth: true,
    operationId: 'x',
    summary: 'x',
    tags: [],
    responses: { 200: { description: 'x', schema: z.object({}) } },
    errors: [],
  });
  const handler = createApiHandler('usage', [implement(route, async () => ({ status: 200, json: {} }))], () => ({
    authenticate: async (key: string) => (key === 'good' ? { tenantId: 't1', keyId: 'k1' } : undefined),
    logger,
    metrics,
  }));
  const call = (key: string, requestId: string) =>
    handler({
      routeKey: 'GET /v1/usage',
      headers: { authorization: `Bearer ${key}` },
      requestContext: { requestId },
    } as unknown as APIGatewayProxyEventV2);
  assert.equal((await call('good', 'r1')).statusCode, 200);
  assert.equal((await call('bad', 'r2')).statusCode, 401);
  assert.deepEqual(metrics.requests, [
    { routeGroup: 'usage', status: 200, requestId: 'r1' },
    { routeGroup: 'usage', status: 401, requestId: 'r2' },
  ]);
  assert.equal(metrics.flushes, 2);
  assert.deepEqual([200, 201, 302, 404, 429, 500, 503, 0].map(statusClass), [
    '2xx',
    '2xx',
    '3xx',
    '4xx',
    '4xx',
    '5xx',
    '5xx',
    '5xx',
  ]);
});

/** Runs `fn` with stdout and stderr captured (Powertools writes EMF through a Console on process.stdout). */
function captureOutput(fn: () => void): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  const into = (lines: string[]) =>
    ((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = into(out);
  process.stderr.write = into(err);
  try {
    fn();
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
  }
  return { out, err };
}

const captureStdout = (fn: () => void) => captureOutput(fn).out;

describe('Powertools EMF output', () => {
  const saved = { ...process.env };
  before(() => {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    delete process.env.POWERTOOLS_DEV;
    delete process.env.POWERTOOLS_SERVICE_NAME;
    delete process.env.POWERTOOLS_METRICS_NAMESPACE;
  });
  after(() => {
    process.env = saved;
  });

  const ids = { tenantId: 't1', sessionId: 's1', eventId: 'e1' };

  test('one record per event: namespace, dimension sets, values, units; ids as metadata, never dimensions', () => {
    const metrics = createPowertoolsMetrics({ service: 'control-plane' });
    metrics.callback({ outcome: 'reply', callbackType: 'newCall', latencyMs: 42, webhookAttempts: 2, ...ids });
    metrics.apiRequest({ routeGroup: 'sessions', status: 503, requestId: 'r1' });
    assert.deepEqual(
      captureStdout(() => {}),
      [],
      'recording writes nothing',
    );
    const { out: lines, err } = captureOutput(() => metrics.flush());
    assert.deepEqual(err, [], 'no Powertools notice on stderr (the dimension sets share a key on purpose)');
    assert.equal(lines.length, 2);
    const [cb, api] = lines.map((l) => JSON.parse(l));

    const cbDef = cb._aws.CloudWatchMetrics[0];
    assert.equal(cbDef.Namespace, METRICS_NAMESPACE);
    assert.deepEqual(cbDef.Dimensions, [
      ['service', DIMENSION.outcome],
      ['service', DIMENSION.outcome, DIMENSION.callbackType],
    ]);
    assert.deepEqual(cbDef.Metrics, [
      { Name: METRIC.callbacks, Unit: 'Count' },
      { Name: METRIC.callbackLatency, Unit: 'Milliseconds' },
      { Name: METRIC.webhookAttempts, Unit: 'Count' },
    ]);
    assert.equal(cb.service, 'control-plane');
    assert.equal(cb.outcome, 'reply');
    assert.equal(cb.callbackType, 'newCall');
    assert.equal(cb[METRIC.callbacks], 1);
    assert.equal(cb[METRIC.callbackLatency], 42);
    assert.equal(cb[METRIC.webhookAttempts], 2);
    assert.deepEqual([cb.tenantId, cb.sessionId, cb.eventId], ['t1', 's1', 'e1']);
    for (const set of cbDef.Dimensions as string[][]) {
      for (const high of ['tenantId', 'sessionId', 'eventId']) assert.ok(!set.includes(high));
    }

    const apiDef = api._aws.CloudWatchMetrics[0];
    assert.equal(apiDef.Namespace, METRICS_NAMESPACE);
    assert.deepEqual(apiDef.Dimensions, [
      ['service', DIMENSION.statusClass],
      ['service', DIMENSION.routeGroup, DIMENSION.statusClass],
    ]);
    assert.deepEqual(apiDef.Metrics, [{ Name: METRIC.apiRequests, Unit: 'Count' }]);
    assert.equal(api.routeGroup, 'sessions');
    assert.equal(api.statusClass, '5xx');
    assert.equal(api[METRIC.apiRequests], 1);
    assert.equal(api.requestId, 'r1');
    // A record's dimensions are not carried into the next one.
    assert.ok(!('outcome' in api));

    assert.deepEqual(
      captureStdout(() => metrics.flush()),
      [],
      'a flush with nothing recorded writes nothing (no Powertools warning either)',
    );
  });

  test('a duplicate carries only its count', () => {
    const metrics = createPowertoolsMetrics();
    metrics.callback({ outcome: 'duplicate', callbackType: 'callEvent', ...ids });
    const [rec] = captureStdout(() => metrics.flush()).map((l) => JSON.parse(l));
    assert.deepEqual(rec._aws.CloudWatchMetrics[0].Metrics, [{ Name: METRIC.callbacks, Unit: 'Count' }]);
    assert.equal(rec.outcome, 'duplicate');
  });

  test('POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE win when set', () => {
    process.env.POWERTOOLS_SERVICE_NAME = 'svc-from-env';
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'NsFromEnv';
    try {
      const metrics = createPowertoolsMetrics({ service: 'control-plane' });
      metrics.apiRequest({ routeGroup: 'calls', status: 200 });
      const [rec] = captureStdout(() => metrics.flush()).map((l) => JSON.parse(l));
      assert.equal(rec._aws.CloudWatchMetrics[0].Namespace, 'NsFromEnv');
      assert.equal(rec.service, 'svc-from-env');
    } finally {
      delete process.env.POWERTOOLS_SERVICE_NAME;
      delete process.env.POWERTOOLS_METRICS_NAMESPACE;
    }
  });

  test('POWERTOOLS_METRICS_DISABLED=true (the local deployment): same calls, nothing on stdout or stderr', () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    try {
      const metrics = createPowertoolsMetrics();
      metrics.callback({ outcome: 'reply', callbackType: 'newCall', latencyMs: 1, webhookAttempts: 1, ...ids });
      metrics.apiRequest({ routeGroup: 'calls', status: 200 });
      const { out, err } = captureOutput(() => metrics.flush());
      assert.deepEqual(out, []);
      assert.deepEqual(err, []);
    } finally {
      delete process.env.POWERTOOLS_METRICS_DISABLED;
    }
  });
});
