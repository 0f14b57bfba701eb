import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SessionStore } from '../src/data/session-store.js';
import { keys } from '../src/data/table-design.js';
import { startTable } from './helpers/dynamo-table.js';

// Against the DynamoDB API (dynalite in its own process), with the table the stack creates: the media
// node's batched journal writes land exactly as single writes do, in order, and nothing is lost at a flush.
let table: Awaited<ReturnType<typeof startTable>>;
let batched: SessionStore;
let requests = 0;

before(async () => {
  table = await startTable('journal-batch-test');
  table.doc.middlewareStack.add(
    (next) => async (args) => {
      requests++;
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  batched = new SessionStore(table.doc, 'journal-batch-test', { journalBatchMs: 20 });
});
after(async () => {
  await table.close();
});

/** The journal items stored for a session, as the table holds them. */
async function journalItems(sessionId: string): Promise<Record<string, unknown>[]> {
  const res = await table.doc.send(
    new QueryCommand({
      TableName: 'journal-batch-test',
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :j)',
      ExpressionAttributeValues: { ':p': keys.session(sessionId).pk, ':j': 'JOURNAL#' },
      ConsistentRead: true,
    }),
  );
  return res.Items ?? [];
}

test('60 entries of three sessions: all stored, each session in order, in a few batch requests and a few items', async () => {
  requests = 0;
  const writes = [];
  for (let i = 0; i < 60; i++) {
    const at = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString();
    writes.push(batched.journal(`s-${i % 3}`, { kind: 'command', event: `e${i}`, at }));
  }
  await Promise.all(writes);
  assert.ok(requests <= 4, `${requests} requests for 60 entries (25 per batch)`);
  for (let s = 0; s < 3; s++) {
    const events = (await batched.readJournal(`s-${s}`)).map((e) => e.event);
    assert.deepEqual(
      events,
      Array.from({ length: 20 }, (_, k) => `e${k * 3 + s}`),
    );
    // A session's entries queued together share an item: dynalite's cost and DynamoDB's write units go by items.
    const items = await journalItems(`s-${s}`);
    assert.ok(items.length <= 4, `${items.length} items for 20 entries`);
  }
});

test("a session's flush writes its entries at once and leaves the others' to their batch", async () => {
  const slow = new SessionStore(table.doc, 'journal-batch-test', { journalBatchMs: 60_000 });
  const mine = [
    slow.journal('s-mine', { kind: 'sip', event: 'ended' }),
    slow.journal('s-mine', { kind: 'sip', event: 'messages' }),
  ];
  const other = slow.journal('s-other', { kind: 'sip', event: 'invite' });
  await slow.flushJournal('s-mine');
  await Promise.all(mine);
  assert.deepEqual(
    (await slow.readJournal('s-mine')).map((e) => e.event),
    ['ended', 'messages'],
  );
  assert.equal((await journalItems('s-mine')).length, 1, 'one item for the two');
  assert.deepEqual(await journalItems('s-other'), [], 'still queued');
  await slow.flushJournal();
  await other;
  assert.deepEqual(
    (await slow.readJournal('s-other')).map((e) => e.event),
    ['invite'],
  );
});

test("a session's entries too large to share one item (DynamoDB's 400 KB) go in several, still read in order", async () => {
  const big = 'x'.repeat(150_000);
  const writes = [0, 1, 2].map((i) =>
    batched.journal('s-big', {
      kind: 'sip',
      event: `big${i}`,
      at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
      big,
    }),
  );
  await Promise.all(writes);
  assert.deepEqual(
    (await batched.readJournal('s-big')).map((e) => e.event),
    ['big0', 'big1', 'big2'],
  );
  assert.equal((await journalItems('s-big')).length, 2, '300 KB in one item, 150 KB in another');
});

test('flush writes what is queued now, before its timer', async () => {
  const slow = new SessionStore(table.doc, 'journal-batch-test', { journalBatchMs: 60_000 });
  const write = slow.journal('s-flush', { kind: 'sip', event: 'ended' });
  await slow.flushJournal();
  await write;
  assert.deepEqual(
    (await slow.readJournal('s-flush')).map((e) => e.event),
    ['ended'],
  );
});
