import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeCallbackPublisher, MAX_BYTES_PER_PUT } from '@sipms/shared/events/callback-publisher';
import type { BusEvent, CallbackEnvelope } from '@sipms/shared/events/envelope';
import { startLocalBus } from './helpers/local-bus.js';

// The media node's callback publisher against the local PutEvents endpoint, through the real SDK client:
// callbacks published together share requests, within PutEvents' limits, and each is delivered.
const envelope = (n: number, padding = ''): CallbackEnvelope =>
  ({
    id: `e${n}`,
    tenantId: 't1',
    sessionId: `s${n}`,
    seq: 1,
    type: 'callAnswered',
    time: new Date().toISOString(),
    nodeId: 'n1',
    expectsReply: false,
    payload: { sessionId: `s${n}`, seq: 1, timestamp: new Date().toISOString(), padding },
  }) as unknown as CallbackEnvelope;

async function withBus(
  run: (publisher: EventBridgeCallbackPublisher, requests: number[], delivered: BusEvent[]) => Promise<void>,
) {
  const { client, delivered, close } = await startLocalBus();
  const requests: number[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      requests.push(((args.input as { Entries?: unknown[] }).Entries ?? []).length);
      return next(args);
    },
    { step: 'initialize', name: 'countPuts' },
  );
  try {
    await run(new EventBridgeCallbackPublisher(client, 'default'), requests, delivered);
  } finally {
    await close();
  }
}

test('callbacks published in one turn share PutEvents requests of up to 10 entries; each is delivered', async () => {
  await withBus(async (publisher, requests, delivered) => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => publisher.publish(envelope(i))));
    assert.deepEqual(requests, [10, 10, 5]);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      delivered.map((e) => (e.detail as { id: string }).id).sort(),
      Array.from({ length: 25 }, (_, i) => `e${i}`).sort(),
    );
  });
});

test('a lone callback is sent at once, in its own request', async () => {
  await withBus(async (publisher, requests) => {
    const t0 = performance.now();
    await publisher.publish(envelope(1));
    const ms = performance.now() - t0;
    await publisher.publish(envelope(2));
    assert.deepEqual(requests, [1, 1]);
    assert.ok(ms < 200, `${ms.toFixed(1)} ms`);
  });
});

test('a request stays within 256 KB: large callbacks are split by size', async () => {
  await withBus(async (publisher, requests, delivered) => {
    const big = 'x'.repeat(100 * 1024);
    await Promise.all(Array.from({ length: 5 }, (_, i) => publisher.publish(envelope(i, big))));
    assert.deepEqual(requests, [2, 2, 1], `at most ${MAX_BYTES_PER_PUT} bytes per request`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(delivered.length, 5);
  });
});

// A fake client (the local bus accepts every well-formed entry, so it cannot refuse one of a batch): PutEvents'
// per-entry results, as EventBridge returns them, reach each callback on its own.
test('each callback of a batch succeeds or fails on its own; a failed request fails each of its callbacks', async () => {
  let fail = false;
  const publisher = new EventBridgeCallbackPublisher(
    {
      send: (async () => {
        if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' });
        return {
          FailedEntryCount: 1,
          Entries: [
            { EventId: 'a' },
            { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
            { EventId: 'c' },
          ],
        };
      }) as unknown as EventBridgeClient['send'],
    },
    'default',
  );
  const results = await Promise.allSettled([0, 1, 2].map((n) => publisher.publish(envelope(n))));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /ThrottlingException Rate exceeded/);
  fail = true;
  const failed = await Promise.allSettled([0, 1].map((n) => publisher.publish(envelope(n))));
  assert.deepEqual(
    failed.map((r) => (r.status === 'rejected' ? String(r.reason) : 'fulfilled')),
    ['Error: connect ECONNREFUSED', 'Error: connect ECONNREFUSED'],
  );
});
