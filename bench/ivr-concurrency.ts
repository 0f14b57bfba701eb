/**
 * Concurrency: N simultaneous SIPp calls, each hearing one prompt of PROMPT_MS. tcpdump records every
 * RTP packet rtpengine sends to the callers; per call, the share of the expected packets that arrived and
 * the largest gap between two packets. Reports the largest N with ≥ 99.5 % of packets and gaps < 60 ms.
 *   node --import tsx bench/ivr-concurrency.ts          (STEPS=50,100,150,200,240  PROMPT_MS=12000)
 * Each call holds 4 rtpengine ports: 34000-34999 fits 250 calls.
 */
import { freeUdpPort } from '../integ-tests/src/ports.js';
import { RtpCapture } from '../integ-tests/src/rtp-capture.js';
import { runSipp, scenario } from '../integ-tests/src/sipp.js';
import { benchStack } from './ivr-common.js';

const RTP_MIN = 34000;
const RTP_MAX = 34999;
const PROMPT_MS = Number(process.env.PROMPT_MS ?? 12_000);
const STEPS = (process.env.STEPS ?? '50,100,150,200,240').split(',').map(Number);
const RATE = Number(process.env.RATE ?? 40); // new calls per second
const EXPECTED = PROMPT_MS / 20;

const { stack, hook } = await benchStack({
  rtpPortMin: RTP_MIN,
  rtpPortMax: RTP_MAX,
  number: 'conc-bench',
  prompts: { long: PROMPT_MS },
  responder: (cb) => {
    if (cb.name === 'newCall') return { body: { action: 'ivr' } };
    if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'file', fileName: 'long' }], hangup: true } };
    return undefined;
  },
});
const results: { n: number; ok: boolean }[] = [];
try {
  console.log(`concurrency: N calls, each a ${PROMPT_MS / 1000} s prompt (${EXPECTED} packets), ${RATE} new calls/s`);
  console.log('     N  calls-ok  packets-received  worst-call  max-gap-ms  p99-gap-ms  verdict');
  for (const n of STEPS) {
    const mediaPort = await freeUdpPort();
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${mediaPort}`);
    await capture.ready();
    const before = hook.named('sessionCompleted').length;
    const sipp = await runSipp(
      [
        '-sf',
        scenario('uac-until-bye.xml'),
        '-s',
        'conc-bench',
        '-m',
        String(n),
        '-l',
        String(n),
        '-r',
        String(RATE),
        '-mp',
        String(mediaPort),
        '-timeout',
        '120s',
        `${stack.sipHost}:${stack.sipPort}`,
      ],
      { timeoutMs: 150_000 },
    );
    await new Promise((r) => setTimeout(r, 500));
    await capture.stop();
    const ok = /Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(sipp.stdout)?.[1] ?? (sipp.code === 0 ? String(n) : '?');
    // One stream per call: rtpengine's port towards that caller.
    const streams = new Map<number, number[]>();
    for (const p of capture.packets()) {
      if (p.rtp?.payloadType !== 0) continue;
      const list = streams.get(p.srcPort) ?? [];
      list.push(p.t);
      streams.set(p.srcPort, list);
    }
    let received = 0;
    let worst = 1;
    const gaps: number[] = [];
    for (const times of streams.values()) {
      received += Math.min(times.length, EXPECTED);
      worst = Math.min(worst, times.length / EXPECTED);
      let maxGap = 0;
      for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, (times[i]! - times[i - 1]!) * 1000);
      gaps.push(maxGap);
    }
    const share = received / (n * EXPECTED);
    gaps.sort((a, b) => a - b);
    const maxGap = gaps.at(-1) ?? Number.NaN;
    const p99Gap = gaps[Math.min(gaps.length - 1, Math.ceil(gaps.length * 0.99) - 1)] ?? Number.NaN;
    const pass = share >= 0.995 && maxGap < 60 && streams.size === n;
    results.push({ n, ok: pass });
    console.log(
      `${String(n).padStart(6)}  ${String(ok).padStart(8)}  ${(share * 100).toFixed(2).padStart(15)}%  ${(worst * 100).toFixed(1).padStart(9)}%  ${maxGap.toFixed(1).padStart(10)}  ${p99Gap.toFixed(1).padStart(10)}  ${pass ? 'ok' : 'FAIL'}${streams.size !== n ? ` (${streams.size} streams)` : ''}`,
    );
    await hook
      .waitFor('sessionCompleted', () => hook.named('sessionCompleted').length >= before + n, 30_000)
      .catch(() => {});
    await new Promise((r) => setTimeout(r, 2000));
  }
  const best = results.filter((r) => r.ok).map((r) => r.n);
  console.log(`largest N with ≥ 99.5 % of packets and gaps < 60 ms: ${best.length ? Math.max(...best) : 'none'}`);
} finally {
  await hook.close();
  await stack.stop();
}
