import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { CallLimits, type TenantLimits } from '../../src/call/limits/call-limits.js';
import { FakeCallSlots, RecordingLogger, settle, waitFor } from '../kit/index.js';

/** Per-tenant limits on a node: attempts per second (a shared fixed window) and concurrent calls (all nodes). */

/** `releaseBatchMs` 0 (each slot written back at once) unless a test is about the batching. */
function limits(
  t: TestContext,
  defaults: TenantLimits = { maxConcurrentCalls: 2, callsPerSecond: 3 },
  releaseBatchMs = 0,
) {
  let now = Date.parse('2024-05-01T10:00:00.100Z');
  const clock = () => now;
  const active = new FakeCallSlots(clock);
  const logger = new RecordingLogger();
  const subject = new CallLimits(
    'node-a',
    active,
    (tenant) => ({ ...defaults, ...tenant.limits }),
    logger,
    releaseBatchMs,
  );
  t.after(() => subject.close());
  return {
    subject,
    active,
    logger,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const acme = { tenantId: 'tn-acme' };

describe('call limits', { concurrency: true }, () => {
  test('calls per second: the attempt over the limit is refused naming the limit; the next second allows again', async (t) => {
    const { subject, advance } = limits(t, { maxConcurrentCalls: 100, callsPerSecond: 3 });
    for (let i = 0; i < 3; i++) assert.equal(await subject.acquire(acme), undefined);
    assert.deepEqual(await subject.acquire(acme), {
      limit: 'callsPerSecond',
      value: 3,
      message: 'at most 3 new calls per second',
    });
    advance(1000);
    assert.equal(await subject.acquire(acme), undefined);
  });

  test('a refused attempt takes no slot', async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 100, callsPerSecond: 1 });
    assert.equal(await subject.acquire(acme), undefined);
    assert.ok(await subject.acquire(acme));
    await settle();
    assert.equal(active.countOf('tn-acme', 'node-a'), 1);
  });

  test("concurrent calls: every node's slots count; refused naming maxConcurrentCalls", async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 3, callsPerSecond: 100 });
    active.set('tn-acme', 'node-b', 1);
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await subject.acquire(acme), undefined);
    assert.deepEqual(await subject.acquire(acme), {
      limit: 'maxConcurrentCalls',
      value: 3,
      message: 'at most 3 simultaneous calls',
    });
    assert.equal(active.countOf('tn-acme', 'node-a'), 2, 'this node holds its own slots');
    assert.deepEqual(subject.tenantsHeld(), ['tn-acme']);
  });

  test('a burst of 50 concurrent attempts against a limit of 5 admits exactly 5 (the race once admitted all)', async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 5, callsPerSecond: 1000 });
    const results = await Promise.all(Array.from({ length: 50 }, () => subject.acquire(acme)));
    assert.equal(results.filter((r) => r === undefined).length, 5);
    assert.equal(active.active('tn-acme'), 5);
  });

  test('release frees the slot; releasing more than was taken never goes below zero', async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 2, callsPerSecond: 100 });
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal((await subject.acquire(acme))?.limit, 'maxConcurrentCalls');
    subject.release('tn-acme');
    await settle();
    assert.equal(active.countOf('tn-acme', 'node-a'), 1);
    assert.equal(await subject.acquire(acme), undefined);
    subject.release('tn-acme');
    subject.release('tn-acme');
    subject.release('tn-acme'); // one too many: never below zero
    await settle();
    assert.equal(active.countOf('tn-acme', 'node-a'), 0);
    assert.deepEqual(subject.tenantsHeld(), []);
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await subject.acquire(acme), undefined);
  });

  test('tenants are counted apart, and a tenant may carry its own limits', async (t) => {
    const { subject } = limits(t, { maxConcurrentCalls: 1, callsPerSecond: 100 });
    const big = { tenantId: 'tn-big', limits: { maxConcurrentCalls: 3 } };
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal((await subject.acquire(acme))?.limit, 'maxConcurrentCalls');
    for (let i = 0; i < 3; i++) assert.equal(await subject.acquire(big), undefined);
    assert.equal((await subject.acquire(big))?.value, 3);
  });

  test('a placement counted by the API already (countAttempt: false) takes a slot without counting', async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 100, callsPerSecond: 1 });
    assert.equal(await subject.acquire(acme, { countAttempt: false }), undefined);
    assert.equal(await subject.acquire(acme, { countAttempt: false }), undefined);
    assert.deepEqual(active.admissions, []);
    assert.equal(active.countOf('tn-acme', 'node-a'), 2);
    assert.equal(await subject.acquire(acme), undefined);
  });

  test('a call refused by the concurrent limit is not counted in the window', async (t) => {
    const { subject } = limits(t, { maxConcurrentCalls: 1, callsPerSecond: 2 });
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal((await subject.acquire(acme))?.limit, 'maxConcurrentCalls');
    subject.release('tn-acme');
    await settle();
    assert.equal(await subject.acquire(acme), undefined, 'the second of two admitted this second');
  });

  test('the slot store failing: the call is allowed, logged, and nothing is given back for it', async (t) => {
    const { subject, active, logger } = limits(t, { maxConcurrentCalls: 1, callsPerSecond: 100 });
    active.error = new Error('update failed');
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(logger.find('call slot store unavailable; call allowed', 'warn').length, 1);
    active.error = undefined;
    subject.release('tn-acme');
    await settle();
    assert.equal(await subject.acquire(acme), undefined, 'the slot is free: none was taken');
  });

  test('slots given back within the batch interval go back per tenant in one write; the heartbeat names their tenants until then', async (t) => {
    // An interval long enough that a loaded machine's settle() cannot outlast it.
    const { subject, active } = limits(t, { maxConcurrentCalls: 10, callsPerSecond: 100 }, 500);
    const other = { tenantId: 'tn-other' };
    for (let i = 0; i < 3; i++) assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await subject.acquire(other), undefined);
    subject.release('tn-acme');
    subject.release('tn-acme');
    subject.release('tn-other');
    await settle();
    assert.deepEqual(active.releases, [], 'nothing written yet');
    assert.deepEqual(subject.tenantsHeld().sort(), ['tn-acme', 'tn-other'], 'a slot not yet given back is still held');
    await waitFor(() => active.releases.length === 2, 'the batch written when its interval ends');
    assert.deepEqual(active.releases.sort(), ['tn-acme×2', 'tn-other×1']);
    await settle();
    assert.equal(active.countOf('tn-acme', 'node-a'), 1);
    assert.equal(active.countOf('tn-other', 'node-a'), 0);
    assert.deepEqual(subject.tenantsHeld(), ['tn-acme']);
    subject.release('tn-acme');
    await subject.close(); // a stopping node writes what is pending at once
    assert.equal(active.countOf('tn-acme', 'node-a'), 0);
    assert.deepEqual(subject.tenantsHeld(), []);
  });

  test('a batch larger than what the node still holds (some reclaimed, new ones taken since) goes back one at a time', async (t) => {
    const { subject, active, logger } = limits(t, { maxConcurrentCalls: 10, callsPerSecond: 100 }, 20);
    for (let i = 0; i < 3; i++) assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await active.reclaim('tn-acme', 'node-a'), 3);
    active.set('tn-acme', 'node-b', 1);
    assert.equal(await subject.acquire(acme), undefined, 'a new call after the reclaim');
    for (let i = 0; i < 3; i++) subject.release('tn-acme'); // three of the four calls end
    await subject.close();
    assert.deepEqual(active.releases, ['tn-acme×3', 'tn-acme×1', 'tn-acme×1']);
    assert.equal(active.countOf('tn-acme', 'node-a'), 0);
    assert.equal(active.countOf('tn-acme', 'node-b'), 1, "node-b's slot is untouched");
    assert.equal(logger.find('call slot already reclaimed (this node looked dead)', 'warn').length, 1);
  });

  test('a slot reclaimed meanwhile (the node looked dead): its release is logged, nothing decremented twice', async (t) => {
    const { subject, active, logger } = limits(t, { maxConcurrentCalls: 2, callsPerSecond: 100 });
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await active.reclaim('tn-acme', 'node-a'), 1);
    active.set('tn-acme', 'node-b', 1);
    subject.release('tn-acme');
    await settle();
    assert.equal(logger.find('call slot already reclaimed (this node looked dead)', 'warn').length, 1);
    assert.equal(active.active('tn-acme'), 1, "node-b's slot is untouched");
  });
});
