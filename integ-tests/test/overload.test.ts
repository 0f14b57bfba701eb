import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { renderScenario, runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// Overload (docs/operations.md, "Overload") against the stack as `npm start` runs it, real SIPp callers. The
// node's callback limit is 1 ms (OVERLOAD_CALLBACK_OVERHEAD_MS=1): every real round trip through the bus and
// the dispatcher is "behind", so a call in IVR whose prompts keep asking getIvrCommand holds the node in
// overload for as long as it runs; the event-loop signal is off (its reading depends on the machine).
// RTP range 38100-38199.
const RTP_MIN = 38100;
const RTP_MAX = 38199;

async function shedRatio(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^sipms_overload_shed_ratio (\S+)$/m.exec(text);
  assert.ok(m, 'sipms_overload_shed_ratio is exposed');
  return Number(m[1]);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a node behind on its callbacks refuses new calls (real stack, SIPp callers)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let keepAsking = true;

  before(async () => {
    stack = await startLocalStack({
      rtpPortMin: RTP_MIN,
      rtpPortMax: RTP_MAX,
      env: { OVERLOAD_CALLBACK_OVERHEAD_MS: '1', OVERLOAD_LOOP_DELAY_MS: '0' },
    });
    hook = new WebhookServer((cb) => {
      if (cb.name === 'newCall')
        return {
          body: /^sip:busy@/.test(String(cb.body.requestUri)) ? { action: 'ivr' } : { action: 'drop', sipStatus: 486 },
        };
      if (cb.name === 'getIvrCommand')
        return {
          body: keepAsking ? { phrases: [{ format: 'silence', durationMs: 150 }] } : { phrases: [], hangup: true },
        };
      return undefined;
    });
    await hook.start();
    const api = new ApiClient(stack.apiUrl);
    await api.signup('Overload');
    await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
    await api.call('PUT', '/v1/numbers/busy');
    await api.call('PUT', '/v1/numbers/later');
  });
  after(async () => {
    await hook?.close();
    await stack?.stop();
  });

  /** One call to `later` (its newCall is answered 486) whose INVITE must end in `status`. */
  const callExpecting = async (status: number) =>
    runSipp([
      '-sf',
      await renderScenario('uac-expect-status.xml', { status }),
      '-s',
      'later',
      '-m',
      '1',
      '-timeout',
      '10s',
      `127.0.0.1:${stack.sipPort}`,
    ]);

  test('while behind: 503 with Retry-After and the reason, no newCall; once caught up, calls are taken again', async () => {
    const [metricsUrl] = stack.metricsUrls;
    assert.ok(metricsUrl);
    assert.equal(await shedRatio(metricsUrl), 0, 'an idle node refuses nothing');
    // One call in IVR: a getIvrCommand round trip every ~150 ms, each far over the 1 ms limit.
    const busy = runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'busy',
      '-m',
      '1',
      '-timeout',
      '60s',
      `127.0.0.1:${stack.sipPort}`,
    ]);
    await until('the node to refuse every new call', async () => (await shedRatio(metricsUrl)) === 1);
    const newCallsBefore = hook.received.filter((cb) => cb.name === 'newCall').length;
    const refused = await callExpecting(503);
    assert.equal(refused.code, 0, `refused caller: ${refused.errors}`);
    assert.match(refused.messages, /SIP\/2\.0 503 Service Unavailable \(node overloaded\)/);
    assert.match(refused.messages, /Retry-After: 2/);
    assert.match(refused.messages, /Warning: 399 sip-mediaserver "node overloaded: callbacks \d+ ms behind"/);
    assert.equal(
      hook.received.filter((cb) => cb.name === 'newCall').length,
      newCallsBefore,
      'a refused call costs the tenant nothing: no newCall',
    );
    assert.ok(stack.logs.some((l) => l.includes('new calls refused: node overloaded (503)')));

    // The call in IVR ends; without round trips the share halves each second until none is refused.
    keepAsking = false;
    const ended = await busy;
    assert.equal(ended.code, 0, `the call in IVR: ${ended.errors}`);
    await until('the node to take calls again', async () => (await shedRatio(metricsUrl)) === 0);
    const taken = await callExpecting(486);
    assert.equal(taken.code, 0, `caller after the overload: ${taken.errors}`);
    assert.equal(hook.received.filter((cb) => cb.name === 'newCall').length, newCallsBefore + 1);
  });
});
