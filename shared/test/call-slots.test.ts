import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallSlots } from '../src/data/call-slots.js';
import { startTable } from './helpers/dynamo-table.js';

// Against the DynamoDB API (dynalite in its own process), with the table the stack creates.
let table: Awaited<ReturnType<typeof startTable>>;
let slots: CallSlots;

before(async () => {
  table = await startTable('slots-test');
  const doc = table.doc;
  slots = new CallSlots(doc, 'slots-test');
});
after(async () => {
  await table.close();
});

test('50 concurrent acquisitions from two nodes against a limit of 5 admit exactly 5', async () => {
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => slots.acquire('t-burst', i % 2 ? 'node-a' : 'node-b', 5)),
  );
  assert.equal(results.filter(Boolean).length, 5);
  const usage = await slots.usage('t-burst');
  assert.equal(usage.active, 5);
  assert.equal((usage.byNode['node-a'] ?? 0) + (usage.byNode['node-b'] ?? 0), 5);
});

test('release gives a slot back once; a node holding none cannot decrement', async () => {
  assert.equal(await slots.acquire('t-rel', 'n1', 1), true);
  assert.equal(await slots.acquire('t-rel', 'n1', 1), false);
  assert.equal(await slots.release('t-rel', 'n1'), true);
  assert.equal(await slots.release('t-rel', 'n1'), false);
  assert.equal(await slots.release('t-rel', 'n2'), false);
  assert.equal((await slots.usage('t-rel')).active, 0);
  assert.equal(await slots.acquire('t-rel', 'n2', 1), true);
});

test("reclaim takes a dead node's slots away and its late release changes nothing", async () => {
  for (let i = 0; i < 3; i++) assert.equal(await slots.acquire('t-dead', 'dead', 10), true);
  assert.equal(await slots.acquire('t-dead', 'alive', 10), true);
  assert.equal(await slots.reclaim('t-dead', 'dead'), 3);
  assert.deepEqual(await slots.usage('t-dead'), { active: 1, byNode: { alive: 1 } });
  assert.equal(await slots.release('t-dead', 'dead'), false);
  assert.equal(await slots.reclaim('t-dead', 'dead'), 0);
  assert.equal((await slots.usage('t-dead')).active, 1);
});
