import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { SessionStore } from '@sipms/shared/data/session-store';
import { keys } from '@sipms/shared/data/table-design';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { deliveryWorstCaseMs } from '@sipms/shared/events/delivery-budget';
import { CallbackEnvelope, type CarriedCallback } from '@sipms/shared/events/envelope';
import { verifySignature } from '@sipms/shared/signing';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { WebhookServer } from '../../integ-tests/src/webhook-server.js';
import { startTable } from '../../shared/test/helpers/dynamo-table.js';
import { type DispatchDeps, dispatchCallback } from '../src/dispatch/dispatch-callback.js';
import { type WebhookAttempt, webhookTimeOf } from '../src/dispatch/webhook-client.js';

// A callback that carries earlier notifications of its session (envelope.ts, `carried`): one delivery, one
// claim, every callback its own signed POST in seq order, its own outcome and journal entry, stored in one
// request. Against dynalite and a real HTTP webhook.
const TABLE = 'dispatch-carried-test';

describe('dispatcher: notifications carried by a later callback', () => {
  let table: Awaited<ReturnType<typeof startTable>>;
  let doc: DynamoDBDocumentClient;
  let tenants: TenantStore;
  let sessions: SessionStore;
  let hook: WebhookServer;
  let tenantId: string;
  let secret: string;
  const logger = createLogger({}, 'silent');

  before(async () => {
    table = await startTable(TABLE);
    doc = table.doc;
    tenants = new TenantStore(doc, TABLE, 'sip.test');
    sessions = new SessionStore(doc, TABLE);
    hook = new WebhookServer();
    await hook.start();
    const { tenant } = await tenants.create({ name: 'Carried', callbackUrl: hook.url });
    tenantId = tenant.tenantId;
    secret = tenant.signingSecrets[0]!.secret;
    await tenants.update(tenantId, { callbackTimeoutMs: 1000, callbackRetries: 1 });
  });

  after(async () => {
    await hook.close();
    await table.close();
  });

  beforeEach(() => {
    hook.received.length = 0;
    hook.responder = () => undefined;
  });

  const deps = (): DispatchDeps => ({ tenants, sessions, urlPolicy: 'allow-loopback', logger });

  /** getIvrCommand (seq 3) carrying callAnswered (seq 1) and a callNotify (seq 2), as a node publishes it. */
  function carrier(): CallbackEnvelope {
    const sessionId = randomId('s');
    const time = new Date().toISOString();
    const note = (seq: number, type: CarriedCallback['type'], fields: Record<string, unknown>): CarriedCallback => ({
      id: randomId('e'),
      seq,
      type,
      time,
      payload: { sessionId, seq, timestamp: time, participantId: 'p1', ...fields },
    });
    const id = randomId('e');
    // Parsed as the dispatcher's handler parses what the bus delivers.
    return CallbackEnvelope.parse({
      id,
      tenantId,
      sessionId,
      seq: 3,
      type: 'getIvrCommand',
      time,
      nodeId: 'n1',
      expectsReply: true,
      payload: { sessionId, seq: 3, timestamp: time, participantId: 'p1', replyId: id },
      carried: [note(1, 'callAnswered', { replyId: 'r-answer' }), note(2, 'callNotify', { event: 'ringing' })],
    });
  }

  test('each callback is its own signed POST, in seq order; each outcome and journal entry is stored', async () => {
    hook.responder = (cb) => (cb.name === 'getIvrCommand' ? { body: { hangup: true } } : { body: {} });
    const env = carrier();
    assert.deepEqual(await dispatchCallback(env, deps()), { status: 'delivered', outcome: 'reply' });
    assert.deepEqual(
      hook.received.map((cb) => [cb.name, cb.body.seq, cb.headers['x-mediaserver-event-id']]),
      [
        ['callAnswered', 1, env.carried![0]!.id],
        ['callNotify', 2, env.carried![1]!.id],
        ['getIvrCommand', 3, env.id],
      ],
    );
    for (const cb of hook.received)
      assert.ok(verifySignature(cb.headers['x-mediaserver-signature'], cb.rawBody, secret).ok);
    const stored = (await sessions.getReply(env.sessionId, env.id))?.reply as { hangup?: boolean } | undefined;
    assert.equal(stored?.hangup, true, 'the reply, validated');
    // One item for the delivery: the outcome the node waits on, carrying every callback's journal entry.
    for (const c of env.carried!) assert.equal(await sessions.getReply(env.sessionId, c.id), undefined);
    const item = await doc.send(new GetCommand({ TableName: TABLE, Key: keys.reply(env.sessionId, env.id) }));
    assert.equal((item.Item?.journal as unknown[] | undefined)?.length, 3, 'the three entries in the one item');
    const journal = await sessions.readJournal(env.sessionId);
    assert.deepEqual(
      journal.map((e) => e.httpStatus),
      [200, 200, 200],
      'each callback answered',
    );
    assert.deepEqual(
      journal.map((e) => [e.callback, e.seq, e.eventId]),
      [
        ['callAnswered', 1, env.carried![0]!.id],
        ['callNotify', 2, env.carried![1]!.id],
        ['getIvrCommand', 3, env.id],
      ],
    );
    const claim = (await doc.send(new GetCommand({ TableName: TABLE, Key: keys.deliveryClaim(env.sessionId, env.id) })))
      .Item;
    const lease = (claim?.claimExpiresAt as number) - Date.parse(claim?.claimedAt as string);
    assert.equal(lease, deliveryWorstCaseMs(1000, 1, 3), 'one claim, its lease covers all three callbacks');
  });

  test("the outcome the node waits on carries the delivery's whole webhook time, every POST counted", async () => {
    // 150 ms on the carried callAnswered, 100 on getIvrCommand: the node subtracts ≥ 250 from its round trip.
    hook.responder = (cb) =>
      cb.name === 'getIvrCommand'
        ? { body: { hangup: true }, delayMs: 100 }
        : cb.name === 'callAnswered'
          ? { body: {}, delayMs: 150 }
          : { body: {} };
    const env = carrier();
    const started = Date.now();
    await dispatchCallback(env, deps());
    const took = Date.now() - started;
    const main = await sessions.getReply(env.sessionId, env.id);
    const journal = await sessions.readJournal(env.sessionId);
    const attempts = journal.flatMap((e) => (e.attempts ?? []) as WebhookAttempt[]);
    assert.equal(attempts.length, 3);
    // This webhook shares the test's event loop: its own lateness is left out as the dispatcher's (lagMs).
    const lag = attempts.reduce((sum, a) => sum + (a.lagMs ?? 0), 0);
    assert.equal(
      main?.webhookMs,
      attempts.reduce((sum, a) => sum + webhookTimeOf(a), 0),
      'every POST counted',
    );
    assert.ok(main.webhookMs >= 250 - lag, `webhookMs ${main.webhookMs}, lag ${lag}`);
    assert.ok(main.webhookMs <= took, `webhookMs ${main.webhookMs} within the delivery's ${took} ms`);
    const [answered] = journal;
    const answeredMs = (answered?.attempts as { ms: number }[] | undefined)?.[0]?.ms;
    assert.ok(
      answeredMs !== undefined && answeredMs >= 150 && answeredMs < main.webhookMs,
      `callAnswered ${answeredMs} ms`,
    );
  });

  test('a carried notification the webhook refuses gets its fallback; the callbacks after it still go out', async () => {
    hook.responder = (cb) =>
      cb.name === 'callAnswered'
        ? { status: 500 }
        : cb.name === 'getIvrCommand'
          ? { body: { hangup: true } }
          : undefined;
    const env = carrier();
    assert.deepEqual(await dispatchCallback(env, deps()), { status: 'delivered', outcome: 'reply' });
    // callAnswered twice (the tenant's one retry), then the others once each.
    assert.deepEqual(
      hook.received.map((cb) => cb.name),
      ['callAnswered', 'callAnswered', 'callNotify', 'getIvrCommand'],
    );
    const journal = await sessions.readJournal(env.sessionId);
    assert.equal(journal[0]?.callback, 'callAnswered');
    assert.equal(journal[0]?.fallback, true);
    assert.match(String(journal[0]?.reason), /500/);
    assert.equal(journal[2]?.httpStatus, 200);
  });

  test('a redelivery of the carrying event POSTs nothing again, carried notifications included', async () => {
    hook.responder = () => ({ delayMs: 100, body: {} });
    const env = carrier();
    const results = await Promise.all([dispatchCallback(env, deps()), dispatchCallback(env, deps())]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['delivered', 'duplicate']);
    assert.equal(hook.received.length, 3, 'three callbacks, each POSTed once');
  });
});
