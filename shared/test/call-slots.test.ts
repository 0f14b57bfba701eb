import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallSlots } from '../src/data/call-slots.js';
import { TenantStore } from '../src/data/tenant-store.js';
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

test('admit: a slot and a count in the calls-per-second window in one write; a full window refuses until the next second', async () => {
  const limits = { maxConcurrentCalls: 10, callsPerSecond: 2 };
  const t0 = 1_700_000_000_000;
  assert.equal(await slots.admit('t-cps', 'n1', limits, { now: t0 }), undefined);
  assert.equal(await slots.admit('t-cps', 'n1', limits, { now: t0 + 300 }), undefined);
  assert.equal(await slots.admit('t-cps', 'n1', limits, { now: t0 + 900 }), 'callsPerSecond');
  assert.equal((await slots.usage('t-cps')).active, 2, 'the refused call took no slot');
  assert.equal(await slots.admit('t-cps', 'n1', limits, { now: t0 + 1000 }), undefined, 'a new window');
  assert.equal((await slots.usage('t-cps')).active, 3);
});

test('admit: the concurrent limit refuses, and a refused call is not counted in the window', async () => {
  const limits = { maxConcurrentCalls: 1, callsPerSecond: 2 };
  const t0 = 1_700_000_100_000;
  assert.equal(await slots.admit('t-conc', 'n1', limits, { now: t0 }), undefined);
  assert.equal(await slots.admit('t-conc', 'n2', limits, { now: t0 + 1 }), 'maxConcurrentCalls');
  assert.equal(await slots.release('t-conc', 'n1'), true);
  assert.equal(await slots.admit('t-conc', 'n2', limits, { now: t0 + 2 }), undefined, 'the second call of the window');
  assert.deepEqual(await slots.usage('t-conc'), { active: 1, byNode: { n2: 1 } });
});

test('admit: a burst from two nodes and the API counting placements never passes either limit', async () => {
  const limits = { maxConcurrentCalls: 1000, callsPerSecond: 7 };
  const t0 = 1_700_000_200_000;
  // Two node objects (each with its own hint of the window) and the API's, all on the same item.
  const nodes = [slots, new CallSlots(table.doc, 'slots-test')];
  const api = new CallSlots(table.doc, 'slots-test');
  const results = await Promise.all([
    ...Array.from({ length: 30 }, (_, i) => nodes[i % 2]!.admit('t-mix', `n${i % 2}`, limits, { now: t0 + i })),
    ...Array.from({ length: 10 }, (_, i) => api.countAttempt('t-mix', limits.callsPerSecond, t0 + i)),
  ]);
  assert.equal(results.filter((r) => r === undefined).length, 7, 'seven calls in the second');
  assert.ok(results.every((r) => r === undefined || r === 'callsPerSecond'));
  const admittedByNodes = results.slice(0, 30).filter((r) => r === undefined).length;
  assert.equal((await slots.usage('t-mix')).active, admittedByNodes, 'a slot for each call a node admitted');
});

test('admit: a node whose clock runs behind counts in the window another node began, never in a past one', async () => {
  const limits = { maxConcurrentCalls: 100, callsPerSecond: 2 };
  const t0 = 1_700_000_300_000;
  const ahead = new CallSlots(table.doc, 'slots-test');
  assert.equal(await ahead.admit('t-skew', 'fast', limits, { now: t0 + 1000 }), undefined);
  assert.equal(
    await slots.admit('t-skew', 'slow', limits, { now: t0 + 990 }),
    undefined,
    'counted in the later window',
  );
  assert.equal(
    await slots.admit('t-skew', 'slow', limits, { now: t0 + 995 }),
    'callsPerSecond',
    'that window is full now',
  );
});

test("admit with the profile version of the limits' profile: a write of the profile after it is refused as profileChanged, counting nothing", async () => {
  const tenants = new TenantStore(table.doc, 'slots-test', 'sip.test');
  const { tenant } = await tenants.create({ name: 'Versioned' });
  const id = tenant.tenantId;
  const limits = { maxConcurrentCalls: 1, callsPerSecond: 10 };
  const t0 = 3_000_000_000_000;
  assert.equal(await slots.profileVersion(id), 0, 'a profile never changed');
  assert.equal(await slots.admit(id, 'n1', limits, { now: t0, profileVersion: 0 }), undefined);
  // Each kind of profile write bumps the version after it: settings, limits, suspension, signing secret.
  await tenants.update(id, { callbackTimeoutMs: 4000 });
  assert.equal(await slots.profileVersion(id), 1);
  // The limit is full too: the changed profile is named first (the limit checked may be the old one).
  assert.equal(await slots.admit(id, 'n1', limits, { now: t0 + 1, profileVersion: 0 }), 'profileChanged');
  assert.equal(await slots.release(id, 'n1'), true);
  assert.equal(await slots.admit(id, 'n1', limits, { now: t0 + 2, profileVersion: 0 }), 'profileChanged');
  assert.deepEqual(await slots.usage(id), { active: 0, byNode: {} }, 'a refused admission takes no slot');
  await tenants.setLimits(id, { maxConcurrentCalls: 3 });
  await tenants.setSuspended(id, { reason: 'test' });
  await tenants.setSuspended(id, null);
  await tenants.rotateSigningSecret(id);
  assert.equal(await slots.profileVersion(id), 5);
  assert.equal(await slots.admit(id, 'n1', limits, { now: t0 + 3, profileVersion: 4 }), 'profileChanged');
  assert.equal(await slots.admit(id, 'n1', limits, { now: t0 + 4, profileVersion: 5 }), undefined);
  // The window counted the two admitted calls only: with a limit of 2 per second, a third is refused.
  const tight = { maxConcurrentCalls: 10, callsPerSecond: 2 };
  assert.equal(await slots.admit(id, 'n2', tight, { now: t0 + 5, profileVersion: 5 }), 'callsPerSecond');
  assert.equal((await slots.usage(id)).active, 1);
});

test('release of several slots in one write: all or none, never below what the node holds', async () => {
  for (let i = 0; i < 3; i++) assert.equal(await slots.acquire('t-many', 'n1', 10), true);
  assert.equal(await slots.acquire('t-many', 'n2', 10), true);
  assert.equal(await slots.release('t-many', 'n1', 4), false, 'n1 holds 3');
  assert.deepEqual(await slots.usage('t-many'), { active: 4, byNode: { n1: 3, n2: 1 } });
  assert.equal(await slots.release('t-many', 'n1', 2), true);
  assert.deepEqual(await slots.usage('t-many'), { active: 2, byNode: { n1: 1, n2: 1 } });
});
