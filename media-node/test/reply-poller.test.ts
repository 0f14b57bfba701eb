import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplyRecord } from '@sipms/shared/domain/session';
import { createLogger } from '@sipms/shared/util/logger';
import { ReplyPoller } from '../src/callbacks/reply-poller.js';

// A fake of SessionStore.getReplies (an in-memory table): this unit test is about the loop, not DynamoDB.
function fakeStore() {
  const items = new Map<string, ReplyRecord>();
  const calls: number[] = [];
  return {
    items,
    calls,
    async getReplies(keys: { sessionId: string; eventId: string }[]) {
      calls.push(keys.length);
      return keys.map((k) => items.get(k.eventId)).filter((r): r is ReplyRecord => r !== undefined);
    },
  };
}
const record = (eventId: string): ReplyRecord => ({ eventId, outcome: 'reply', reply: { ok: eventId }, at: '' });
const logger = createLogger({}, 'silent');

test('many waiters are served by one batched read per tick', async () => {
  const store = fakeStore();
  const poller = new ReplyPoller(store, logger);
  const waits = Array.from({ length: 50 }, (_, i) => poller.wait('s', `e${i}`, 2000));
  setTimeout(() => {
    for (let i = 0; i < 50; i++) store.items.set(`e${i}`, record(`e${i}`));
  }, 30);
  const results = await Promise.all(waits);
  assert.deepEqual(
    results.map((r) => r?.eventId),
    Array.from({ length: 50 }, (_, i) => `e${i}`),
  );
  assert.ok(
    store.calls.every((n) => n === 50),
    `every read asked for all due waiters: ${store.calls.join(',')}`,
  );
  assert.ok(store.calls.length < 20, `reads: ${store.calls.length}`);
  poller.close();
});

test('the deadline resolves undefined; abort resolves at once; no reads when idle', async () => {
  const store = fakeStore();
  const poller = new ReplyPoller(store, logger);
  const t0 = performance.now();
  assert.equal(await poller.wait('s', 'late', 150), undefined);
  assert.ok(performance.now() - t0 >= 140);
  const ctl = new AbortController();
  const aborted = poller.wait('s', 'x', 10_000, ctl.signal);
  ctl.abort();
  assert.equal(await aborted, undefined);
  const reads = store.calls.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(store.calls.length, reads, 'an idle poller does not read');
  assert.equal(poller.pending, 0);
});

test('a failing read is retried, not surfaced', async () => {
  const store = fakeStore();
  let fail = 2;
  const poller = new ReplyPoller(
    {
      getReplies: async (keys) => {
        if (fail-- > 0) throw new Error('throttled');
        return store.getReplies(keys);
      },
    },
    logger,
  );
  store.items.set('e1', record('e1'));
  assert.equal((await poller.wait('s', 'e1', 2000))?.eventId, 'e1');
});
