import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { SessionStore } from '@sipms/shared/data/session-store';
import { UsageStore, utcDay } from '@sipms/shared/data/usage-store';
import { type BusEvent, CallbackEnvelope } from '@sipms/shared/events/envelope';
import { RULES } from '@sipms/shared/events/rules';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { LocalEventBus } from '../../infra/src/local/local-event-bus.js';
import { startTable } from '../../shared/test/helpers/dynamo-table.js';
import { handler } from '../src/handlers/node-sweeper.js';

// The scheduled sweep as deployed: its clients from the environment, against the DynamoDB API (dynalite)
// and a PutEvents endpoint routing by the shared rules, as the dispatcher would receive the events.
const TABLE = 'node-sweeper-handler';
let table: Awaited<ReturnType<typeof startTable>>;
let bus: LocalEventBus;
const delivered: BusEvent[] = [];

before(async () => {
  table = await startTable(TABLE);
  bus = new LocalEventBus(RULES, { dispatcher: async (e) => void delivered.push(e) }, createLogger({}, 'silent'));
  const busEndpoint = await bus.start();
  Object.assign(process.env, {
    TABLE_NAME: TABLE,
    EVENT_BUS_NAME: 'default',
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: busEndpoint,
    LOG_LEVEL: 'error',
  });
});
after(async () => {
  await bus.close();
  await table.close();
});

test('the scheduled sweep completes a dead node’s session (nodeFailed) and leaves a live node’s alone', async () => {
  const sessions = new SessionStore(table.doc, TABLE);
  const registry = new NodeRegistry(table.doc, TABLE);
  const now = Date.now();
  const tenantId = randomId('t');
  const session = (nodeId: string, createdAt: number) => ({
    sessionId: randomId('s'),
    tenantId,
    nodeId,
    state: 'active' as const,
    createdAt: new Date(createdAt).toISOString(),
    participants: {
      p1: {
        direction: 'inbound' as const,
        from: 'sip:a@x',
        to: 'sip:b@x',
        sipCallId: randomId('c'),
        state: 'active' as const,
        answeredAt: new Date(createdAt + 2_000).toISOString(),
      },
    },
  });
  const dead = session('all-gone', now - 80_000);
  const live = session('still-here', now - 10_000);
  await sessions.create(dead);
  await sessions.create(live);
  const beat = (nodeId: string, at: number) =>
    registry.heartbeat({
      nodeId,
      sip: { host: '127.0.0.1', port: 5060 },
      activeCalls: 1,
      maxCalls: 10,
      draining: false,
      at: new Date(at).toISOString(),
    });
  await beat('all-gone', now - 20_000);
  await beat('still-here', now);

  const result = await handler();
  assert.deepEqual(result, { nodes: ['all-gone'], slots: 0, sessions: 1 });
  for (let i = 0; i < 100 && delivered.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(delivered.length, 1, 'routed to the dispatcher by the shared rule');
  const envelope = CallbackEnvelope.parse(delivered[0]!.detail);
  assert.equal(envelope.type, 'sessionCompleted');
  assert.equal(envelope.sessionId, dead.sessionId);
  assert.deepEqual(
    { reason: envelope.payload.reason, sessionDuration: envelope.payload.sessionDuration },
    { reason: 'nodeFailed', sessionDuration: 60 },
  );
  assert.equal((await sessions.get(dead.sessionId))?.endReason, 'nodeFailed');
  assert.equal((await sessions.get(live.sessionId))?.state, 'active');
  const usage = await new UsageStore(table.doc, TABLE).query(tenantId, utcDay(now - 80_000), utcDay(now));
  assert.equal(usage.totals.callSeconds, 58);

  assert.deepEqual(await handler(), { nodes: [], slots: 0, sessions: 0 }, 'the next run finds nothing');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(delivered.length, 1);
});
