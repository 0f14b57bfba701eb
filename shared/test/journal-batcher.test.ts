import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SessionStore } from '../src/data/session-store.js';
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

test('60 entries of three sessions: all stored, each session in order, in a few batch requests', async () => {
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
  }
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
