/**
 * Platform overhead of one callback round trip in the local deployment: from the media node publishing the
 * event (PutEvents) to the media node holding the validated reply (reply poller), minus the webhook's own
 * time. The stack runs as `npm start` runs it; this process plays the media node with the node's own
 * BusCallbacks and ReplyPoller, pointed at the stack's endpoints.
 *   node --import tsx bench/callback-roundtrip.ts        (RATES=10,200 SECONDS=10 by default)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDocumentClient, createEventBridgeClient } from '@sipms/shared/aws/clients';
import { SessionStore } from '@sipms/shared/data/session-store';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';
import { BusCallbacks } from '../media-node/src/callbacks/bus-callbacks.js';
import { ReplyPoller } from '../media-node/src/callbacks/reply-poller.js';

const RATES = (process.env.RATES ?? '10,200').split(',').map(Number);
const SECONDS = Number(process.env.SECONDS ?? 10);

const q = (s: number[], p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;

const stack = await startLocalStack({ rtpPortMin: 32200, rtpPortMax: 32299 });
// The webhook answers at once from memory, so its own time is the HTTP exchange on loopback, which is
// part of what the platform does; nothing is subtracted.
const hook = new WebhookServer(() => ({ body: { phrases: [] } }));
try {
  await hook.start();
  const api = new ApiClient(stack.apiUrl);
  const { tenantId } = await api.signup('bench');
  await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
  const cp = JSON.parse(await readFile(join(stack.dataDir, 'run', 'control-plane.json'), 'utf8'));
  Object.assign(process.env, cp.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const logger = createLogger({}, 'warn');
  const poller = new ReplyPoller(new SessionStore(createDocumentClient(), cp.tableName), logger);
  const callbacks = new BusCallbacks(createEventBridgeClient(), 'default', poller, 'bench-node', logger);

  const one = async () => {
    const eventId = randomId('e');
    const sessionId = randomId('s');
    const payload = { sessionId, seq: 1, timestamp: new Date().toISOString(), participantId: 'p', replyId: eventId };
    const t0 = performance.now();
    const res = await callbacks.request(
      { eventId, tenantId, sessionId, seq: 1, type: 'getIvrCommand', payload },
      10_000,
    );
    const t1 = performance.now();
    if (res.fallback) throw new Error(`fallback: ${res.reason}`);
    return { total: t1 - t0, eventId };
  };
  for (let i = 0; i < 20; i++) await one(); // warm-up: connections, JIT

  for (const rate of RATES) {
    const totals: number[] = [];
    const inflight: Promise<void>[] = [];
    const n = rate * SECONDS;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(
        one().then(({ total }) => {
          totals.push(total);
        }),
      );
    }
    await Promise.all(inflight);
    totals.sort((a, b) => a - b);
    console.log(
      `${rate} callbacks/s for ${SECONDS} s (${totals.length} round trips): overhead median ${q(totals, 0.5).toFixed(1)} ms · p99 ${q(totals, 0.99).toFixed(1)} ms · max ${totals.at(-1)!.toFixed(1)} ms`,
    );
  }
  poller.close();
} finally {
  await hook.close();
  await stack.stop();
}
