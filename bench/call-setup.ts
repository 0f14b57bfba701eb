/**
 * INVITE → 200 OK with a local webhook that answers at once: SIPp places CALLS sequential calls
 * (newCall → {"action":"ivr"}, then getIvrCommand → hang up) against the stack as `npm start` runs it,
 * and records each call's INVITE → 200 OK time (`rtd`) with -trace_rtt.
 *   npm run bench:call-setup            (CALLS=20 by default)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { runSipp, scenario } from '../integ-tests/src/sipp.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';

const CALLS = Number(process.env.CALLS ?? 20);

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

const stack = await startLocalStack({ rtpPortMin: 32000, rtpPortMax: 32199 });
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
  await runSipp(['-sf', scenario('uac-until-bye.xml'), '-s', 'bench', '-m', '1', `${stack.sipHost}:${stack.sipPort}`]);
  const res = await runSipp([
    '-sf',
    scenario('uac-until-bye.xml'),
    '-s',
    'bench',
    '-m',
    String(CALLS),
    '-l',
    '1',
    '-r',
    '10',
    '-trace_rtt',
    '-rtt_freq',
    '1',
    `${stack.sipHost}:${stack.sipPort}`,
  ]);
  const dir = res.dir;
  const file = (await readdir(dir)).find((f) => f.endsWith('_rtt.csv'));
  if (res.code !== 0 || !file) throw new Error(`SIPp failed (${res.code}): ${res.errors}`);
  const rows = (await readFile(join(dir, file), 'utf8')).trim().split('\n').slice(1);
  const times = rows
    .map((r) => Number(r.split(';')[1]))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const webhook = hook.named('newCall').length;
  console.log(`call setup (INVITE → 200 OK), local webhook answering at once, ${times.length} sequential calls`);
  console.log(
    `  median ${quantile(times, 0.5).toFixed(1)} ms · p90 ${quantile(times, 0.9).toFixed(1)} ms · max ${times.at(-1)!.toFixed(1)} ms · min ${times[0]!.toFixed(1)} ms`,
  );
  console.log(`  newCall callbacks delivered: ${webhook} (incl. 1 warm-up)`);
} finally {
  await hook.close();
  await stack.stop();
}
