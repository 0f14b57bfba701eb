import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SessionStore } from '../src/data/session-store.js';
import { startTable } from './helpers/dynamo-table.js';

// Against the DynamoDB API (dynalite in its own process): a callback's outcome is one item that carries the
// callback's journal entry; the session's journal reads both kinds of item in time order, and the node's and the
// dispatcher's reply reads get the reply without the entry.
let table: Awaited<ReturnType<typeof startTable>>;
let sessions: SessionStore;
let requests: string[] = [];

before(async () => {
  table = await startTable('outcome-test');
  table.doc.middlewareStack.add(
    (next, context) => async (args) => {
      requests.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  sessions = new SessionStore(table.doc, 'outcome-test');
});
after(async () => {
  await table.close();
});

test('one write per outcome; the journal merges callback and node entries by time; replies come without the entry', async () => {
  const id = 's-outcome';
  await sessions.journal(id, { kind: 'sip', event: 'invite', at: '2026-11-30T10:00:00.000Z' });
  await sessions.journal(id, { kind: 'sip', event: 'answered', at: '2026-11-30T10:00:00.200Z' });
  requests = [];
  await sessions.storeOutcome(
    id,
    { eventId: 'e1', outcome: 'reply', reply: { action: 'ivr' }, at: '2026-11-30T10:00:00.100Z' },
    { kind: 'callback', callback: 'newCall', eventId: 'e1', at: '2026-11-30T10:00:00.100Z', latencyMs: 12 },
  );
  await sessions.storeOutcome(
    id,
    { eventId: 'e2', outcome: 'fallback', reply: {}, reason: 'timeout', at: '2026-11-30T10:00:00.300Z' },
    { kind: 'callback', callback: 'getIvrCommand', eventId: 'e2', at: '2026-11-30T10:00:00.300Z', fallback: true },
  );
  assert.deepEqual(requests, ['PutItemCommand', 'PutItemCommand'], 'one write per outcome');

  const journal = await sessions.readJournal(id);
  assert.deepEqual(
    journal.map((e) => `${e.at.slice(20)} ${e.kind} ${e.event ?? e.callback}`),
    ['000Z sip invite', '100Z callback newCall', '200Z sip answered', '300Z callback getIvrCommand'],
  );
  assert.equal(journal[1]!.latencyMs, 12, 'the entry as the dispatcher wrote it');

  const [one] = await sessions.getReplies([{ sessionId: id, eventId: 'e1' }]);
  assert.deepEqual(one, { eventId: 'e1', outcome: 'reply', reply: { action: 'ivr' }, at: '2026-11-30T10:00:00.100Z' });
  assert.deepEqual(await sessions.getReply(id, 'e2'), {
    eventId: 'e2',
    outcome: 'fallback',
    reply: {},
    reason: 'timeout',
    at: '2026-11-30T10:00:00.300Z',
  });
  assert.equal(await sessions.getReply(id, 'e3'), undefined);
});

test("a delivery's outcomes: one item, the last outcome's, carrying every entry in order; too large for one item, one item each", async () => {
  const id = 's-outcomes';
  const outcome = (eventId: string, callback: string, at: string, extra: Record<string, unknown> = {}) => ({
    record: { eventId, outcome: 'reply' as const, reply: {}, at },
    entry: { kind: 'callback' as const, callback, eventId, at, ...extra },
  });
  requests = [];
  await sessions.storeOutcomes(id, [
    outcome('a1', 'callAnswered', '2026-11-30T10:00:01.000Z'),
    outcome('a2', 'getIvrCommand', '2026-11-30T10:00:01.010Z'),
  ]);
  assert.deepEqual(requests, ['PutItemCommand'], 'one write');
  assert.equal(await sessions.getReply(id, 'a1'), undefined, "a carried notification's outcome is read by nobody");
  assert.equal((await sessions.getReply(id, 'a2'))?.eventId, 'a2');

  // 2 × 200 KB of payload: past DynamoDB's 400 KB as one item.
  const big = 'x'.repeat(200_000);
  requests = [];
  await sessions.storeOutcomes(id, [
    outcome('b1', 'callEvent', '2026-11-30T10:00:02.000Z', { request: { big } }),
    outcome('b2', 'sessionCompleted', '2026-11-30T10:00:02.010Z', { request: { big } }),
  ]);
  assert.deepEqual(requests, ['BatchWriteItemCommand'], 'one item each, one request');
  assert.equal((await sessions.getReply(id, 'b1'))?.eventId, 'b1');

  assert.deepEqual(
    (await sessions.readJournal(id)).map((e) => e.callback),
    ['callAnswered', 'getIvrCommand', 'callEvent', 'sessionCompleted'],
  );
});
