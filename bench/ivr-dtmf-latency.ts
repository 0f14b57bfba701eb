/**
 * DTMF → next prompt: one SIPp call answers 50 prompts with a key each (RFC 4733 from SIPp's sample
 * pcaps). A local webhook answers at once. tcpdump on loopback is the clock: from the first end-of-event
 * packet the caller sends to the first RTP packet of the next prompt arriving at the caller.
 *   node --import tsx bench/ivr-dtmf-latency.ts      (TURNS=50)
 */
import { freeUdpPort } from '../integ-tests/src/ports.js';
import { RtpCapture } from '../integ-tests/src/rtp-capture.js';
import { runSipp } from '../integ-tests/src/sipp.js';
import { benchStack, ivrScenario, quantile } from './ivr-common.js';

const TURNS = Number(process.env.TURNS ?? 50);
const RTP_MIN = 34000;
const RTP_MAX = 34199;
const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'];

const { stack, hook } = await benchStack({
  rtpPortMin: RTP_MIN,
  rtpPortMax: RTP_MAX,
  number: 'dtmf-bench',
  prompts: { menu: 300 },
  responder: (cb) => {
    if (cb.name === 'newCall') return { body: { action: 'ivr' } };
    if (cb.name === 'getIvrCommand') {
      const turns = hook.named('getIvrCommand').filter((c) => c.body.sessionId === cb.body.sessionId).length;
      if (turns > TURNS) return { body: { hangup: true } };
      return {
        body: { phrases: [{ format: 'file', fileName: 'menu' }], dtmf: { maxDigits: 1, firstDigitTimeoutMs: 10_000 } },
      };
    }
    return undefined;
  },
});
try {
  const mediaPort = await freeUdpPort();
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
      '120s',
      `${stack.sipHost}:${stack.sipPort}`,
    ],
    { timeoutMs: 150_000 },
  );
  await new Promise((r) => setTimeout(r, 300));
  await capture.stop();
  if (sipp.code !== 0) throw new Error(`SIPp failed (${sipp.code}): ${sipp.errors}`);

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
  console.log(`DTMF end-of-event → first RTP of the next prompt (local webhook answering at once)`);
  console.log(`  key presses sent: ${ends.length}, collected by the IVR: ${answered}, measured: ${sorted.length}`);
  if (sorted.length) {
    console.log(
      `  median ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, min ${sorted[0]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
    );
  }
} finally {
  await hook.close();
  await stack.stop();
}
