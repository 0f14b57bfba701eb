import assert from 'node:assert/strict';
import { test } from 'node:test';
import { usageMeter } from '../src/callbacks/usage-meter.js';
import { RecordingLogger } from './kit/logger.js';

// The node's usage meter sums counters per tenant and writes once per interval; flush writes at once.
test('counters of many calls: one write per tenant and interval, with the sums; flush writes the rest', async () => {
  const writes: { tenantId: string; counters: Record<string, number> }[] = [];
  const meter = usageMeter(
    {
      async record(tenantId, counters) {
        writes.push({ tenantId, counters: counters as Record<string, number> });
      },
    },
    new RecordingLogger(),
    'node-1',
    50,
  );
  for (let i = 0; i < 10; i++) {
    meter.record('t-a', { callAttempts: 1, answeredCalls: 1, callSeconds: 2 });
    meter.record('t-b', { callAttempts: 1 });
  }
  meter.record('t-a', { callSeconds: 0 });
  assert.equal(writes.length, 0, 'nothing before the interval');
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(writes, [
    { tenantId: 't-a', counters: { callAttempts: 10, answeredCalls: 10, callSeconds: 20 } },
    { tenantId: 't-b', counters: { callAttempts: 10 } },
  ]);
  meter.record('t-b', { ttsCharacters: 7 });
  await meter.flush();
  assert.deepEqual(writes.at(-1), { tenantId: 't-b', counters: { ttsCharacters: 7 } });
});

test("a tenant's writes go one after the other, each with its own write id", async () => {
  const log: string[] = [];
  const ids = new Set<string>();
  const meter = usageMeter(
    {
      async record(tenantId, _counters, _at, write) {
        assert.equal(write?.writer, 'node-1');
        ids.add(write!.id);
        log.push(`start ${tenantId}`);
        await new Promise((r) => setTimeout(r, 40));
        log.push(`end ${tenantId}`);
      },
    },
    new RecordingLogger(),
    'node-1',
    10,
  );
  meter.record('t-a', { callAttempts: 1 });
  await meter.flush();
  meter.record('t-a', { callAttempts: 1 });
  const first = meter.flush();
  meter.record('t-a', { callAttempts: 1 });
  await Promise.all([first, meter.flush()]);
  assert.deepEqual(log, ['start t-a', 'end t-a', 'start t-a', 'end t-a', 'start t-a', 'end t-a']);
  assert.equal(ids.size, 3);
});
