import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { CallLimits, type TenantLimits } from '../../src/call/limits/call-limits.js';
import { FakeActiveCallStore, FakeCallRateCounter, RecordingLogger, settle } from '../kit/index.js';

/** Per-tenant limits on a node: attempts per second (a shared fixed window) and concurrent calls (all nodes). */

function limits(t: TestContext, defaults: TenantLimits = { maxConcurrentCalls: 2, callsPerSecond: 3 }) {
  let now = Date.parse('2024-05-01T10:00:00.100Z');
  const clock = () => now;
  const rate = new FakeCallRateCounter(clock);
  const active = new FakeActiveCallStore(clock);
  const logger = new RecordingLogger();
  const subject = new CallLimits('node-a', rate, active, (tenant) => ({ ...defaults, ...tenant.limits }), logger);
  t.after(() => subject.close());
  return {
    subject,
    rate,
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

  test('concurrent calls: this node and every other node count; refused naming maxConcurrentCalls', async (t) => {
    const { subject, active } = limits(t, { maxConcurrentCalls: 3, callsPerSecond: 100 });
    active.set('tn-acme', 'node-b', 1);
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(await subject.acquire(acme), undefined);
    assert.deepEqual(await subject.acquire(acme), {
      limit: 'maxConcurrentCalls',
      value: 3,
      message: 'at most 3 simultaneous calls',
    });
    await settle();
    assert.equal(active.countOf('tn-acme', 'node-a'), 2, 'this node publishes its own count');
  });

  test('release frees the slot (and publishes the lower count)', async (t) => {
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

  test('a placement counted by the API already (countAttempt: false) does not hit the rate', async (t) => {
    const { subject, rate } = limits(t, { maxConcurrentCalls: 100, callsPerSecond: 1 });
    assert.equal(await subject.acquire(acme, { countAttempt: false }), undefined);
    assert.equal(await subject.acquire(acme, { countAttempt: false }), undefined);
    assert.deepEqual(rate.hits, []);
    assert.equal(await subject.acquire(acme), undefined);
  });

  test('the rate store failing: the call is allowed and the failure logged', async (t) => {
    const { subject, rate, logger } = limits(t);
    rate.error = new Error('table unavailable');
    assert.equal(await subject.acquire(acme), undefined);
    const [line] = logger.find('call rate check failed; call allowed', 'warn');
    assert.equal((line!.fields.err as Error).message, 'table unavailable');
  });

  test('the active-call store failing: the call is allowed (this node still counts its own) and logged', async (t) => {
    const { subject, active, logger } = limits(t, { maxConcurrentCalls: 1, callsPerSecond: 100 });
    active.othersError = new Error('query failed');
    assert.equal(await subject.acquire(acme), undefined);
    assert.equal(logger.find('active call count unavailable; call allowed', 'warn').length, 1);
    assert.equal((await subject.acquire(acme))?.limit, 'maxConcurrentCalls', 'its own calls still count');
  });

  test('publishing failing is logged, never thrown', async (t) => {
    const { subject, active, logger } = limits(t);
    active.publishError = new Error('put failed');
    assert.equal(await subject.acquire(acme), undefined);
    subject.release('tn-acme');
    await settle();
    assert.equal(logger.find('active call count not published', 'warn').length, 2);
  });

  test('other nodes whose counts went stale no longer count', async (t) => {
    const { subject, active, advance } = limits(t, { maxConcurrentCalls: 1, callsPerSecond: 100 });
    active.set('tn-acme', 'node-dead', 1);
    assert.equal((await subject.acquire(acme))?.limit, 'maxConcurrentCalls');
    advance(21_000);
    assert.equal(await subject.acquire(acme), undefined);
  });
});
