/**
 * INVITE → 200 OK with a local webhook that answers at once: SIPp places CALLS sequential calls
 * (newCall → {"action":"ivr"}, then getIvrCommand → hang up) against the stack as `npm start` runs it,
 * and records each call's INVITE → 200 OK time (`rtd`) with -trace_rtt.
 *
 *   npm run bench:call-setup
 *
 * Environment (defaults are the full-size run):
 *   CALLS=20                        sequential calls measured (after one warm-up call)
 *   CALL_RATE=10                    at most this many new calls per second (SIPp -r; one call at a time)
 *   RTP_PORT_MIN=32000 RTP_PORT_MAX=32199   rtpengine's ports
 * Tenant limits: the stack is started with room for CALL_RATE calls/s (common.ts tenantLimits).
 * Fails (exit 1) unless every call completes and has an INVITE → 200 time.
 * Figures: call-setup.invite-200.median / .p90 / .max (ms).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { runSipp, scenario } from '../integ-tests/src/sipp.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';
import {
  BenchRun,
  describeRefusals,
  envInt,
  envRtpRange,
  firstSippError,
  limitRefusals,
  ms,
  quantile,
  tenantLimits,
} from './common.js';

const CALLS = envInt('CALLS', 20);
const CALL_RATE = envInt('CALL_RATE', 10);
const RTP = envRtpRange({ min: 32000, max: 32199 }, 1);
const limits = tenantLimits({ concurrent: 1, perSecond: CALL_RATE });

const run = new BenchRun('call-setup');
const stack = await startLocalStack({ rtpPortMin: RTP.min, rtpPortMax: RTP.max, env: limits.env });
const hook = new WebhookServer((cb) => {
  if (cb.name === 'newCall') return { body: { action: 'ivr' } };
  if (cb.name === 'getIvrCommand') return { body: { phrases: [], hangup: true } };
  return undefined;
});
try {
  await hook.start();
  const api = new ApiClient(stack.apiUrl);
  await api.signup('bench');
  await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
  await api.call('PUT', '/v1/numbers/bench');
  // One warm-up call (first TTS/JIT/SDK connection set-up is not what a caller normally sees).
  const warm = await runSipp([
    '-sf',
    scenario('uac-until-bye.xml'),
    '-s',
    'bench',
    '-m',
    '1',
    `${stack.sipHost}:${stack.sipPort}`,
  ]);
  if (warm.code !== 0) throw new Error(`warm-up call failed (SIPp exit ${warm.code}): ${firstSippError(warm.errors)}`);
  const res = await runSipp(
    [
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'bench',
      '-m',
      String(CALLS),
      '-l',
      '1',
      '-r',
      String(CALL_RATE),
      '-trace_rtt',
      '-rtt_freq',
      '1',
      `${stack.sipHost}:${stack.sipPort}`,
    ],
    { timeoutMs: 60_000 + CALLS * 2000 },
  );
  const file = (await readdir(res.dir)).find((f) => f.endsWith('_rtt.csv'));
  const rows = file ? (await readFile(join(res.dir, file), 'utf8')).trim().split('\n').slice(1) : [];
  const times = rows
    .map((r) => Number(r.split(';')[1]))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const webhook = hook.named('newCall').length;
  console.log(
    `call setup (INVITE → 200 OK), local webhook answering at once, ${CALLS} sequential calls at ≤ ${CALL_RATE}/s; ${limits.text}`,
  );
  console.log(
    `  measured ${times.length} of ${CALLS}: median ${ms(quantile(times, 0.5))} ms · p90 ${ms(quantile(times, 0.9))} ms · max ${ms(times.at(-1))} ms · min ${ms(times[0])} ms`,
  );
  console.log(`  newCall callbacks delivered: ${webhook} (incl. 1 warm-up)`);
  const refused = limitRefusals(res.messages);
  run.check(refused.size === 0, `calls refused by a tenant limit: ${describeRefusals(refused)}`);
  run.check(res.code === 0, `SIPp exit ${res.code}: not every call completed; ${firstSippError(res.errors)}`);
  run.check(times.length === CALLS, `INVITE → 200 times for ${times.length} of ${CALLS} calls`);
  run.check(webhook === CALLS + 1, `${webhook} newCall callbacks for ${CALLS + 1} calls`);
  run.figure('invite-200.median', quantile(times, 0.5), 'ms');
  run.figure('invite-200.p90', quantile(times, 0.9), 'ms');
  run.figure('invite-200.max', times.at(-1), 'ms');
} finally {
  await hook.close();
  await stack.stop();
}
run.finish();
