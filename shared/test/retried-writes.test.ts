import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createDocumentClient } from '../src/aws/document-client.js';
import { SessionStore } from '../src/data/session-store.js';
import { UsageStore } from '../src/data/usage-store.js';
import { startTable } from './helpers/dynamo-table.js';
import { useLocalEndpoints } from './helpers/local-endpoints.js';

// A conditional write whose answer is lost: the request reached the table (dynalite) and was applied, the
// answer never came back, the SDK timed out and sent the request again. The retry must find the write as its
// own, not as someone else's. The fault is real TCP: a proxy in front of dynalite that drops one answer.
const TABLE = 'retried-writes-test';
let table: Awaited<ReturnType<typeof startTable>>;
let proxy: ReturnType<typeof createServer>;
const sockets = new Set<Socket>();
/** Set to drop the answer to the next request that arrives (on whichever connection carries it). */
let dropNextAnswer = false;
let dropped = 0;

before(async () => {
  table = await startTable(TABLE);
  const target = new URL(table.endpoint);
  proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    let swallow = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => {
      if (dropNextAnswer) {
        dropNextAnswer = false;
        swallow = true;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (swallow) dropped += 1;
      else client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  useLocalEndpoints({ dynamodb: `http://127.0.0.1:${(proxy.address() as { port: number }).port}` });
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => proxy.close(r));
  await table.close();
});

/** The product's client with short limits, so the lost answer times out in 300 ms. */
const store = () => new SessionStore(createDocumentClient({ connectionTimeout: 1000, requestTimeout: 300 }), TABLE);

test('a delivery claim whose answer was lost: the retry finds its own claim and the delivery goes on', async () => {
  const sessions = store();
  dropped = 0;
  dropNextAnswer = true;
  const claim = await sessions.claimDelivery('s-claim', 'e1', { holder: 'me', leaseMs: 60_000 });
  assert.ok(dropped > 0, 'the first answer was dropped');
  // Its own first attempt might have taken a dead holder's claim over: the delivery checks for a stored outcome.
  assert.deepEqual(claim, { takenOver: true });
  // Another delivery still finds the claim held.
  assert.equal(await sessions.claimDelivery('s-claim', 'e1', { holder: 'other', leaseMs: 60_000 }), false);
});

test('a session end whose answer was lost: the retry finds the session ended by itself, not by a sweeper', async () => {
  const sessions = store();
  const createdAt = new Date().toISOString();
  for (const sessionId of ['s-end', 's-swept']) {
    await sessions.create({ sessionId, tenantId: 't1', nodeId: 'n1', state: 'active', createdAt, participants: {} });
  }
  dropped = 0;
  dropNextAnswer = true;
  assert.equal(await sessions.end('s-end', 'hangup'), true, 'reported once: sessionCompleted is sent');
  assert.ok(dropped > 0, 'the first answer was dropped');
  assert.equal((await sessions.getStored('s-end'))?.endReason, 'hangup');
  // A session a sweeper completed is still not the node's to report.
  assert.ok(
    await sessions.claimNodeFailure('s-swept', 'n1', { endedAt: new Date().toISOString(), envelope: { id: 'x' } }),
  );
  assert.equal(await sessions.end('s-swept', 'hangup'), false);
});

test('a usage add whose answer was lost is counted once; the next write of the same writer counts again', async () => {
  const usage = new UsageStore(createDocumentClient({ connectionTimeout: 1000, requestTimeout: 300 }), TABLE);
  const at = new Date('2026-11-30T12:00:00Z');
  dropped = 0;
  dropNextAnswer = true;
  await usage.record('t-usage', { callSeconds: 30, answeredCalls: 1 }, at, { writer: 'node-1', id: 'w1' });
  assert.ok(dropped > 0, 'the first answer was dropped');
  await usage.record('t-usage', { callSeconds: 5 }, at, { writer: 'node-1', id: 'w2' });
  await usage.record('t-usage', { callSeconds: 1 }, at, { writer: 'node-2', id: 'w2' });
  const report = await usage.query('t-usage', '2026-11-30', '2026-11-30');
  assert.equal(report.totals.callSeconds, 36);
  assert.equal(report.totals.answeredCalls, 1);
});
