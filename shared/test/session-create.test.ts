import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SessionStore } from '../src/data/session-store.js';
import type { SessionRecord } from '../src/domain/session.js';
import { randomId } from '../src/util/ids.js';
import { startTable } from './helpers/dynamo-table.js';

// SessionStore.create against the real DynamoDB API (dynalite): the requests it sends, counted by the
// client's own middleware, and what a sweeper and the API then find in the table.
const TABLE = 'session-create-test';
let table: Awaited<ReturnType<typeof startTable>>;
let sessions: SessionStore;
const sent: string[] = [];

before(async () => {
  table = await startTable(TABLE);
  table.doc.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  sessions = new SessionStore(table.doc, TABLE);
});
after(async () => {
  await sessions.flushJournal();
  await table?.close();
});

function record(nodeId: string, sessionId = randomId('s')): SessionRecord {
  return {
    sessionId,
    tenantId: 't-create',
    nodeId,
    state: 'active',
    createdAt: new Date().toISOString(),
    participants: {
      p1: { direction: 'inbound', from: 'sip:a@x', to: 'sip:b@x', sipCallId: randomId('c'), state: 'setup' },
    },
  };
}

test('a session id drawn here: the session and its node marker are stored by one BatchWriteItem', async () => {
  const session = record('node-a');
  sent.length = 0;
  await sessions.create(session, { newId: true });
  assert.deepEqual(sent, ['BatchWriteItemCommand']);
  const stored = await sessions.get(session.sessionId);
  assert.equal(stored?.tenantId, 't-create');
  assert.equal(stored?.participants.p1?.state, 'setup');
  assert.deepEqual(await sessions.markedOnNode('node-a'), [session.sessionId]);
});

test('on a node that batches its journal, the entries queued by then go with the creation: one request for all', async () => {
  const batching = new SessionStore(table.doc, TABLE, { journalBatchMs: 60_000 });
  const other = randomId('s');
  const queued = [
    batching.journal(other, { kind: 'sip', event: 'invite' }),
    batching.journal(other, { kind: 'sip', event: 'answered' }),
    batching.journal('s-left-alone', { kind: 'command', event: 'play' }),
  ];
  const session = record('node-c');
  sent.length = 0;
  await batching.create(session, { newId: true });
  assert.deepEqual(sent, ['BatchWriteItemCommand'], 'the creation and the queued entries in one request');
  // Stored by the creation's request (the batch's own timer is a minute away).
  assert.deepEqual(
    (await batching.readJournal(other)).map((e) => e.event),
    ['invite', 'answered'],
  );
  await Promise.all(queued);
  assert.equal((await batching.get(session.sessionId))?.tenantId, 't-create');
  assert.deepEqual(await batching.markedOnNode('node-c'), [session.sessionId]);
  // Nothing was left for the batch's timer (60 s here): a flush now sends no request.
  sent.length = 0;
  await batching.flushJournal();
  assert.deepEqual(sent, []);
});

test('a creation takes along at most what fits in one request (25): the rest waits for its batch', async () => {
  const batching = new SessionStore(table.doc, TABLE, { journalBatchMs: 60_000 });
  // 24 sessions' entries, one item each (at 25 the batcher sends by itself): 23 fit beside the session item and
  // its marker.
  const ids = Array.from({ length: 24 }, () => randomId('s'));
  const queued = ids.map((id) => batching.journal(id, { kind: 'sip', event: 'invite' }));
  const session = record('node-d');
  sent.length = 0;
  await batching.create(session, { newId: true });
  assert.deepEqual(sent, ['BatchWriteItemCommand']);
  assert.equal((await batching.readJournal(ids[22]!)).length, 1, 'the 23rd went along');
  assert.equal((await batching.readJournal(ids[23]!)).length, 0, 'the 24th still queued');
  await Promise.all(queued.slice(0, 23));
  await batching.flushJournal();
  await Promise.all(queued);
  assert.equal((await batching.readJournal(ids[23]!)).length, 1);
});

test('a session id that came with a command: marker first, then a conditional put that refuses a taken id', async () => {
  const session = record('node-b');
  sent.length = 0;
  await sessions.create(session);
  assert.deepEqual(sent, ['PutItemCommand', 'PutItemCommand']);
  assert.deepEqual(await sessions.markedOnNode('node-b'), [session.sessionId]);
  // The bus delivered the placement twice: the second node (or the same one) finds the id taken.
  await assert.rejects(sessions.create({ ...record('node-c', session.sessionId) }), {
    name: 'ConditionalCheckFailedException',
  });
  assert.equal((await sessions.get(session.sessionId))?.nodeId, 'node-b');
});
