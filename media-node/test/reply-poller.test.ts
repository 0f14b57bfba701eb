import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplyRecord } from '@sipms/shared/domain/session';
import { createLogger } from '@sipms/shared/util/logger';
import { MAX_FIRST_POLL_MS, ReplyPoller } from '../src/callbacks/reply-poller.js';

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

test('a read that never answers: deadlines still end their waits on time; the read is abandoned and the next one serves', async () => {
  const store = fakeStore();
  const signals: AbortSignal[] = [];
  const poller = new ReplyPoller(
    {
      getReplies: (keys, signal) => {
        signals.push(signal!);
        // The first request is lost on the network: it never settles.
        if (signals.length === 1) return new Promise(() => undefined);
        return store.getReplies(keys);
      },
    },
    logger,
    undefined,
    undefined,
    300,
  );
  store.items.set('answered', record('answered'));
  const t0 = performance.now();
  const short = poller.wait('s', 'short', 150).then((r) => ({ r, ms: performance.now() - t0 }));
  const answered = poller.wait('s', 'answered', 5000).then((r) => ({ r, ms: performance.now() - t0 }));
  const within = <T>(p: Promise<T>, ms: number) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no result in ${ms} ms`)), ms)),
    ]);
  const s = await within(short, 2000);
  assert.equal(s.r, undefined);
  assert.ok(s.ms >= 140 && s.ms < 280, `the deadline ended the wait at ${s.ms.toFixed(0)} ms, during the hung read`);
  const a = await within(answered, 2000);
  assert.equal(a.r?.eventId, 'answered');
  assert.ok(a.ms >= 290, `served by the read after the abandoned one (${a.ms.toFixed(0)} ms)`);
  assert.equal(signals[0]!.aborted, true, 'the abandoned read was aborted');
  poller.close();
});

/** `n` waits at once whose replies are stored `afterMs` after they begin; resolves with the reads they took. */
async function waitsAnsweredAfter(
  poller: ReplyPoller,
  store: ReturnType<typeof fakeStore>,
  n: number,
  afterMs: number,
  tag: string,
): Promise<number> {
  const reads = store.calls.length;
  const waits = Array.from({ length: n }, (_, i) => {
    const id = `${tag}${i}`;
    setTimeout(() => store.items.set(id, record(id)), afterMs);
    return poller.wait('s', id, 5000);
  });
  const results = await Promise.all(waits);
  assert.ok(results.every((r) => r !== undefined));
  return store.calls.length - reads;
}

test('the first poll learns where replies arrive: fewer reads once round trips are known; it follows them down', async () => {
  const store = fakeStore();
  const poller = new ReplyPoller(store, logger);
  assert.equal(poller.firstPollMs, 2, "the schedule's own first delay until replies were seen");
  const before = await waitsAnsweredAfter(poller, store, 1, 40, 'a');
  for (let i = 0; i < 12; i++) await waitsAnsweredAfter(poller, store, 1, 40, `w${i}-`);
  assert.ok(poller.firstPollMs >= 25 && poller.firstPollMs <= 45, `first poll at ${poller.firstPollMs} ms`);
  const after = await waitsAnsweredAfter(poller, store, 1, 40, 'b');
  // At most half the reads (11 → 2 or 3 unloaded; timer jitter on a loaded machine can add one).
  assert.ok(after <= before / 2, `reads for one reply: ${before} before, ${after} once learned`);

  // Round trips get shorter: the first poll follows them within a few dozen replies.
  for (let i = 0; i < 6; i++) await waitsAnsweredAfter(poller, store, 8, 5, `s${i}-`);
  assert.ok(poller.firstPollMs <= 10, `first poll at ${poller.firstPollMs} ms after 5 ms round trips`);
  poller.close();
});

test('the learned first poll never goes past MAX_FIRST_POLL_MS', async () => {
  const store = fakeStore();
  const poller = new ReplyPoller(store, logger);
  await waitsAnsweredAfter(poller, store, 12, MAX_FIRST_POLL_MS + 250, 'slow');
  assert.equal(poller.firstPollMs, MAX_FIRST_POLL_MS);
  poller.close();
});
