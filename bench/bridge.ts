/**
 * Connecting participants, measured on the local deployment:
 *  1. Bridged calls: N simultaneous two-party calls (newCall → {"action":"call"} to a SIPp callee), both
 *     sides streaming SIPp's 7 s A-law sample through rtpengine; tcpdump counts what arrives at each side.
 *     For each N: the share of the expected packets delivered each way. The largest N with ≥ 99.5 % both
 *     ways is the result.
 *  2. POST /placeivrcall → the outbound INVITE on the wire (tcpdump at the called party's port): median
 *     and p99 over sequential placements.
 *   node --import tsx bench/bridge.ts            (STEPS=25,50,100,150,200,240  PLACEMENTS=30)
 */
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { freeUdpPort } from '../integ-tests/src/ports.js';
import { RtpCapture } from '../integ-tests/src/rtp-capture.js';
import { renderScenario, runSipp } from '../integ-tests/src/sipp.js';
import { WebhookServer } from '../integ-tests/src/webhook-server.js';

const STEPS = (process.env.STEPS ?? '25,50,100,150,200,240').split(',').map(Number);
const PLACEMENTS = Number(process.env.PLACEMENTS ?? 30);
const PCAP_PACKETS = 236; // /usr/share/sip-tester/g711a.pcap: 236 packets of 30 ms
const RTP_MIN = 40000;
const RTP_MAX = 40999; // 4 ports per bridged call → 250 calls

const q = (s: number[], p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;

const stack = await startLocalStack({
  rtpPortMin: RTP_MIN,
  rtpPortMax: RTP_MAX,
  env: { TENANT_MAX_CONCURRENT_CALLS: '10000', TENANT_CALLS_PER_SECOND: '10000', LOG_LEVEL: 'error' },
});
const hook = new WebhookServer();
try {
  await hook.start();
  const api = new ApiClient(stack.apiUrl);
  const { domain } = await api.signup('bench');
  await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
  await api.call('PUT', '/v1/numbers/bench');

  console.log('bridged calls through rtpengine (both sides stream 7 s of G.711 A-law, 30 ms packets)');
  console.log('     N  caller→callee  callee→caller  verdict');
  let best = 0;
  for (const n of STEPS) {
    const calleePort = await freeUdpPort();
    const calleeMedia = await freeUdpPort();
    const callerMedia = await freeUdpPort();
    hook.responder = (cb) =>
      cb.name === 'newCall'
        ? { body: { action: 'call', destination: `sip:agent@127.0.0.1:${calleePort}`, timeoutSec: 20 } }
        : undefined;
    const atCaller = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${callerMedia}`);
    const atCallee = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${calleeMedia}`);
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
        String(Math.min(n, 50)),
        '-mp',
        String(callerMedia),
        '-timeout',
        '60s',
        `127.0.0.1:${stack.sipPort}`,
      ],
      { timeoutMs: 90_000 },
    );
    const calleeRun = await callee;
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all([atCaller.stop(), atCallee.stop()]);
    const expected = n * PCAP_PACKETS;
    const toCallee = atCallee.packets().filter((p) => p.rtp).length / expected;
    const toCaller = atCaller.packets().filter((p) => p.rtp).length / expected;
    const ok = caller.code === 0 && calleeRun.code === 0 && toCallee >= 0.995 && toCaller >= 0.995;
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`.padStart(13);
    console.log(
      `${String(n).padStart(6)}  ${pct(toCallee)}  ${pct(toCaller)}  ${ok ? 'ok' : `below 99.5% (SIPp exit ${caller.code}/${calleeRun.code})`}`,
    );
    if (!ok) break;
    best = n;
  }
  console.log(`largest N with ≥ 99.5 % of packets both ways: ${best} simultaneous bridged calls`);

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
  await callee;
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
    `POST /placeivrcall → INVITE on the wire (${latencies.length} of ${PLACEMENTS}): median ${q(latencies, 0.5).toFixed(1)} ms · p99 ${q(latencies, 0.99).toFixed(1)} ms · min ${latencies[0]!.toFixed(1)} ms (inbox poll every 100 ms)`,
  );
} finally {
  await hook.close();
  await stack.stop();
}
