/**
 * Platform overhead of one callback round trip in the local deployment: from the media node publishing the
 * event (PutEvents) to the media node holding the validated reply (reply poller), minus the webhook's own
 * time. The stack runs as `npm start` runs it; this process plays the media node with the node's own
 * BusCallbacks and ReplyPoller, pointed at the stack's endpoints.
 *
 *   npm run bench:callbacks          (node --import tsx bench/callback-roundtrip.ts)
 *
 * Environment (defaults are the full-size run):
 *   RATES=10,200                    callbacks per second, one measurement each
 *   SECONDS=10                      how long each rate runs (RATES × SECONDS round trips each)
 *   WARMUP=20                       sequential round trips before measuring
 *   RTP_PORT_MIN=32200 RTP_PORT_MAX=32299   rtpengine's ports (no calls are placed)
 * Tenant limits: none apply (no calls; callbacks have no per-tenant rate).
 * Fails (exit 1) when a round trip ends in the fallback (no reply, delivery failed) or goes missing.
 * Figures per rate R: callbacks.roundtrip-R-per-s.median / .p99 / .max (ms).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEventBridgeClient } from '@sipms/shared/aws/clients';
import { createDocumentClient } from '@sipms/shared/aws/document-client';
import { SessionStore } from '@sipms/shared/data/session-store';
import { randomId } from '@sipms/shared/util/ids';
import { createLogger } from '@sipms/shared/util/logger';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';
import { BusCallbacks } from '../media-node/src/callbacks/bus-callbacks.js';
import { ReplyPoller } from '../media-node/src/callbacks/reply-poller.js';

import { BenchRun, envInt, envIntList, envRtpRange, ms, quantile } from './common.js';

const RATES = envIntList('RATES', [10, 200]);
const SECONDS = envInt('SECONDS', 10);
const WARMUP = envInt('WARMUP', 20, 0);
const RTP = envRtpRange({ min: 32200, max: 32299 }, 0);

const run = new BenchRun('callbacks');
const stack = await startLocalStack({ rtpPortMin: RTP.min, rtpPortMax: RTP.max });
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
  for (let i = 0; i < WARMUP; i++) await one(); // warm-up: connections, JIT

  for (const rate of RATES) {
    const totals: number[] = [];
    const failures = new Map<string, number>();
    const inflight: Promise<void>[] = [];
    const n = rate * SECONDS;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(
        one().then(
          ({ total }) => {
            totals.push(total);
          },
          (err: Error) => {
            failures.set(err.message, (failures.get(err.message) ?? 0) + 1);
          },
        ),
      );
    }
    await Promise.all(inflight);
    totals.sort((a, b) => a - b);
    console.log(
      `${rate} callbacks/s for ${SECONDS} s (${totals.length} of ${n} round trips): overhead median ${ms(quantile(totals, 0.5))} ms · p99 ${ms(quantile(totals, 0.99))} ms · max ${ms(totals.at(-1))} ms`,
    );
    for (const [reason, count] of failures) run.problem(`${rate}/s: ${count} round trip(s) failed: ${reason}`);
    run.check(totals.length === n, `${rate}/s: ${totals.length} of ${n} round trips completed`);
    run.figure(`roundtrip-${rate}-per-s.median`, quantile(totals, 0.5), 'ms');
    run.figure(`roundtrip-${rate}-per-s.p99`, quantile(totals, 0.99), 'ms');
    run.figure(`roundtrip-${rate}-per-s.max`, totals.at(-1), 'ms');
  }
  poller.close();
} finally {
  await hook.close();
  await stack.stop();
}
run.finish();
