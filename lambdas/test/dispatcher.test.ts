import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { verifySignature } from '@sipms/shared/signing';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { startDynamoDbLocal } from '../../infra/src/local/dynamodb-local.js';
import { WebhookServer } from '../../integ-tests/src/webhook-server.js';
import { dispatchCallback } from '../src/dispatch/dispatch-callback.js';

// The dispatcher against real HTTP webhooks and the DynamoDB API (dynalite): retries, fallback URL,
// defined fallback, reply validation, idempotent outcome, SSRF refusal at connect time.
describe('callback dispatcher', () => {
  let dir: string;
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
  let tenants: TenantStore;
  let sessions: SessionStore;
  let primary: WebhookServer;
  let fallbackHook: WebhookServer;
  let tenantId: string;
  let secret: string;
  const logger = createLogger({}, 'silent');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dispatcher-'));
    dynamo = await startDynamoDbLocal(dir, 'dispatch-test');
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'local',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
    tenants = new TenantStore(doc, 'dispatch-test', 'sip.test');
    sessions = new SessionStore(doc, 'dispatch-test');
    primary = new WebhookServer();
    fallbackHook = new WebhookServer();
    await primary.start();
    await fallbackHook.start();
    const { tenant } = await tenants.create({ name: 'Dispatch', callbackUrl: primary.url });
    tenantId = tenant.tenantId;
    secret = tenant.signingSecrets[0]!.secret;
    await tenants.update(tenantId, { fallbackUrl: fallbackHook.url, callbackTimeoutMs: 300, callbackRetries: 2 });
  });

  // The dispatcher forwards whatever payload it is given; these tests send minimal bodies on purpose, so
  // the webhooks' contract check (for bodies the media node publishes) does not apply here.
  after(async () => {
    await primary.close();
    await fallbackHook.close();
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    primary.received.length = 0;
    fallbackHook.received.length = 0;
    primary.responder = () => undefined;
    fallbackHook.responder = () => undefined;
  });

  function envelope(type: CallbackEnvelope['type'], payload: Record<string, unknown> = {}): CallbackEnvelope {
    const sessionId = randomId('s');
    return {
      id: randomId('e'),
      tenantId,
      sessionId,
      seq: 1,
      type,
      time: new Date().toISOString(),
      nodeId: 'n1',
      expectsReply: type === 'newCall' || type === 'getIvrCommand' || type === 'callEvent',
      payload: { sessionId, seq: 1, timestamp: new Date().toISOString(), ...payload },
    };
  }

  const deps = () => ({ tenants, sessions, urlPolicy: 'allow-loopback' as const, logger });

  test('a valid reply is stored once and journaled with status, attempts and latency', async () => {
    primary.responder = () => ({ body: { action: 'ivr', extra: 'ignored' } });
    const env = envelope('newCall');
    await dispatchCallback(env, deps());
    const reply = await sessions.getReply(env.sessionId, env.id);
    assert.deepEqual([reply?.outcome, reply?.reply], ['reply', { action: 'ivr' }]);
    const [cb] = primary.received;
    assert.equal(cb!.name, 'newCall');
    assert.equal(cb!.headers['x-mediaserver-event-id'], env.id);
    assert.ok(verifySignature(cb!.headers['x-mediaserver-signature'], cb!.rawBody, secret).ok);
    const journal = await sessions.readJournal(env.sessionId);
    assert.equal(journal.length, 1);
    assert.equal(journal[0]!.httpStatus, 200);
    assert.equal((journal[0]!.attempts as unknown[]).length, 1);
    assert.equal(typeof journal[0]!.latencyMs, 'number');
  });

  test("trace context: the POST carries a child span of the event's trace, the journal names it", async () => {
    const env = { ...envelope('callAnswered'), traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    await dispatchCallback(env, deps());
    const header = String(primary.received[0]!.headers.traceparent);
    assert.match(header, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.notEqual(header, env.traceparent, 'the delivery is a span of its own');
    const [entry] = await sessions.readJournal(env.sessionId);
    assert.equal(entry!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(entry!.traceparent, header);
    // An event without one (or with a malformed one) starts a trace of its own.
    primary.received.length = 0;
    await dispatchCallback({ ...envelope('callAnswered'), traceparent: undefined }, deps());
    assert.match(String(primary.received[0]!.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  test('500 then 200: retried with the same event id and the next attempt number', async () => {
    let n = 0;
    primary.responder = () => (++n === 1 ? { status: 500 } : { body: { phrases: [] } });
    const env = envelope('getIvrCommand');
    await dispatchCallback(env, deps());
    assert.deepEqual(
      primary.received.map((r) => [r.headers['x-mediaserver-event-id'], r.headers['x-mediaserver-attempt']]),
      [
        [env.id, '1'],
        [env.id, '2'],
      ],
    );
    assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
  });

  test('a slow webhook: timeout → retries → fallback URL → defined fallback, each step journaled', async () => {
    primary.responder = () => ({ delayMs: 600, body: { phrases: [] } });
    fallbackHook.responder = () => ({ delayMs: 600, body: { phrases: [] } });
    const env = envelope('getIvrCommand');
    await dispatchCallback(env, deps());
    assert.equal(primary.received.length, 3, 'first attempt + 2 retries');
    assert.equal(fallbackHook.received.length, 1, 'fallback URL once');
    assert.equal(fallbackHook.received[0]!.headers['x-mediaserver-attempt'], '4');
    const reply = await sessions.getReply(env.sessionId, env.id);
    assert.equal(reply?.outcome, 'fallback');
    assert.match(reply?.reason ?? '', /callbackUrl: timeout after 300 ms; fallbackUrl: timeout after 300 ms/);
    assert.equal((reply!.reply as { hangup: boolean }).hangup, true);
    const [entry] = await sessions.readJournal(env.sessionId);
    assert.equal(entry!.fallback, true);
    assert.equal((entry!.attempts as unknown[]).length, 4);
  });

  test('4xx is not retried; the fallback URL answers instead', async () => {
    primary.responder = () => ({ status: 404 });
    fallbackHook.responder = () => ({ body: { action: 'drop', sipStatus: 486 } });
    const env = envelope('newCall');
    await dispatchCallback(env, deps());
    assert.equal(primary.received.length, 1);
    const reply = await sessions.getReply(env.sessionId, env.id);
    assert.deepEqual(reply?.reply, { action: 'drop', sipStatus: 486 });
  });

  test('invalid JSON and schema-invalid replies are refused, and the journal names why', async () => {
    primary.responder = () => ({ body: '{not json' });
    const a = envelope('newCall');
    await dispatchCallback(a, deps());
    assert.equal(primary.received.length, 1, 'an invalid reply is not retried against the same URL');
    fallbackHook.responder = () => ({ body: { action: 'teleport' } });
    const ra = await sessions.getReply(a.sessionId, a.id);
    assert.equal(ra?.outcome, 'fallback');
    assert.match(ra?.reason ?? '', /attempt 1 answered 200: reply is not valid JSON: .*position 1/);
    const [journaled] = await sessions.readJournal(a.sessionId);
    assert.match(String(journaled!.ranInstead), /rejected with 480/, 'the journal says what ran instead');

    primary.responder = () => ({ body: { phrases: [{ format: 'file' }] } });
    fallbackHook.responder = () => ({ status: 503 });
    const b = envelope('getIvrCommand');
    await dispatchCallback(b, deps());
    const rb = await sessions.getReply(b.sessionId, b.id);
    assert.equal(rb?.outcome, 'fallback');
    assert.match(rb?.reason ?? '', /reply fails the schema: phrases\.0\.fileName/);
    const [entry] = await sessions.readJournal(b.sessionId);
    assert.match(String(entry!.reason), /phrases\.0\.fileName/);
  });

  test('a duplicate delivery of the same event does not call the webhook or change the outcome', async () => {
    let n = 0;
    primary.responder = () => ({ body: { action: n++ === 0 ? 'ivr' : 'redirect', contact: 'sip:x@y' } });
    const env = envelope('newCall');
    await dispatchCallback(env, deps());
    await dispatchCallback(env, deps());
    assert.equal(primary.received.length, 1);
    assert.deepEqual((await sessions.getReply(env.sessionId, env.id))?.reply, { action: 'ivr' });
  });

  test('notifications get a delivery record too (the node orders callbacks on it)', async () => {
    const env = envelope('callNotify', { participantId: 'p1', event: 'ringing' });
    await dispatchCallback(env, deps());
    assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
  });

  test('AWS policy: a callback host that resolves to loopback is refused at connect time', async () => {
    const env = envelope('newCall');
    // https, so the syntax check passes and only the connect-time address check can refuse it.
    const sneaky = primary.url.replace('http://127.0.0.1', 'https://localhost');
    await tenants.update(tenantId, { callbackUrl: sneaky, fallbackUrl: 'https://169.254.169.254/latest' });
    try {
      await dispatchCallback(env, { ...deps(), urlPolicy: 'public-https' });
    } finally {
      await tenants.update(tenantId, { callbackUrl: primary.url, fallbackUrl: fallbackHook.url });
    }
    assert.equal(primary.received.length, 0, 'nothing was sent');
    const reply = await sessions.getReply(env.sessionId, env.id);
    assert.equal(reply?.outcome, 'fallback');
    assert.match(
      reply?.reason ?? '',
      /callbackUrl: refused: localhost resolves to a forbidden address: (127\.0\.0\.1|::1) is not a public address \(loopback\)/,
    );
    assert.match(reply?.reason ?? '', /fallbackUrl refused: .*169\.254\.169\.254/);
  });
});
