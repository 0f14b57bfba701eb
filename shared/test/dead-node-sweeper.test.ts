import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallSlots } from '../src/data/call-slots.js';
import { NodeRegistry } from '../src/data/node-registry.js';
import { DeadNodeSweeper } from '../src/ops/dead-node-sweeper.js';
import { createLogger } from '../src/util/logger.js';
import { startTable } from './helpers/dynamo-table.js';

// Against the DynamoDB API (dynalite in its own process), with the table the stack creates.
let table: Awaited<ReturnType<typeof startTable>>;
let registry: NodeRegistry;
let slots: CallSlots;

before(async () => {
  table = await startTable('sweeper-test');
  const doc = table.doc;
  registry = new NodeRegistry(doc, 'sweeper-test');
  slots = new CallSlots(doc, 'sweeper-test');
});
after(async () => {
  await table.close();
});

test("a dead node's slots are released within its heartbeat timeout; a live node's are kept", async () => {
  const now = Date.now();
  const beat = (nodeId: string, ageMs: number, slotTenants: string[]) =>
    registry.heartbeat({
      nodeId,
      sip: { host: '127.0.0.1', port: 5060 },
      activeCalls: 0,
      maxCalls: 10,
      draining: false,
      slotTenants,
      at: new Date(now - ageMs).toISOString(),
    });
  for (let i = 0; i < 3; i++) assert.equal(await slots.acquire('t1', 'dead', 3), true);
  assert.equal(await slots.acquire('t1', 'dead', 3), false, 'the tenant is at its limit');
  assert.equal(await slots.acquire('t2', 'alive', 3), true);
  await beat('dead', 20_000, ['t1']);
  await beat('alive', 1_000, ['t2']);
  const sweeper = new DeadNodeSweeper({ registry, slots, logger: createLogger({}, 'silent') });
  const swept = await sweeper.sweep({ now });
  assert.deepEqual(swept, { nodes: ['dead'], slots: 3, sessions: 0 });
  assert.equal(await slots.acquire('t1', 'alive', 3), true, 'the slots are free again');
  assert.equal((await slots.usage('t2')).active, 1);
  assert.deepEqual(
    (await registry.allNodes()).map((n) => n.nodeId),
    ['alive'],
  );
  assert.deepEqual(await sweeper.sweep({ now }), { nodes: [], slots: 0, sessions: 0 }, 'a second sweep finds nothing');
});
