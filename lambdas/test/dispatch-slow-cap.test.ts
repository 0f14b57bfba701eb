import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SessionStore } from '@sipms/shared/data/session-store';
import { SlowCallbackSlots } from '@sipms/shared/data/slow-callback-slots';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { startDynamoDbLocal } from '../../infra/src/local/dynamodb-local.js';
import { type DispatchDeps, dispatchCallback } from '../src/dispatch/dispatch-callback.js';

// One tenant's hanging webhook must not hold the dispatcher's capacity: past SLOW_CALLBACK_MS a delivery
// takes one of the tenant's slow-callback slots, and one that finds none stops at once with the defined
// fallback. Against dynalite (the real DynamoDB API) and real HTTP webhooks.
const TABLE = 'dispatch-slow-cap-test';
const AFTER_MS = 200;
const CAP = 3;

/** A webhook that answers `{}` after `delayMs`, counting the POSTs per path. */
async function webhook(delayMs: number): Promise<{ url: string; posts: string[]; server: Server }> {
  const posts: string[] = [];
  const server = createServer((req, res) => {
    posts.push(req.url ?? '');
    req.resume();
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }, delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, posts, server };
}

describe('dispatcher: per-tenant cap on slow callbacks', () => {
  let dir: string;
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
  let doc: DynamoDBDocumentClient;
  let tenants: TenantStore;
  let sessions: SessionStore;
  let slots: SlowCallbackSlots;
  let slowHook: Awaited<ReturnType<typeof webhook>>;
  let fastHook: Awaited<ReturnType<typeof webhook>>;
  let slowTenant: string;
  let fastTenant: string;
  const logger = createLogger({}, 'error', () => {});

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dispatch-slow-cap-'));
    dynamo = await startDynamoDbLocal(dir, TABLE);
    doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'local',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
    tenants = new TenantStore(doc, TABLE, 'sip.test');
    sessions = new SessionStore(doc, TABLE);
    slots = new SlowCallbackSlots(doc, TABLE);
    slowHook = await webhook(2500);
    fastHook = await webhook(0);
    slowTenant = (await tenants.create({ name: 'Slow', callbackUrl: slowHook.url })).tenant.tenantId;
    // The fallback URL is the same slow server: a delivery stopped by the cap must not try it.
    await tenants.update(slowTenant, {
      callbackTimeoutMs: 5000,
      callbackRetries: 1,
      fallbackUrl: `${slowHook.url}/fb`,
    });
    fastTenant = (await tenants.create({ name: 'Fast', callbackUrl: fastHook.url })).tenant.tenantId;
  });

  after(async () => {
    slowHook.server.closeAllConnections();
    fastHook.server.closeAllConnections();
    await new Promise((r) => slowHook.server.close(r));
    await new Promise((r) => fastHook.server.close(r));
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  });

  function envelope(tenantId: string): CallbackEnvelope {
    const sessionId = randomId('s');
    const time = new Date().toISOString();
    return {
      id: randomId('e'),
      tenantId,
      sessionId,
      seq: 1,
      type: 'getIvrCommand',
      time,
      nodeId: 'n1',
      expectsReply: true,
      payload: { sessionId, seq: 1, timestamp: time },
    };
  }

  const deps = (): DispatchDeps => ({
    tenants,
    sessions,
    urlPolicy: 'allow-loopback',
    logger,
    slowCallbacks: { slots, afterMs: AFTER_MS, limitFor: (t) => (t.tenantId === slowTenant ? CAP : 100) },
  });

  test('past the cap a slow delivery stops at once with the fallback and a reason; another tenant is untouched', async () => {
    const slowEnvs = Array.from({ length: CAP + 3 }, () => envelope(slowTenant));
    const started = Date.now();
    const finishedAt = new Map<string, number>();
    const slowRuns = slowEnvs.map((env) =>
      dispatchCallback(env, deps()).then((r) => {
        finishedAt.set(env.id, Date.now() - started);
        return r;
      }),
    );
    // While the slow tenant's deliveries wait, the fast tenant's callbacks go through at their own speed.
    await new Promise((r) => setTimeout(r, AFTER_MS * 3));
    assert.equal(await slots.inFlight(slowTenant), CAP, 'the slots held while the webhook hangs');
    const fastStarted = Date.now();
    const fastResults = await Promise.all(
      Array.from({ length: 5 }, () => dispatchCallback(envelope(fastTenant), deps())),
    );
    const fastMs = Date.now() - fastStarted;
    assert.deepEqual(
      fastResults.map((r) => r.status),
      Array(5).fill('delivered'),
    );
    assert.ok(fastMs < 1500, `the other tenant's callbacks took ${fastMs} ms`);

    const results = await Promise.all(slowRuns);
    assert.ok(results.every((r) => r.status === 'delivered'));
    const replies = await Promise.all(slowEnvs.map((e) => sessions.getReply(e.sessionId, e.id)));
    const stopped = replies.filter((r) => r?.outcome === 'fallback');
    const answered = replies.filter((r) => r?.outcome === 'reply');
    assert.equal(answered.length, CAP, 'the deliveries holding a slot waited for the webhook and got its reply');
    assert.equal(stopped.length, 3, 'the others got the defined fallback');
    for (const r of stopped)
      assert.match(r?.reason ?? '', /stopped: 3 of the tenant's callbacks already wait .*maxSlowCallbacks/);
    const stoppedIds = slowEnvs.filter((_, i) => replies[i]?.outcome === 'fallback').map((e) => e.id);
    for (const id of stoppedIds) {
      const ms = finishedAt.get(id) ?? Number.POSITIVE_INFINITY;
      assert.ok(ms < 2000, `a stopped delivery ended after ${ms} ms, not when it found the cap full`);
    }
    // The journal says why, on the callback's own entry.
    const journal = await sessions.readJournal(
      slowEnvs[replies.findIndex((r) => r?.outcome === 'fallback')]!.sessionId,
    );
    assert.match(JSON.stringify(journal), /maxSlowCallbacks/);
    assert.equal(
      slowHook.posts.filter((p) => p.includes('/fb/')).length,
      0,
      'no delivery stopped by the cap tried the fallback URL',
    );
    assert.equal(slowHook.posts.length, CAP + 3, 'one POST each: no retry after the stop');
    assert.equal(await slots.inFlight(slowTenant), 0, 'every slot given back');
  });

  /** The slot store, counting the slots asked for. */
  function countingSlots() {
    const counted = {
      acquired: 0,
      acquire: (...args: Parameters<SlowCallbackSlots['acquire']>) => {
        counted.acquired++;
        return slots.acquire(...args);
      },
      release: (tenantId: string, holder: string) => slots.release(tenantId, holder),
    };
    return counted;
  }

  // Finding (bench:full-call, 25 calls/s on 2 cores): the slot item took 13.7 table requests per call while the
  // bench's webhook answered at once — the clock ran from the start of the delivery, so the dispatcher's own
  // slowness counted as the webhook's. Only the wait on the webhook may count.
  test("the dispatcher's own slow table write after a fast webhook's answer takes no slot", async () => {
    const counted = countingSlots();
    const slowStore = Object.create(sessions) as SessionStore;
    slowStore.storeOutcome = async (...args: Parameters<SessionStore['storeOutcome']>) => {
      await new Promise((r) => setTimeout(r, AFTER_MS * 3));
      return sessions.storeOutcome(...args);
    };
    const env = envelope(fastTenant);
    const result = await dispatchCallback(env, {
      ...deps(),
      sessions: slowStore,
      slowCallbacks: { slots: counted, afterMs: AFTER_MS, limitFor: () => 100 },
    });
    assert.equal(result.status, 'delivered');
    assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
    assert.equal(counted.acquired, 0, 'a slot was asked for although the webhook answered at once');
  });

  // Finding (bench:full-call at 40 calls/s): 100-200 deliveries queued in the tenant's connection pool (32
  // connections) behind answers this process had not read yet; the wait in our own queue counted as the webhook's.
  test('a burst of 100 callbacks to a webhook that answers each in 300 ms takes no slot (threshold 1 s)', async () => {
    const hook = await webhook(300);
    try {
      const tenantId = (await tenants.create({ name: 'Busy', callbackUrl: hook.url })).tenant.tenantId;
      const counted = countingSlots();
      const burst = Array.from({ length: 100 }, () => envelope(tenantId));
      const results = await Promise.all(
        burst.map((env) =>
          dispatchCallback(env, {
            ...deps(),
            slowCallbacks: { slots: counted, afterMs: 1000, limitFor: () => 100 },
          }),
        ),
      );
      assert.ok(results.every((r) => r.status === 'delivered'));
      assert.equal(hook.posts.length, 100);
      assert.equal(counted.acquired, 0, `${counted.acquired} of 100 deliveries took a slot`);
    } finally {
      hook.server.closeAllConnections();
      await new Promise((r) => hook.server.close(r));
    }
  });

  test("an answer that arrived while the dispatcher's event loop was busy is read before a slot is taken", async () => {
    // The webhook runs in its own process, so it answers while this one is blocked.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => {
           res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}');
           process.stdout.write('answered ' + Date.now() + '\\n'); }); })
         .listen(0, '127.0.0.1', function () { process.stdout.write('port ' + this.address().port + '\\n'); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    const BLOCK_MS = AFTER_MS * 5;
    let blockEnded = 0;
    const blockAfterSend = () =>
      // The request's body is written in the same turn as its headers: block in the next one.
      setImmediate(() => {
        const until = Date.now() + BLOCK_MS;
        while (Date.now() < until) {
          // busy: the dispatcher's process has no core for BLOCK_MS
        }
        blockEnded = Date.now();
      });
    try {
      while (!/port (\d+)/.test(out)) await new Promise((r) => setTimeout(r, 20));
      const port = Number(/port (\d+)/.exec(out)?.[1]);
      const tenantId = (await tenants.create({ name: 'Other process', callbackUrl: `http://127.0.0.1:${port}/hooks` }))
        .tenant.tenantId;
      const counted = countingSlots();
      const env = envelope(tenantId);
      diagnostics.subscribe('undici:client:sendHeaders', blockAfterSend);
      let result: Awaited<ReturnType<typeof dispatchCallback>>;
      try {
        result = await dispatchCallback(env, {
          ...deps(),
          slowCallbacks: { slots: counted, afterMs: AFTER_MS, limitFor: () => 100 },
        });
      } finally {
        diagnostics.unsubscribe('undici:client:sendHeaders', blockAfterSend);
      }
      assert.equal(result.status, 'delivered');
      const answeredAt = Number(/answered (\d+)/.exec(out)?.[1]);
      assert.ok(blockEnded > 0 && answeredAt < blockEnded, 'precondition: the webhook answered during the block');
      assert.equal((await sessions.getReply(env.sessionId, env.id))?.outcome, 'reply');
      assert.equal(counted.acquired, 0, 'a slot was asked for although the answer was waiting to be read');
    } finally {
      child.kill();
    }
  });

  test('a slot map full of expired leases (holders that died) is swept by the next taker', async () => {
    const tenantId = randomId('t');
    const now = Date.now();
    assert.ok(await slots.acquire(tenantId, 'd_dead1', now + 50, 2, now));
    assert.ok(await slots.acquire(tenantId, 'd_dead2', now + 50, 2, now));
    assert.equal(await slots.acquire(tenantId, 'd_live', now + 60_000, 2, now), false, 'full while both leases run');
    assert.ok(await slots.acquire(tenantId, 'd_live', now + 60_000, 2, now + 100), 'expired holders no longer count');
    assert.equal(await slots.inFlight(tenantId, now + 100), 1);
    await slots.release(tenantId, 'd_live');
    assert.equal(await slots.inFlight(tenantId, now + 100), 0);
    await assert.rejects(slots.acquire(tenantId, 'bad.id', now + 1000, 2), /not a safe key/);
  });
});
