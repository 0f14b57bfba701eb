import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { SessionCompletedBody } from '../src/contracts/callbacks.js';
import { CallSlots } from '../src/data/call-slots.js';
import { NodeRegistry } from '../src/data/node-registry.js';
import { SessionStore } from '../src/data/session-store.js';
import { keys } from '../src/data/table-design.js';
import { UsageStore, utcDay } from '../src/data/usage-store.js';
import type { ParticipantRecord } from '../src/domain/session.js';
import type { CallbackPublisher } from '../src/events/callback-publisher.js';
import { CallbackEnvelope } from '../src/events/envelope.js';
import { DeadNodeSweeper } from '../src/ops/dead-node-sweeper.js';
import { NodeFailure, RETAKE_UNPUBLISHED_AFTER_MS } from '../src/ops/node-failure.js';
import { randomId } from '../src/util/ids.js';
import { createLogger } from '../src/util/logger.js';
import { startTable } from './helpers/dynamo-table.js';

// Sessions of a media node that died, completed with nodeFailed: against the DynamoDB API (dynalite in
// its own process) with the table the stack creates; the bus is a recording publisher.
const TABLE = 'node-failure-test';
let table: Awaited<ReturnType<typeof startTable>>;
let sessions: SessionStore;
let usage: UsageStore;
let registry: NodeRegistry;
let slots: CallSlots;
const logger = createLogger({}, 'silent');

before(async () => {
  table = await startTable(TABLE);
  sessions = new SessionStore(table.doc, TABLE);
  usage = new UsageStore(table.doc, TABLE);
  registry = new NodeRegistry(table.doc, TABLE);
  slots = new CallSlots(table.doc, TABLE);
});
after(async () => {
  await table.close();
});

/** Records what is published, as the bus would carry it. */
class RecordingBus implements CallbackPublisher {
  readonly events: CallbackEnvelope[] = [];
  async publish(envelope: CallbackEnvelope): Promise<void> {
    // What EventBridge carries: the JSON of the envelope.
    this.events.push(CallbackEnvelope.parse(JSON.parse(JSON.stringify(envelope))));
  }
  for(sessionId: string): CallbackEnvelope[] {
    return this.events.filter((e) => e.sessionId === sessionId);
  }
}

function sweeperWith(bus: CallbackPublisher): DeadNodeSweeper {
  const sessionsOfDead = NodeFailure.create({ doc: table.doc, tableName: TABLE, events: bus, logger });
  return new DeadNodeSweeper({ registry, slots, sessions: sessionsOfDead, logger });
}

const iso = (ms: number) => new Date(ms).toISOString();

async function beat(nodeId: string, at: number, slotTenants: string[] = []): Promise<void> {
  await registry.heartbeat({
    nodeId,
    sip: { host: '127.0.0.1', port: 5060 },
    activeCalls: 1,
    maxCalls: 10,
    draining: false,
    slotTenants,
    at: iso(at),
  });
}

/** An active session of `nodeId` created at `createdAt`, with one participant answered at `answeredAt`. */
async function activeSession(
  nodeId: string,
  tenantId: string,
  createdAt: number,
  answeredAt?: number,
  extra: Record<string, ParticipantRecord> = {},
): Promise<string> {
  const sessionId = randomId('s');
  await sessions.create({
    sessionId,
    tenantId,
    nodeId,
    state: 'active',
    createdAt: iso(createdAt),
    sessionReferenceId: `ref-${sessionId}`,
    participants: {
      p1: {
        direction: 'inbound',
        from: 'sip:+491@x',
        to: 'sip:+492@x',
        sipCallId: randomId('c'),
        state: answeredAt === undefined ? 'setup' : 'active',
        ...(answeredAt === undefined ? {} : { answeredAt: iso(answeredAt) }),
      },
      ...extra,
    },
  });
  return sessionId;
}

async function marker(nodeId: string, sessionId: string) {
  const res = await table.doc.send(
    new GetCommand({ TableName: TABLE, Key: keys.nodeSession(nodeId, sessionId), ConsistentRead: true }),
  );
  return res.Item;
}

test("a dead node's active sessions: one sessionCompleted each (nodeFailed, duration), usage, journal; others untouched", async () => {
  const now = Date.now();
  const tenantId = randomId('t');
  const lastBeat = now - 20_000;
  // Two sessions in progress on the dead node: one answered 55 s before its last heartbeat, one with a second
  // (outbound) leg answered 30 s before it, and a leg that ended earlier (the node billed that itself).
  const s1 = await activeSession('dead-1', tenantId, lastBeat - 60_000, lastBeat - 55_000);
  const s2 = await activeSession('dead-1', tenantId, lastBeat - 42_340, lastBeat - 40_000, {
    p2: {
      direction: 'outbound',
      from: 'sip:a@x',
      to: 'sip:b@x',
      sipCallId: 'c2',
      state: 'active',
      answeredAt: iso(lastBeat - 30_000),
    },
    p3: {
      direction: 'outbound',
      from: 'sip:a@x',
      to: 'sip:c@x',
      sipCallId: 'c3',
      state: 'ended',
      answeredAt: iso(lastBeat - 39_000),
    },
  });
  // The dispatcher journaled the node's callbacks up to seq 3 for s1.
  await sessions.journal(s1, { kind: 'callback', callback: 'newCall', seq: 1, at: iso(lastBeat - 59_000) });
  await sessions.journal(s1, { kind: 'callback', callback: 'getIvrCommand', seq: 3, at: iso(lastBeat - 30_000) });
  // A session of the dead node that had ended normally, and a live node's session.
  const done = await activeSession('dead-1', tenantId, lastBeat - 90_000, lastBeat - 89_000);
  assert.equal(await sessions.end(done, 'hangup'), true);
  assert.equal(await marker('dead-1', done), undefined, 'ending a session removes its marker');
  const liveOne = await activeSession('live-1', tenantId, now - 10_000, now - 9_000);
  await beat('dead-1', lastBeat);
  await beat('live-1', now - 1_000);

  const bus = new RecordingBus();
  const result = await sweeperWith(bus).sweep({ now });
  assert.deepEqual(result, { nodes: ['dead-1'], slots: 0, sessions: 2 });
  assert.equal(bus.events.length, 2, 'one event per active session');

  for (const [sessionId, duration] of [
    [s1, 60],
    [s2, 42.3],
  ] as const) {
    const [event] = bus.for(sessionId);
    assert.ok(event, `an event for ${sessionId}`);
    assert.equal(event.type, 'sessionCompleted');
    assert.equal(event.tenantId, tenantId);
    assert.equal(event.nodeId, 'dead-1');
    assert.equal(event.expectsReply, false);
    const body = SessionCompletedBody.parse(event.payload);
    assert.equal(body.reason, 'nodeFailed');
    assert.equal(body.sessionDuration, duration, 'from the session start to the last heartbeat');
    assert.equal(body.sessionReferenceId, `ref-${sessionId}`);
    assert.equal(body.seq, event.seq);
    const stored = await sessions.get(sessionId);
    assert.equal(stored?.state, 'ended');
    assert.equal(stored?.endReason, 'nodeFailed');
    assert.equal(stored?.endedAt, iso(lastBeat));
    assert.equal(stored?.nodeFailure, undefined, 'bookkeeping is not shown');
    assert.equal(await marker('dead-1', sessionId), undefined);
    const journal = await sessions.readJournal(sessionId);
    const entry = journal.find((e) => e.event === 'nodeFailed');
    assert.ok(entry, 'journaled');
    assert.equal(entry.eventId, event.id);
  }
  assert.equal(bus.for(s1)[0]!.seq, 4, "after the node's last journaled callback");
  assert.equal(bus.for(s2)[0]!.seq, 1);

  // 55 s (s1) + 40 s and 30 s (s2's legs still up); the leg that had ended is not billed again.
  const report = await usage.query(tenantId, utcDay(lastBeat), utcDay(now));
  assert.equal(report.totals.callSeconds, 125);

  assert.equal((await sessions.get(done))?.endReason, 'hangup', 'an ended session is untouched');
  assert.equal((await sessions.get(liveOne))?.state, 'active', "a live node's session is untouched");
  assert.ok(await marker('live-1', liveOne));

  // The node coming back (it was only cut off) cannot complete them a second time.
  assert.equal(await sessions.end(s1, 'callingPartyDrop'), false);
  assert.equal((await sessions.get(s1))?.endReason, 'nodeFailed');

  assert.deepEqual(await sweeperWith(bus).sweep({ now }), { nodes: [], slots: 0, sessions: 0 });
  assert.equal(bus.events.length, 2, 'a second sweep publishes nothing');
});

test('two concurrent sweeps: exactly one sessionCompleted per session, usage counted once', async () => {
  const now = Date.now();
  const tenantId = randomId('t');
  const lastBeat = now - 30_000;
  const ids = await Promise.all(
    [0, 1, 2].map((i) => activeSession('dead-2', tenantId, lastBeat - 20_000 - i * 1000, lastBeat - 10_000)),
  );
  await beat('dead-2', lastBeat);
  const bus = new RecordingBus();
  const results = await Promise.all([sweeperWith(bus).sweep({ now }), sweeperWith(bus).sweep({ now })]);
  assert.equal(results[0]!.sessions + results[1]!.sessions, 3);
  for (const id of ids) assert.equal(bus.for(id).length, 1, `one event for ${id}`);
  assert.equal(bus.events.length, 3);
  const report = await usage.query(tenantId, utcDay(lastBeat), utcDay(now));
  assert.equal(report.totals.callSeconds, 30);
  // A sweep that lost a claim keeps the heartbeat until it sees the winner's event out; the next one clears it.
  await sweeperWith(bus).sweep({ now });
  assert.equal(bus.events.length, 3);
  assert.ok(!(await registry.allNodes()).some((n) => n.nodeId === 'dead-2'));
});

test('a restart with the same node id completes what its previous process left, before taking calls', async () => {
  const now = Date.now();
  const tenantId = randomId('t');
  // Restarted within seconds: the previous process's heartbeat is still fresh, and it held a slot.
  assert.equal(await slots.acquire(tenantId, 'restarted', 5), true);
  const s = await activeSession('restarted', tenantId, now - 8_000, now - 7_000);
  await beat('restarted', now - 2_000, [tenantId]);
  const bus = new RecordingBus();
  assert.deepEqual(await sweeperWith(bus).sweep({ now }), { nodes: [], slots: 0, sessions: 0 }, 'not stale yet');
  const recovered = await sweeperWith(bus).recoverPrevious('restarted', now);
  assert.deepEqual(recovered, { nodes: ['restarted'], slots: 1, sessions: 1 });
  const body = SessionCompletedBody.parse(bus.for(s)[0]!.payload);
  assert.equal(body.reason, 'nodeFailed');
  assert.equal(body.sessionDuration, 6);
  assert.equal((await slots.usage(tenantId)).active, 0);

  // No heartbeat left (swept, or expired): the session's last journal entry is its last known state.
  const s2 = await activeSession('restarted', tenantId, now - 50_000, now - 45_000);
  await sessions.journal(s2, { kind: 'sip', event: 'answered', at: iso(now - 45_000) });
  await sessions.journal(s2, { kind: 'command', event: 'play', at: iso(now - 20_000) });
  assert.deepEqual(await sweeperWith(bus).recoverPrevious('restarted', now), { nodes: [], slots: 0, sessions: 1 });
  assert.equal(SessionCompletedBody.parse(bus.for(s2)[0]!.payload).sessionDuration, 30);
  assert.equal(bus.events.length, 2);
  assert.deepEqual(await sweeperWith(bus).recoverPrevious('restarted', now), { nodes: [], slots: 0, sessions: 0 });
});

test('a sweeper that died between its claim and the event: a later sweep publishes the same event once', async () => {
  const now = Date.now();
  const tenantId = randomId('t');
  const s = await activeSession('dead-3', tenantId, now - 60_000, now - 50_000);
  await beat('dead-3', now - 40_000);
  const failing: CallbackPublisher = {
    publish: async () => {
      throw new Error('bus unreachable');
    },
  };
  const first = await sweeperWith(failing).sweep({ now });
  assert.deepEqual(first, { nodes: [], slots: 0, sessions: 0 }, 'the heartbeat stays for the next sweep');
  assert.equal((await sessions.get(s))?.endReason, 'nodeFailed', 'claimed');
  assert.ok(await marker('dead-3', s), 'the marker stays until the event is out');

  const bus = new RecordingBus();
  await sweeperWith(bus).sweep({ now: now + 1_000 });
  assert.equal(bus.events.length, 0, 'a claim this young may still be at work');
  const later = now + RETAKE_UNPUBLISHED_AFTER_MS + 1_000;
  await Promise.all([sweeperWith(bus).sweep({ now: later }), sweeperWith(bus).sweep({ now: later })]);
  assert.equal(bus.for(s).length, 1, 'published once');
  const claimed = (await sessions.getStored(s))?.nodeFailure;
  assert.equal(bus.for(s)[0]!.id, (claimed?.envelope as { id: string } | undefined)?.id, 'the event claimed first');
  assert.ok(claimed?.publishedAt);
  assert.equal(await marker('dead-3', s), undefined);
  await sweeperWith(bus).sweep({ now: later + RETAKE_UNPUBLISHED_AFTER_MS * 2 });
  assert.equal(bus.for(s).length, 1);
  const report = await usage.query(tenantId, utcDay(now - 60_000), utcDay(now));
  assert.equal(report.totals.callSeconds, 10, 'billed by the claim, not again');
});

test('a participant answered through the store gets its answer time; a leftover marker is cleaned up', async () => {
  const tenantId = randomId('t');
  const s = await activeSession('n-4', tenantId, Date.now() - 1000);
  await sessions.setParticipantState(s, 'p1', 'active');
  const answeredAt = (await sessions.get(s))?.participants.p1?.answeredAt;
  assert.ok(answeredAt && Date.now() - Date.parse(answeredAt) < 5_000);
  await sessions.setParticipantState(s, 'p1', 'active');
  assert.equal((await sessions.get(s))?.participants.p1?.answeredAt, answeredAt, 'kept');
  // A marker whose session was never written (the node died between the two writes).
  await table.doc.send(
    new (await import('@aws-sdk/lib-dynamodb')).PutCommand({
      TableName: TABLE,
      Item: { ...keys.nodeSession('n-4', 'never'), sessionId: 'never' },
    }),
  );
  const bus = new RecordingBus();
  const failure = NodeFailure.create({ doc: table.doc, tableName: TABLE, events: bus, logger });
  const result = await failure.completeNode('n-4', new Date().toISOString());
  assert.deepEqual(result, { completed: [s], failed: 0, pending: 0 });
  assert.equal(await marker('n-4', 'never'), undefined);
  assert.equal(bus.events.length, 1);
});
