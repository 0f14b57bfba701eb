import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { childrenOf } from '../src/processes.js';
import { renderScenario, runSipp, type SippResult, startSippCallee } from '../src/sipp.js';
import { assertUsageGrew, type UsageTotals, usageTotals as usageTotalsOf } from '../src/usage.js';
import { type ReceivedCallback, WebhookServer } from '../src/webhook-server.js';

// Fault injection (docs/operations.md): the real single-machine deployment, real SIPp callers and a real
// webhook, while a media node or its rtpengine is killed, the node is told to stop, or the webhook
// misbehaves. Every case ends with the same three checks: each session has exactly one sessionCompleted
// (with the reason the fault explains), usage counts the answered calls, and the next call is served.

const RTP = { min: 32000, max: 32399 };
const NUMBER = '+4940777001';
const DRAIN_MS = 4000;

describe('fault injection: every call ends once, usage holds, the next call is served', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  /** What the webhook answers to getIvrCommand; by default `{}`: the caller waits in silence. */
  let ivrReply: (cb: ReceivedCallback) => { status?: number; body?: unknown; delayMs?: number } = () => ({ body: {} });
  /** What the webhook answers to newCall; by default the IVR. */
  let newCallReply: () => unknown = () => ({ action: 'ivr' });

  before(async () => {
    stack = await startLocalStack({
      rtpPortMin: RTP.min,
      rtpPortMax: RTP.max,
      env: {
        DRAIN_TIMEOUT_MS: String(DRAIN_MS),
        TENANT_MAX_CONCURRENT_CALLS: '100',
        TENANT_CALLS_PER_SECOND: '1000',
      },
    });
    hook = new WebhookServer((cb) => {
      if (cb.name === 'newCall') return { body: newCallReply() };
      if (cb.name === 'getIvrCommand') return ivrReply(cb);
      return undefined;
    });
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    await api.signup('Faults');
    // The default callback timeout and retries: a busy machine (20 callers at once after a node restart)
    // must not turn a slow answer into a failed call. The "webhook hangs" case sets its own.
    const patched = await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    assert.equal((await api.call('PUT', `/v1/numbers/${encodeURIComponent(NUMBER)}`)).status, 201);
  });

  beforeEach(async () => {
    ivrReply = () => ({ body: {} });
    newCallReply = () => ({ action: 'ivr' });
    // The node writes usage once a second: the previous test's calls are counted before this one's start.
    await new Promise((r) => setTimeout(r, 1500));
  });

  after(async () => {
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  /** One caller that is answered and waits up to `waitSec` for the service's BYE. */
  async function caller(waitSec = 20): Promise<SippResult> {
    const xml = await renderScenario('uac-wait-bye.xml', { waitMs: waitSec * 1000 });
    return runSipp(
      [
        '-sf',
        xml,
        '-s',
        NUMBER,
        '-m',
        '1',
        '-mp',
        String(await freeSippMediaPort()),
        '-timeout',
        `${waitSec + 10}s`,
        `${stack.sipHost}:${stack.sipPort}`,
      ],
      { timeoutMs: (waitSec + 20) * 1000 },
    );
  }

  /** Sessions whose newCall arrived after `since` (the webhook's clock). */
  function sessionsSince(since: number): string[] {
    return hook.received
      .filter((cb) => cb.name === 'newCall' && cb.at >= since)
      .map((cb) => (cb.body as { sessionId: string }).sessionId);
  }

  /** Exactly one sessionCompleted per session, each with a reason `expect` accepts; returns them. */
  async function completedOnce(
    sessions: string[],
    expect: (reason: string) => boolean,
    timeoutMs = 30_000,
  ): Promise<Map<string, { reason: string; sessionDuration: number }>> {
    const deadline = Date.now() + timeoutMs;
    const done = () => sessions.every((id) => completions(id).length > 0);
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    // A second sessionCompleted would arrive right after the first: give it the chance to show.
    await new Promise((r) => setTimeout(r, 1000));
    const out = new Map<string, { reason: string; sessionDuration: number }>();
    for (const id of sessions) {
      const list = completions(id);
      assert.equal(list.length, 1, `session ${id}: ${list.length} sessionCompleted (${JSON.stringify(list)})`);
      const body = list[0]! as { reason: string; sessionDuration: number };
      assert.ok(expect(body.reason), `session ${id}: unexpected reason ${body.reason}`);
      out.set(id, body);
    }
    return out;
  }

  function completions(sessionId: string): unknown[] {
    return hook.received
      .filter((cb) => cb.name === 'sessionCompleted' && (cb.body as { sessionId?: string }).sessionId === sessionId)
      .map((cb) => cb.body);
  }

  const usageTotals = () => usageTotalsOf(api);

  async function assertUsage(
    before: UsageTotals,
    answered: number,
    completed: Map<string, { sessionDuration: number }>,
    minSecondsEach: number,
  ): Promise<void> {
    const seconds = [...completed.values()].map((c) => c.sessionDuration);
    await assertUsageGrew(api, before, answered, seconds, minSecondsEach);
  }

  /** The next caller is answered and hung up by the service: the deployment serves calls again. */
  async function nextCallServed(withinMs = 30_000): Promise<void> {
    ivrReply = () => ({ body: { phrases: [{ format: 'silence', durationMs: 300 }], hangup: true } });
    const deadline = Date.now() + withinMs;
    let last: SippResult | undefined;
    while (Date.now() < deadline) {
      last = await caller(8);
      if (last.code === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(`no call served within ${withinMs} ms: ${last?.errors}`);
  }

  /**
   * Waits (bounded) until `count` callers since `since` are in IVR; if not, fails with what the webhook got,
   * what the callers that already ended said and the stack's last log lines.
   */
  async function inIvr(since: number, count: number, calls: Promise<SippResult>[] = []): Promise<void> {
    const deadline = Date.now() + 20_000;
    const inIvrNow = () => hook.received.filter((cb) => cb.name === 'getIvrCommand' && cb.at >= since).length;
    while (inIvrNow() < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (inIvrNow() === count) return;
    const ended = await Promise.all(
      calls.map((c) => Promise.race([c, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))])),
    );
    const callers = ended.flatMap((r, i) => (r ? [`caller ${i}: exit ${r.code} ${r.errors.slice(0, 300)}`] : []));
    assert.fail(
      `${inIvrNow()} of ${count} callers in IVR; newCall callbacks: ${sessionsSince(since).length}\n` +
        `${callers.join('\n') || 'no caller has ended'}\nthe stack said:\n${stack.logs.slice(-10).join('\n')}`,
    );
  }

  async function mediaNodePid(): Promise<number> {
    const node = childrenOf(stack.process.pid!).find((c) => c.cmdline.includes('media-node/main.mjs'));
    assert.ok(node, 'the media node process');
    return node.pid;
  }

  async function rtpenginePid(): Promise<number> {
    return Number((await readFile(join(stack.dataDir, 'run', 'node-1', 'rtpengine.pid'), 'utf8')).trim());
  }

  test('kill -9 of the media node mid-call: restarted, its call ends with nodeFailed, the next call is served', async () => {
    const since = Date.now();
    const usage0 = await usageTotals();
    const calls = [caller(12), caller(12)];
    await hook.waitFor('getIvrCommand', (cb) => cb.at >= since);
    await inIvr(since, 2, calls);
    await new Promise((r) => setTimeout(r, 1500)); // answered a moment: there is call time to bill
    const killed = await mediaNodePid();
    process.kill(killed, 'SIGKILL');
    const sessions = sessionsSince(since);
    assert.equal(sessions.length, 2);
    const completed = await completedOnce(sessions, (r) => r === 'nodeFailed');
    await assertUsage(usage0, 2, completed, 0); // billed up to the node's last heartbeat
    assert.notEqual(await mediaNodePid(), killed, 'a new media node process');
    await nextCallServed();
    await Promise.all(calls); // they never got a BYE from the dead node: their results do not matter
  });

  test('kill -9 of rtpengine during IVR: the call ends with mediaFailed, rtpengine is restarted, the next call is served', async () => {
    const since = Date.now();
    const usage0 = await usageTotals();
    const call = caller(20);
    await hook.waitFor('getIvrCommand', (cb) => cb.at >= since);
    await new Promise((r) => setTimeout(r, 1000));
    const killed = await rtpenginePid();
    process.kill(killed, 'SIGKILL');
    const run = await call;
    assert.equal(run.code, 0, `the caller gets a BYE: ${run.errors}`);
    const sessions = sessionsSince(since);
    const completed = await completedOnce(sessions, (r) => r === 'mediaFailed');
    await assertUsage(usage0, 1, completed, 1);
    await nextCallServed();
    assert.notEqual(await rtpenginePid(), killed, 'a new rtpengine');
  });

  test('kill -9 of rtpengine during a bridge: caller and callee get BYE, mediaFailed, the next call is served', async () => {
    const callee = await startSippCallee();
    newCallReply = () => ({ action: 'call', destination: callee.uri() });
    const since = Date.now();
    const usage0 = await usageTotals();
    const call = caller(20);
    await hook.waitFor('callAnswered', (cb) => cb.at >= since);
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(await rtpenginePid(), 'SIGKILL');
    const [callerRun, calleeRun] = await Promise.all([call, callee.run]);
    assert.equal(callerRun.code, 0, `the caller gets a BYE: ${callerRun.errors}`);
    assert.equal(calleeRun.code, 0, `the callee gets a BYE: ${calleeRun.errors}`);
    const sessions = sessionsSince(since);
    const completed = await completedOnce(sessions, (r) => r === 'mediaFailed');
    const notified = hook.received.some(
      (cb) => cb.name === 'callNotify' && cb.at >= since && (cb.body as { event?: string }).event === 'mediaFailed',
    );
    assert.ok(notified, 'callNotify mediaFailed');
    // Both legs were answered: the caller and the callee are billed, each for its own time.
    await assertUsage(usage0, 2, completed, 0.5);
    newCallReply = () => ({ action: 'ivr' });
    await nextCallServed();
  });

  test('rtpengine that keeps dying: the node gives up, leaves the registry, exits 1 and is started afresh', async () => {
    const node = await mediaNodePid();
    // More than 5 exits within a minute (earlier tests' kills count too): each time wait for the restarted
    // rtpengine and kill it again, until the node gives up and is replaced.
    let last = 0;
    for (let round = 1; round <= 8 && (await mediaNodePid().catch(() => node)) === node; round++) {
      const deadline = Date.now() + 5000;
      let pid = await rtpenginePid().catch(() => 0);
      while ((pid === last || pid === 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        pid = await rtpenginePid().catch(() => 0);
      }
      if (pid === last || pid === 0) break; // no new rtpengine: the node has given up
      last = pid;
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        // Already gone between reading its pid file and the kill: the next round waits for the next one.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await mediaNodePid().catch(() => node)) === node)
      await new Promise((r) => setTimeout(r, 200));
    assert.notEqual(await mediaNodePid(), node, 'the node exited and was started again');
    assert.ok(
      stack.logs.some((l) => /giving up/.test(l)) && stack.logs.some((l) => /cannot carry calls/.test(l)),
      'the node says why it left',
    );
    assert.ok(
      stack.logs.some((l) => /media node exited; restarting it/.test(l) && /"code":1/.test(l)),
      'it exited with status 1',
    );
    await nextCallServed();
  });

  test('SIGTERM during 20 calls: new INVITEs get 503 with Retry-After, the 20 end with nodeShutdown after the drain time, the node comes back', async () => {
    const since = Date.now();
    const usage0 = await usageTotals();
    const calls = Array.from({ length: 20 }, () => caller(25));
    await inIvr(since, 20, calls);
    const pid = await mediaNodePid();
    const termAt = Date.now();
    process.kill(pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    const refused = await runSipp([
      '-sf',
      await renderScenario('uac-expect-status.xml', { status: 503 }),
      '-s',
      NUMBER,
      '-m',
      '1',
      '-timeout',
      '10s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(refused.code, 0, `503 while draining: ${refused.errors}`);
    assert.match(refused.messages, /^Retry-After:\s*\d+/im);
    const runs = await Promise.all(calls);
    const byeAfterMs = Date.now() - termAt;
    for (const run of runs) assert.equal(run.code, 0, `each caller gets a BYE: ${run.errors}`);
    assert.ok(byeAfterMs >= DRAIN_MS - 500, `calls were ended after ${byeAfterMs} ms, before the drain time`);
    const answered = sessionsSince(since).filter((id) =>
      hook.received.some((cb) => cb.name === 'getIvrCommand' && (cb.body as { sessionId: string }).sessionId === id),
    );
    assert.equal(answered.length, 20);
    const completed = await completedOnce(answered, (r) => r === 'nodeShutdown');
    await assertUsage(usage0, 20, completed, DRAIN_MS / 1000 - 1);
    await nextCallServed();
  });

  for (const [name, reply] of [
    ['answers with an empty body', () => ({ status: 200, body: '' })],
    ['hangs (no answer within the callback timeout)', () => ({ delayMs: 5000, body: {} })],
    ['answers with 1 MB', () => ({ body: { phrases: [{ format: 'text', text: 'x'.repeat(1024 * 1024) }] } })],
  ] as const) {
    test(`webhook ${name}: the call stays sound and ends when the caller hangs up`, async (t) => {
      ivrReply = reply;
      if (name.startsWith('hangs')) {
        // A short timeout keeps this case short; no retries, so one attempt hangs once.
        const short = await api.call('PATCH', '/v1/tenant', { callbackTimeoutMs: 1000, callbackRetries: 0 });
        assert.equal(short.status, 200, JSON.stringify(short.json));
        t.after(async () => {
          await api.call('PATCH', '/v1/tenant', { callbackTimeoutMs: 5000, callbackRetries: 2 });
        });
      }
      const since = Date.now();
      const usage0 = await usageTotals();
      const run = await runSipp(
        [
          '-sf',
          await renderScenario('uac-hangup-after.xml', { holdMs: 3000 }),
          '-s',
          NUMBER,
          '-m',
          '1',
          '-mp',
          String(await freeSippMediaPort()),
          '-timeout',
          '20s',
          `${stack.sipHost}:${stack.sipPort}`,
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(run.code, 0, run.errors);
      const sessions = sessionsSince(since);
      assert.equal(sessions.length, 1);
      // No hot loop: a reply that does nothing, or none, is not asked again and again.
      const asked = hook.received.filter((cb) => cb.name === 'getIvrCommand' && cb.at >= since).length;
      assert.ok(asked >= 1 && asked <= 3, `${asked} getIvrCommand callbacks in 3 s`);
      const completed = await completedOnce(sessions, (r) => r === 'callingPartyDrop');
      await assertUsage(usage0, 1, completed, 2);
      await nextCallServed();
    });
  }
});
