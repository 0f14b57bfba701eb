import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { LocalSecretBox } from '@sipms/shared/crypto/secret-box';
import { SessionStore } from '@sipms/shared/data/session-store';
import { keys } from '@sipms/shared/data/table-design';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { deliveryWorstCaseMs } from '@sipms/shared/events/delivery-budget';
import type { BusEvent, CallbackEnvelope } from '@sipms/shared/events/envelope';
import { REDACTED, sealSensitiveFields } from '@sipms/shared/events/sensitive-fields';
import { verifySignature } from '@sipms/shared/signing';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { startDynamoDbLocal } from '../../infra/src/local/dynamodb-local.js';
import { WebhookServer } from '../../integ-tests/src/webhook-server.js';
import { type DispatchDeps, dispatchCallback } from '../src/dispatch/dispatch-callback.js';

// The dispatcher's claim on an event (one POST however often the bus delivers it, a dead holder's event
// taken over once its lease runs out) and sensitive fields (sealed on the bus, opened only for the POST,
// "***" in the journal and the logs), against dynalite and a real HTTP webhook.
const TABLE = 'dispatch-claim-test';

describe('dispatcher: claimed delivery and sealed fields', () => {
  let dir: string;
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
  let doc: DynamoDBDocumentClient;
  let tenants: TenantStore;
  let sessions: SessionStore;
  let hook: WebhookServer;
  let tenantId: string;
  let secret: string;
  const secretsKey = randomBytes(32).toString('base64');
  const box = new LocalSecretBox(Buffer.from(secretsKey, 'base64'));
  const logLines: string[] = [];
  const logger = createLogger({}, 'debug', (line) => logLines.push(line));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dispatch-claim-'));
    dynamo = await startDynamoDbLocal(dir, TABLE);
    doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'local',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
    tenants = new TenantStore(doc, TABLE, 'sip.test');
    sessions = new SessionStore(doc, TABLE);
    hook = new WebhookServer();
    await hook.start();
    const { tenant } = await tenants.create({ name: 'Claims', callbackUrl: hook.url });
    tenantId = tenant.tenantId;
    secret = tenant.signingSecrets[0]!.secret;
    await tenants.update(tenantId, { callbackTimeoutMs: 1000, callbackRetries: 1 });
  });

  after(async () => {
    await hook.close();
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    hook.received.length = 0;
    hook.responder = () => undefined;
    logLines.length = 0;
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

  const deps = (extra: Partial<DispatchDeps> = {}): DispatchDeps => ({
    tenants,
    sessions,
    urlPolicy: 'allow-loopback',
    secrets: box,
    logger,
    ...extra,
  });

  const claimOf = async (env: CallbackEnvelope) =>
    (await doc.send(new GetCommand({ TableName: TABLE, Key: keys.deliveryClaim(env.sessionId, env.id) }))).Item;

  describe('the claim', () => {
    test('two concurrent deliveries of one event: the webhook sees exactly one POST', async () => {
      hook.responder = () => ({ delayMs: 150, body: { action: 'ivr' } });
      const env = envelope('newCall');
      const results = await Promise.all([dispatchCallback(env, deps()), dispatchCallback(env, deps())]);
      assert.equal(hook.received.length, 1, 'one POST');
      assert.deepEqual(results.map((r) => r.status).sort(), ['delivered', 'duplicate']);
      assert.deepEqual(
        results.find((r) => r.status === 'duplicate'),
        { status: 'duplicate', reason: 'claim-held' },
      );
      assert.deepEqual((await sessions.getReply(env.sessionId, env.id))?.reply, { action: 'ivr' });
      assert.equal((await sessions.readJournal(env.sessionId)).length, 1, 'journaled once');
      assert.ok(logLines.some((l) => /another delivery holds a live claim/.test(l) && /"level":"info"/.test(l)));
    });

    test('five deliveries at once, one POST', async () => {
      hook.responder = () => ({ delayMs: 50, body: { phrases: [] } });
      const env = envelope('getIvrCommand');
      await Promise.all(Array.from({ length: 5 }, () => dispatchCallback(env, deps())));
      assert.equal(hook.received.length, 1);
    });

    test('a claim whose holder died (no outcome, lease run out): a redelivery POSTs once and stores the outcome', async () => {
      hook.responder = () => ({ body: { action: 'ivr' } });
      const env = envelope('newCall');
      const claimedLongAgo = Date.now() - 10 * 60_000;
      assert.ok(
        await sessions.claimDelivery(env.sessionId, env.id, { holder: 'dead', leaseMs: 60_000 }, claimedLongAgo),
      );
      const result = await dispatchCallback(env, deps());
      assert.deepEqual(result, { status: 'delivered', outcome: 'reply' });
      assert.equal(hook.received.length, 1);
      assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
      const claim = await claimOf(env);
      assert.notEqual(claim?.holder, 'dead', 'the redelivery holds the claim now');
      // And the delivery after that finds a live claim or the stored outcome: no second POST.
      await dispatchCallback(env, deps());
      assert.equal(hook.received.length, 1);
    });

    test('a live claim held by another delivery: a redelivery does nothing', async () => {
      const env = envelope('newCall');
      assert.ok(await sessions.claimDelivery(env.sessionId, env.id, { holder: 'alive', leaseMs: 60_000 }));
      const result = await dispatchCallback(env, deps());
      assert.deepEqual(result, { status: 'duplicate', reason: 'claim-held' });
      assert.equal(hook.received.length, 0, 'no POST');
      assert.equal(await sessions.getReply(env.sessionId, env.id), undefined, 'no outcome written');
      assert.deepEqual(await sessions.readJournal(env.sessionId), [], 'nothing journaled');
      assert.equal((await claimOf(env))?.holder, 'alive', 'the claim is untouched');
    });

    test('a lease that ran out after the outcome was stored: the redelivery finds the outcome, no POST', async () => {
      const env = envelope('callNotify', { participantId: 'p1', event: 'ringing' });
      await sessions.claimDelivery(env.sessionId, env.id, { holder: 'done', leaseMs: 1 }, Date.now() - 60_000);
      await sessions.putReply(env.sessionId, {
        eventId: env.id,
        outcome: 'reply',
        reply: {},
        at: new Date().toISOString(),
      });
      assert.deepEqual(await dispatchCallback(env, deps()), { status: 'duplicate', reason: 'outcome-stored' });
      assert.equal(hook.received.length, 0);
    });

    test('the lease covers the whole delivery at the tenant settings: attempts × timeout + backoff + fallback', async () => {
      const env = envelope('callNotify', { participantId: 'p1', event: 'ringing' });
      const before = Date.now();
      await dispatchCallback(env, deps());
      const claim = await claimOf(env);
      const lease = (claim?.claimExpiresAt as number) - Date.parse(claim?.claimedAt as string);
      assert.equal(lease, deliveryWorstCaseMs(1000, 1));
      assert.ok(lease >= 1000 * 2 + 1000 + 1000, `lease ${lease} ms`);
      assert.ok((claim?.claimExpiresAt as number) >= before + lease);
      assert.ok(typeof claim?.expiresAt === 'number', 'TTL set');
    });

    test('a delivery that fails before storing an outcome gives its claim back; the redelivery POSTs', async () => {
      hook.responder = () => ({ body: { action: 'ivr' } });
      const env = envelope('newCall');
      const failing = Object.create(sessions) as SessionStore;
      failing.storeOutcome = async () => {
        throw new Error('table unavailable');
      };
      await assert.rejects(dispatchCallback(env, deps({ sessions: failing })), /table unavailable/);
      assert.equal(await claimOf(env), undefined, 'claim given back');
      assert.equal(hook.received.length, 1);
      // The bus retries the thrown error at once: the redelivery takes the claim and delivers.
      assert.deepEqual(await dispatchCallback(env, deps()), { status: 'delivered', outcome: 'reply' });
      assert.equal(hook.received.length, 2, 'delivered again (same event id: the tenant can tell)');
      assert.equal(hook.received[1]!.headers['x-mediaserver-event-id'], env.id);
      assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
    });

    test('only the holder can give a claim back', async () => {
      const env = envelope('newCall');
      await sessions.claimDelivery(env.sessionId, env.id, { holder: 'a', leaseMs: 60_000 });
      assert.equal(await sessions.releaseDelivery(env.sessionId, env.id, 'b'), false);
      assert.equal((await claimOf(env))?.holder, 'a');
      assert.equal(await sessions.releaseDelivery(env.sessionId, env.id, 'a'), true);
      assert.equal(await claimOf(env), undefined);
    });
  });

  describe('sealed fields (dtmf.sensitive)', () => {
    async function sensitiveEnvelope(digits: string): Promise<CallbackEnvelope> {
      const env = envelope('getIvrCommand', {
        participantId: 'p1',
        replyId: 'r1',
        dtmfParams: { digits, terminationKey: '#', reason: 'terminationKey' },
      });
      const { payload, sealed } = await sealSensitiveFields(env.payload, ['dtmfParams.digits'], box, {
        tenantId: env.tenantId,
        eventId: env.id,
      });
      return { ...env, payload, sealed };
    }

    test('the tenant receives the digits (signed); the journal and the logs show only "***"', async () => {
      hook.responder = () => ({ body: { hangup: true } });
      const digits = '73195';
      const env = await sensitiveEnvelope(digits);
      assert.ok(!JSON.stringify(env).includes(digits), 'the event carries no digits');
      await dispatchCallback(env, deps());
      const [cb] = hook.received;
      assert.deepEqual(cb!.body.dtmfParams, { digits, terminationKey: '#', reason: 'terminationKey' });
      assert.ok(verifySignature(cb!.headers['x-mediaserver-signature'], cb!.rawBody, secret).ok);
      assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
      const journal = await sessions.readJournal(env.sessionId);
      assert.equal(journal.length, 1);
      const request = journal[0]!.request as { dtmfParams: { digits: string; terminationKey: string } };
      assert.equal(request.dtmfParams.digits, REDACTED);
      assert.equal(request.dtmfParams.terminationKey, '#');
      assert.deepEqual(journal[0]!.redacted, ['dtmfParams.digits']);
      assert.ok(!JSON.stringify(journal).includes(digits), 'no digits in the journal');
      assert.ok(!logLines.some((l) => l.includes(digits)), 'no digits in any log line');
    });

    test('even when the delivery fails and is journaled with its reason, the digits stay out', async () => {
      hook.responder = () => ({ status: 500, body: { echo: 'x' } });
      const digits = '86420';
      const env = await sensitiveEnvelope(digits);
      await dispatchCallback(env, deps());
      assert.equal(hook.received.length, 2, 'first attempt + 1 retry');
      assert.equal((hook.received[0]!.body.dtmfParams as { digits: string }).digits, digits);
      const journal = JSON.stringify(await sessions.readJournal(env.sessionId));
      assert.ok(journal.includes(REDACTED) && !journal.includes(digits));
      assert.ok(
        logLines.some((l) => /defined fallback used/.test(l)),
        'the failure was logged',
      );
      assert.ok(!logLines.some((l) => l.includes(digits)), 'without the digits');
    });

    test('a sealed field that cannot be opened (no key, another key, moved to another event): nothing is sent, the defined fallback is stored', async () => {
      const env = await sensitiveEnvelope('1111');
      await dispatchCallback(env, deps({ secrets: undefined }));
      const other = new LocalSecretBox(randomBytes(32));
      const env2 = await sensitiveEnvelope('2222');
      await dispatchCallback(env2, deps({ secrets: other }));
      const env3 = { ...envelope('getIvrCommand', env.payload), sealed: env.sealed } as CallbackEnvelope;
      await dispatchCallback(env3, deps());
      assert.equal(hook.received.length, 0, 'neither "***" nor ciphertext reaches the tenant');
      for (const e of [env, env2, env3]) {
        const reply = await sessions.getReply(e.sessionId, e.id);
        assert.equal(reply?.outcome, 'fallback');
        assert.match(reply?.reason ?? '', /sealed fields cannot be opened/);
        assert.deepEqual(reply?.reply, FALLBACK_REPLIES.getIvrCommand);
      }
    });
  });

  describe('the Lambda handler', () => {
    let handler: (e: BusEvent) => Promise<void>;
    before(async () => {
      Object.assign(process.env, {
        AWS_REGION: 'local',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        TABLE_NAME: TABLE,
        SIP_DOMAIN: 'sip.test',
        PROMPT_STORE: `dir:${dir}`,
        // A folder store's object URLs (the local deployment sets both); unused by the dispatcher.
        LOCAL_OBJECTS_URL: 'http://127.0.0.1:1',
        LOCAL_OBJECTS_KEY: randomBytes(32).toString('base64'),
        CALLBACK_URL_POLICY: 'allow-loopback',
        SECRETS_KEY: secretsKey,
        LOG_LEVEL: 'silent',
        // The handler's CloudWatch metrics (EMF on stdout) would land in the test output; powertools-metrics.test.ts checks them.
        POWERTOOLS_METRICS_DISABLED: 'true',
      });
      ({ handler } = await import('../src/handlers/dispatcher.js'));
    });

    const busEvent = (env: CallbackEnvelope): BusEvent => ({
      version: '0',
      id: randomId('b'),
      'detail-type': 'callback',
      source: 'test',
      account: '0',
      time: env.time,
      region: 'local',
      resources: [],
      detail: env,
    });

    test('opens sealed fields with the deployment key: the tenant gets the digits', async () => {
      hook.responder = () => ({ body: {} });
      const env = envelope('getIvrCommand', {
        participantId: 'p1',
        replyId: 'r1',
        dtmfParams: { digits: '5555', terminationKey: '', reason: 'maxDigits' },
      });
      const sealedEnv = {
        ...env,
        ...(await sealSensitiveFields(env.payload, ['dtmfParams.digits'], box, { tenantId, eventId: env.id })),
      };
      await handler(busEvent(sealedEnv));
      assert.equal((hook.received[0]!.body.dtmfParams as { digits: string }).digits, '5555');
    });

    test('a live claim: a fresh duplicate returns quietly; a retry long after the event fails, so Lambda retries later', async () => {
      const fresh = envelope('newCall');
      await sessions.claimDelivery(fresh.sessionId, fresh.id, { holder: 'alive', leaseMs: 120_000 });
      await handler(busEvent(fresh));
      const old = { ...envelope('newCall'), time: new Date(Date.now() - 70_000).toISOString() };
      await sessions.claimDelivery(old.sessionId, old.id, { holder: 'maybe-dead', leaseMs: 120_000 });
      await assert.rejects(handler(busEvent(old)), /claimed by a delivery that may have died/);
      assert.equal(hook.received.length, 0);
    });
  });
});
