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
