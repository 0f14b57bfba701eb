/**
 * Connecting participants, measured on the local deployment:
 *  1. Bridged calls: N simultaneous two-party calls (newCall → {"action":"call"} to a SIPp callee), both
 *     sides streaming SIPp's 7 s A-law sample through rtpengine; tcpdump counts what arrives at each side.
 *     For each N: the share of the expected packets delivered each way. The largest N with ≥ 99.5 % both
 *     ways is the result.
 *  2. POST /placeivrcall → the outbound INVITE on the wire (tcpdump at the called party's port): median
 *     and p99 over sequential placements.
 *
 *   npm run bench:bridge                (node --import tsx bench/bridge.ts)
 *
 * Environment (defaults are the full-size run):
 *   STEPS=25,50,100,150,200,240     N, in turn, up to the first one below 99.5 %
 *   RATE=50                         new bridged calls per second (SIPp -r, at most N)
 *   PLACEMENTS=30                   sequential placeivrcall requests for the INVITE latency
 *   RTP_PORT_MIN=40000 RTP_PORT_MAX=40999   rtpengine's ports: 4 per bridged call, so 250 calls
 * Tenant limits: the stack is started with room for max(STEPS) simultaneous calls at RATE calls/s
 * (TENANT_MAX_CONCURRENT_CALLS / TENANT_CALLS_PER_SECOND; common.ts tenantLimits).
 * Finding the largest N is the point of part 1: a step below 99.5 % (or whose calls fail) ends the stepping
 * and is reported as the limit. It is a broken run (exit 1) when a call is refused by a tenant limit, when the
 * first step already fails (no figure), or when a placement gets no INVITE on the wire.
 * Figures: bridge.max-bridged-calls (calls), bridge.n<N>.to-callee / .to-caller (%) per step,
 * bridge.placeivrcall-to-invite.median / .p99 (ms).
 */
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { freeSippMediaPort, freeUdpPort } from '../integ-tests/src/ports.js';
import { RtpCapture } from '../integ-tests/src/rtp-capture.js';
import { renderScenario, runSipp } from '../integ-tests/src/sipp.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';
import {
  BenchRun,
  CAPTURE_DRAIN_MS,
  describeRefusals,
  envInt,
  envIntList,
  envRtpRange,
  firstSippError,
  limitRefusals,
  ms,
  quantile,
  sippCounts,
  tenantLimits,
} from './common.js';

const STEPS = envIntList('STEPS', [25, 50, 100, 150, 200, 240]);
const RATE = envInt('RATE', 50);
const PLACEMENTS = envInt('PLACEMENTS', 30);
const PCAP_PACKETS = 236; // /usr/share/sip-tester/g711a.pcap: 236 packets of 30 ms
const RTP = envRtpRange({ min: 40000, max: 40999 }, Math.max(...STEPS));
const limits = tenantLimits({ concurrent: Math.max(...STEPS), perSecond: Math.min(RATE, Math.max(...STEPS)) });

const run = new BenchRun('bridge');
const stack = await startLocalStack({
  rtpPortMin: RTP.min,
  rtpPortMax: RTP.max,
  env: { ...limits.env, LOG_LEVEL: 'error' },
});
const hook = new WebhookServer();
try {
  await hook.start();
  const api = new ApiClient(stack.apiUrl);
  const { domain } = await api.signup('bench');
  for (const res of [
    await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url }),
    await api.call('PUT', '/v1/numbers/bench'),
  ]) {
    if (res.status >= 300) throw new Error(`tenant set-up failed: ${res.status} ${JSON.stringify(res.json)}`);
  }

  console.log(`bridged calls through rtpengine (both sides stream 7 s of G.711 A-law, 30 ms packets); ${limits.text}`);
  console.log('     N  caller→callee  callee→caller  verdict');
  let best = 0;
  let stoppedAt: string | undefined;
  for (const n of STEPS) {
    const calleePort = await freeUdpPort();
    const calleeMedia = await freeSippMediaPort();
    const callerMedia = await freeSippMediaPort();
    hook.responder = (cb) =>
      cb.name === 'newCall'
        ? { body: { action: 'call', destination: `sip:agent@127.0.0.1:${calleePort}`, timeoutSec: 20 } }
        : undefined;
    const atCaller = new RtpCapture(`udp and src portrange ${RTP.min}-${RTP.max} and dst port ${callerMedia}`);
    const atCallee = new RtpCapture(`udp and src portrange ${RTP.min}-${RTP.max} and dst port ${calleeMedia}`);
    await Promise.all([atCaller.ready(), atCallee.ready()]);
    const callee = runSipp(
      [
        '-sf',
        await renderScenario('uas-bridge.xml', {}),
        '-p',
        String(calleePort),
        '-i',
        '127.0.0.1',
        '-mp',
        String(calleeMedia),
        '-m',
        String(n),
        '-timeout',
        '60s',
      ],
      { timeoutMs: 90_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    const caller = await runSipp(
      [
        '-sf',
        await renderScenario('uac-bridge.xml', { talk: 7600 }),
        '-s',
        'bench',
        '-m',
        String(n),
        '-l',
        String(n),
        '-r',
        String(Math.min(n, RATE)),
        '-mp',
        String(callerMedia),
        '-timeout',
        '60s',
        `127.0.0.1:${stack.sipPort}`,
      ],
      { timeoutMs: 90_000 },
    );
    const calleeRun = await callee;
    await new Promise((r) => setTimeout(r, CAPTURE_DRAIN_MS));
    await Promise.all([atCaller.stop(), atCallee.stop()]);
    const expected = n * PCAP_PACKETS;
    const toCallee = atCallee.packets().filter((p) => p.rtp).length / expected;
    const toCaller = atCaller.packets().filter((p) => p.rtp).length / expected;
    const callsOk = caller.code === 0 && calleeRun.code === 0;
    const ok = callsOk && toCallee >= 0.995 && toCaller >= 0.995;
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`.padStart(13);
    const counts = sippCounts(caller.stdout);
    const calls = counts ? `${counts.ok} of ${n} calls ok` : `SIPp exit ${caller.code}/${calleeRun.code}`;
    console.log(
      `${String(n).padStart(6)}  ${pct(toCallee)}  ${pct(toCaller)}  ${ok ? 'ok' : `below 99.5% (${calls})`}`,
    );
    const refused = limitRefusals(caller.messages);
    run.check(
      refused.size === 0,
      `N=${n}: calls refused by a tenant limit the benchmark should have lifted: ${describeRefusals(refused)}`,
    );
    if (callsOk) {
      run.figure(`n${n}.to-callee`, toCallee * 100, '%', 2);
      run.figure(`n${n}.to-caller`, toCaller * 100, '%', 2);
    }
    if (!ok || run.failed) {
      stoppedAt = `N=${n}: ${callsOk ? 'packets below 99.5 %' : calls}`;
      break;
    }
    best = n;
  }
  console.log(`largest N with ≥ 99.5 % of packets both ways: ${best} simultaneous bridged calls`);
  if (stoppedAt && !run.failed) {
    console.log(`  stepping stopped at ${stoppedAt} — the limit this benchmark looks for, not an error`);
  }
  if (!stoppedAt) console.log(`  every step passed: the limit is above ${best} (add higher STEPS to find it)`);
  if (best === 0 && !run.failed) run.problem(`even the first step failed (${stoppedAt}): no figure; try lower STEPS`);
  if (best > 0) run.figure('max-bridged-calls', best, 'calls', 0);

  // 2. placeivrcall → INVITE on the wire.
  const calleePort = await freeUdpPort();
  hook.responder = () => undefined;
  const invites = new RtpCapture(`udp and dst port ${calleePort}`);
  await invites.ready();
  const callee = runSipp(
    [
      '-sf',
      await renderScenario('uas-reject.xml', { status: 486 }),
      '-p',
      String(calleePort),
      '-i',
      '127.0.0.1',
      '-m',
      String(PLACEMENTS),
      '-timeout',
      '120s',
    ],
    { timeoutMs: 150_000 },
  );
  await new Promise((r) => setTimeout(r, 300));
  const sent: number[] = [];
  for (let i = 0; i < PLACEMENTS; i++) {
    sent.push(Date.now() / 1000);
    const res = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
      destination: `sip:agent@127.0.0.1:${calleePort}`,
    });
    if (res.status !== 200) throw new Error(`placeivrcall: ${res.status} ${JSON.stringify(res.json)}`);
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 200)); // not in phase with the inbox poll
  }
  const calleeRun = await callee;
  await new Promise((r) => setTimeout(r, CAPTURE_DRAIN_MS));
  await invites.stop();
  const inviteTimes = invites
    .packets()
    .filter((p) => p.dstPort === calleePort && p.payload.toString('latin1').startsWith('INVITE '))
    .map((p) => p.t);
  const latencies = sent
    .map((t0) => {
      const t = inviteTimes.find((x) => x >= t0);
      return t === undefined ? undefined : (t - t0) * 1000;
    })
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  console.log(
    `POST /placeivrcall → INVITE on the wire (${latencies.length} of ${PLACEMENTS}): median ${ms(quantile(latencies, 0.5))} ms · p99 ${ms(quantile(latencies, 0.99))} ms · min ${ms(latencies[0])} ms (inbox poll every 100 ms)`,
  );
  run.check(latencies.length === PLACEMENTS, `${latencies.length} of ${PLACEMENTS} placements reached the wire`);
  run.check(
    calleeRun.code === 0,
    `the called party (SIPp) exited ${calleeRun.code}: ${firstSippError(calleeRun.errors)}`,
  );
  run.figure('placeivrcall-to-invite.median', quantile(latencies, 0.5), 'ms');
  run.figure('placeivrcall-to-invite.p99', quantile(latencies, 0.99), 'ms');
} finally {
  await hook.close();
  await stack.stop();
}
run.finish();
