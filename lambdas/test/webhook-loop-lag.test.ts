import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { createLogger } from '@sipms/shared/util/logger';
import { LoopLagMeter } from '../src/dispatch/loop-lag.js';
import { postSignedCallback, webhookTimeOf } from '../src/dispatch/webhook-client.js';

// The webhook's own time of an attempt leaves out how late the dispatcher's event loop ran meanwhile: the
// local dispatcher shares its process (the bus, the API, other deliveries), and an answer that arrives while
// that loop is busy is read late, which the overload guard must count as the platform's (docs/operations.md,
// "Overload"). The webhook runs in a worker thread, so it answers while this thread's loop is blocked.
let worker: Worker;
let url: string;

before(async () => {
  worker = new Worker(
    `const { createServer } = require('node:http');
     const { parentPort } = require('node:worker_threads');
     const server = createServer((req, res) => {
       req.resume();
       req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 20));
     });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
    { eval: true },
  );
  const port = await new Promise<number>((ok) => worker.once('message', ok));
  url = `http://127.0.0.1:${port}/callEvent`;
});
after(() => worker?.terminate());

const post = () =>
  postSignedCallback({
    url,
    eventId: 'e-lag',
    rawBody: '{}',
    secrets: ['secret'],
    timeoutMs: 5000,
    retries: 0,
    policy: 'allow-loopback',
    addresses: AddressPolicy.fromSettings('allow-loopback'),
    logger: createLogger({ level: 'silent' }),
    tenantId: 't-lag',
  });

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the loop is busy elsewhere
  }
}

test("an answer read late because this process's loop was busy: the lateness is the attempt's lagMs, not webhook time", async () => {
  await post(); // the connection is open: the attempt below times only the request
  const sending = post();
  setTimeout(() => blockFor(300), 2);
  const outcome = await sending;
  assert.equal(outcome.ok, true);
  const [attempt] = outcome.attempts;
  assert.ok(attempt && attempt.ms >= 300, `the process saw ${attempt?.ms} ms`);
  assert.ok(attempt.lagMs !== undefined && attempt.lagMs >= 250, `lagMs ${attempt.lagMs}`);
  assert.ok(webhookTimeOf(attempt) < 150, `the webhook's own time ${webhookTimeOf(attempt)} ms (it answers in 20)`);
});

test('an attempt with the loop free: its time is (nearly) all the webhook’s', async () => {
  const outcome = await post();
  const [attempt] = outcome.attempts;
  assert.ok(attempt, 'one attempt');
  // Nothing here blocks the loop; a loaded machine may still make it a little late (lagMs from 10 ms on).
  assert.ok((attempt.lagMs ?? 0) < 100, `lagMs ${attempt.lagMs}`);
  assert.equal(webhookTimeOf(attempt), attempt.ms - (attempt.lagMs ?? 0));
  assert.ok(attempt.ms >= 15, `${attempt.ms} ms, the webhook's 20 included`);
});

test('LoopLagMeter: each watcher gets the lateness since it began, a block already under way included; it stops with the last', async () => {
  const meter = new LoopLagMeter(10);
  const first = meter.watch();
  await new Promise((r) => setTimeout(r, 30));
  const second = meter.watch();
  blockFor(120);
  // Read before the timer could run: the lateness due is counted all the same.
  const secondLag = second();
  await new Promise((r) => setTimeout(r, 30));
  const firstLag = first();
  assert.ok(secondLag >= 100 && secondLag < 200, `second ${secondLag.toFixed(0)} ms`);
  assert.ok(firstLag >= secondLag - 1 && firstLag < 220, `first ${firstLag.toFixed(0)} ms`);
  assert.equal(first(), firstLag, 'read once, kept');
  const again = meter.watch();
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(again() < 100, 'nothing blocked: little lateness, whatever else the machine runs');
});
