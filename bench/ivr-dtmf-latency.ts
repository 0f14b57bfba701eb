/**
 * DTMF → next prompt: one SIPp call answers 50 prompts with a key each (RFC 4733 from SIPp's sample
 * pcaps). A local webhook answers at once. tcpdump on loopback is the clock: from the first end-of-event
 * packet the caller sends to the first RTP packet of the next prompt arriving at the caller.
 *
 *   npm run bench:ivr-dtmf              (node --import tsx bench/ivr-dtmf-latency.ts)
 *
 * Environment (defaults are the full-size run):
 *   TURNS=50                        key presses (prompt → key → next prompt) in the one call
 *   RTP_PORT_MIN=34000 RTP_PORT_MAX=34199   rtpengine's ports
 * Tenant limits: one call at a time; the stack gets room for it anyway (common.ts tenantLimits).
 * Fails (exit 1) unless the call completes and every key press is sent, collected by the IVR and measured.
 * Figures: ivr-dtmf.dtmf-to-prompt.median / .p99 / .max (ms).
 */
import { freeSippMediaPort } from '../integ-tests/src/ports.js';
import { RtpCapture } from '../integ-tests/src/rtp-capture.js';
import { runSipp } from '../integ-tests/src/sipp.js';
import {
  BenchRun,
  CAPTURE_DRAIN_MS,
  describeRefusals,
  envInt,
  envRtpRange,
  firstSippError,
  limitRefusals,
  tenantLimits,
} from './common.js';
import { benchStack, ivrScenario, quantile } from './ivr-common.js';

const TURNS = envInt('TURNS', 50);
const RTP = envRtpRange({ min: 34000, max: 34199 }, 1);
const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'];
const limits = tenantLimits({ concurrent: 1, perSecond: 1 });

const run = new BenchRun('ivr-dtmf');
const { stack, hook } = await benchStack({
  rtpPortMin: RTP.min,
  rtpPortMax: RTP.max,
  number: 'dtmf-bench',
  prompts: { menu: 300 },
  env: limits.env,
  responder: (cb) => {
    if (cb.name === 'newCall') return { body: { action: 'ivr' } };
    if (cb.name === 'getIvrCommand') {
      const turns = hook.named('getIvrCommand').filter((c) => c.body.sessionId === cb.body.sessionId).length;
      // After the last key: the next prompt (measured like the others), then hang up.
      if (turns > TURNS) return { body: { phrases: [{ format: 'file', fileName: 'menu' }], hangup: true } };
      return {
        body: { phrases: [{ format: 'file', fileName: 'menu' }], dtmf: { maxDigits: 1, firstDigitTimeoutMs: 10_000 } },
      };
    }
    return undefined;
  },
});
try {
  const mediaPort = await freeSippMediaPort();
  const capture = new RtpCapture(`udp and port ${mediaPort}`);
  await capture.ready();
  const steps = ['<pause milliseconds="800"/>'];
  for (let i = 0; i < TURNS; i++) {
    steps.push(
      `<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_${DIGITS[i % DIGITS.length]}.pcap"/></action></nop>`,
      // No pause after the last key: the BYE may come at once.
      ...(i < TURNS - 1 ? ['<pause milliseconds="900"/>'] : []),
    );
  }
  const xml = await ivrScenario({ steps: steps.join('\n'), byeTimeout: 20_000 });
  const sipp = await runSipp(
    [
      '-sf',
      xml,
      '-s',
      'dtmf-bench',
      '-m',
      '1',
      '-mp',
      String(mediaPort),
      '-timeout',
      `${120 + TURNS * 2}s`,
      `${stack.sipHost}:${stack.sipPort}`,
    ],
    { timeoutMs: 150_000 + TURNS * 2000 },
  );
  await new Promise((r) => setTimeout(r, CAPTURE_DRAIN_MS));
  await capture.stop();
  const refused = limitRefusals(sipp.messages);
  run.check(refused.size === 0, `call refused by a tenant limit: ${describeRefusals(refused)}`);
  run.check(sipp.code === 0, `the call failed (SIPp exit ${sipp.code}): ${firstSippError(sipp.errors)}`);

  const packets = capture.packets();
  const fromCaller = packets.filter((p) => p.srcPort === mediaPort && p.rtp?.payloadType === 101);
  const toCaller = packets.filter((p) => p.dstPort === mediaPort && p.rtp && p.rtp.payloadType === 0);
  // The first end-bit packet of each event (an event = one RTP timestamp; the end packet is sent 3 times).
  const ends: number[] = [];
  let lastTs = -1;
  for (const p of fromCaller) {
    const end = (p.rtp!.payload[1]! & 0x80) !== 0;
    if (end && p.rtp!.timestamp !== lastTs) {
      ends.push(p.t);
      lastTs = p.rtp!.timestamp;
    }
  }
  const latencies: number[] = [];
  for (const t of ends) {
    const next = toCaller.find((p) => p.t > t);
    if (next) latencies.push((next.t - t) * 1000);
  }
  const answered = hook.named('getIvrCommand').filter((c) => c.body.dtmfParams).length;
  const sorted = latencies.sort((a, b) => a - b);
  console.log(`DTMF end-of-event → first RTP of the next prompt (local webhook answering at once); ${limits.text}`);
  console.log(
    `  key presses asked: ${TURNS}, sent: ${ends.length}, collected by the IVR: ${answered}, measured: ${sorted.length}`,
  );
  if (sorted.length) {
    console.log(
      `  median ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, min ${sorted[0]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
    );
  }
  run.check(ends.length === TURNS, `${ends.length} of ${TURNS} key presses were sent`);
  run.check(answered === TURNS, `${answered} of ${TURNS} key presses were collected by the IVR`);
  run.check(sorted.length === TURNS, `${sorted.length} of ${TURNS} key presses were followed by a prompt`);
  if (sorted.length) {
    run.figure('dtmf-to-prompt.median', quantile(sorted, 0.5), 'ms');
    run.figure('dtmf-to-prompt.p99', quantile(sorted, 0.99), 'ms');
    run.figure('dtmf-to-prompt.max', sorted.at(-1), 'ms');
  }
} finally {
  await hook.close();
  await stack.stop();
}
run.finish();
