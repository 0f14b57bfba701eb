/**
 * `npm run bench:conference`: conferences (docs/conferences.md) measured at the callers' edge. The callers are
 * this process (the node's own SIP stack as a user agent and one UDP socket for all of them, each sending 20 ms
 * of μ-law every 20 ms, as bench/streams.ts does): the load generator must share the two cores with what it
 * measures, and SIPp's per-call threads cost more than the calls.
 *
 * - Mouth-to-ear (a conference of two, LATENCY_SECONDS): caller A sends silence with a 60 ms burst of tone every
 *   500 ms; the time from the burst's first packet leaving A to the first packet carrying it reaching B (rtpengine
 *   → the node's jitter buffer and mix → rtpengine, on loopback), p50 and p99.
 * - Load (LAYOUTS, e.g. `10x10,1x100`: conferences × participants, SECONDS each): every participant talking; the
 *   share of the frames the node sent each participant that arrived (by RTP sequence number), the largest gap
 *   between two arrivals, and CPU per participant of the media node and rtpengine (from /proc) and of this
 *   process (the load). A layout meets the bar with ≥ 99.5 % to every participant and no gap of 60 ms or more.
 *
 * Figures: conference.latency.{p50,p99} (ms), conference.<C>x<N>.min-delivered (%), conference.<C>x<N>.max-gap
 * (ms), conference.<C>x<N>.cpu-ms-per-participant-s.{media,rtpengine,load}, conference.<C>x<N>.meets-bar (0/1).
 * Defaults: rtpengine ports 44000-45999 (RTP_PORT_MIN/RTP_PORT_MAX).
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { stackCpuTicks } from '../integ-tests/src/processes.js';
import { encodeUlaw, ULAW_TO_LINEAR } from '../media-node/src/audio/g711.js';
import type { OutboundDialog } from '../media-node/src/ports/signaling.js';
import { BuiltinSignaling } from '../media-node/src/sip/builtin/builtin-signaling.js';
import { answerAddress, BenchRun, callerSdp, envInt, envRtpRange, ms, quantile, tenantLimits } from './common.js';
import { benchStack } from './ivr-common.js';

const LAYOUTS = parseLayouts(process.env.LAYOUTS ?? '10x10,1x100');
const SECONDS = envInt('SECONDS', 20);
const LATENCY_SECONDS = envInt('LATENCY_SECONDS', 10);
const RATE = envInt('RATE', 25);
const MAX = Math.max(2, ...LAYOUTS.map((l) => l.conferences * l.size));
const RTP = envRtpRange({ min: 44000, max: 45999 }, MAX + 2);
const NUMBER = 'conference-bench';
const run = new BenchRun('conference');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function parseLayouts(raw: string): { conferences: number; size: number }[] {
  return raw.split(',').map((part) => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(part);
    const conferences = Number(m?.[1]);
    const size = Number(m?.[2]);
    if (!m || conferences < 1 || size < 2 || size > 1000) throw new Error(`LAYOUTS=${raw}: expected e.g. 10x10,1x100`);
    return { conferences, size };
  });
}

interface Caller {
  conference: string;
  dialog?: OutboundDialog;
  remote?: { host: string; port: number };
  seq: number;
  ssrc: number;
  /** What this caller sends: its tone, or (the latency probe) silence with bursts. */
  frame: (seq: number) => Buffer;
  /** Distinct RTP sequence numbers received in the window, the largest gap, the last arrival. */
  got: Set<number>;
  maxGap: number;
  lastArrival: number | undefined;
  onPacket?: (payload: Buffer, at: number) => void;
}

const callers: Caller[] = [];
/** Callers by rtpengine's port facing them (it sends to the caller from where the caller sends to). */
const byRemotePort = new Map<number, Caller>();
let counting = false;

/** A tone of its own per conference slot, as μ-law frames (the payload's content costs the mix nothing extra). */
function toneFrames(hz: number): Buffer[] {
  const out: Buffer[] = [];
  const period = Math.round(8000 / hz) * 4; // frames repeat after a whole number of periods
  for (let f = 0; f < period; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(4000 * Math.sin((2 * Math.PI * hz * (f * 160 + i)) / 8000));
    out.push(Buffer.from(encodeUlaw(pcm)));
  }
  return out;
}

const SILENCE = Buffer.alloc(160, 0xff);
const BURST = toneFrames(1000)[0]!;

function onPacket(msg: Buffer, rinfo: RemoteInfo): void {
  const now = performance.now();
  const caller = byRemotePort.get(rinfo.port);
  if (!caller || msg.length < 12 || (msg[1]! & 0x7f) >= 72) return;
  caller.onPacket?.(msg.subarray(12), now);
  if (!counting) return;
  caller.got.add(msg.readUInt16BE(2));
  if (caller.lastArrival !== undefined) caller.maxGap = Math.max(caller.maxGap, now - caller.lastArrival);
  caller.lastArrival = now;
}

let rtpSocket!: Socket;
async function openRtpSocket(): Promise<void> {
  rtpSocket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((r) => rtpSocket.bind(0, '127.0.0.1', () => r()));
  rtpSocket.on('message', onPacket);
}

/** Every answered caller sends one packet per 20 ms, on a schedule from t0 (no drift). */
function startSending(): () => void {
  const t0 = performance.now();
  let n = 0;
  let timer: NodeJS.Timeout;
  const header = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const tick = () => {
    n += 1;
    for (const c of callers) {
      if (!c.remote) continue;
      const packet = Buffer.concat([header, c.frame(c.seq)]);
      packet.writeUInt16BE(c.seq & 0xffff, 2);
      packet.writeUInt32BE((c.seq * 160) >>> 0, 4);
      packet.writeUInt32BE(c.ssrc, 8);
      rtpSocket.send(packet, c.remote.port, c.remote.host);
      c.seq += 1;
    }
    timer = setTimeout(tick, Math.max(0, t0 + (n + 1) * 20 - performance.now()));
  };
  timer = setTimeout(tick, 20);
  return () => clearTimeout(timer);
}

/** Conference of each session, from the caller's From user (`<conference>.<n>`), set at newCall. */
const conferenceOfSession = new Map<string, string>();
let joined = 0;

async function placeCalls(ua: BuiltinSignaling, sipPort: number, list: Caller[]): Promise<void> {
  const before = joined;
  const placing: Promise<void>[] = [];
  for (const [i, caller] of list.entries()) {
    callers.push(caller);
    placing.push(
      ua
        .placeCall({
          target: `sip:${NUMBER}@127.0.0.1:${sipPort}`,
          from: { uri: `sip:${caller.conference}.${i}@127.0.0.1` },
          sdp: callerSdp(rtpSocket.address().port),
          ringTimeoutMs: 30_000,
        })
        .then((dialog) => {
          caller.dialog = dialog;
          caller.remote = answerAddress(dialog.remoteSdp);
          byRemotePort.set(caller.remote.port, caller);
        }),
    );
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  const results = await Promise.allSettled(placing);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length > 0) {
    run.problem(`${failed.length} of ${list.length} calls failed: ${(failed[0] as PromiseRejectedResult).reason}`);
  }
  const want = list.length - failed.length;
  const until = Date.now() + 30_000;
  while (joined - before < want && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  run.check(joined - before >= want, `only ${joined - before} of ${want} participants joined their conference`);
}

async function hangUpAll(): Promise<void> {
  await Promise.allSettled(callers.map((c) => c.dialog?.hangup()));
  callers.length = 0;
  byRemotePort.clear();
  await new Promise((r) => setTimeout(r, 1500));
}

function newCaller(conference: string, frame: Caller['frame']): Caller {
  return {
    conference,
    seq: 0,
    ssrc: (Math.random() * 2 ** 32) >>> 0,
    frame,
    got: new Set(),
    maxGap: 0,
    lastArrival: undefined,
  };
}

/** Energy of a μ-law payload (mean absolute sample): the burst is loud, silence is 0. */
function loudness(payload: Buffer): number {
  let sum = 0;
  for (const b of payload) sum += Math.abs(ULAW_TO_LINEAR[b]!);
  return sum / Math.max(1, payload.length);
}

const limits = tenantLimits({ concurrent: MAX, perSecond: RATE });
const { stack, hook, api } = await benchStack({
  rtpPortMin: RTP.min,
  rtpPortMax: RTP.max,
  number: NUMBER,
  prompts: {},
  env: { ...limits.env, CONFERENCE_MAX_PARTICIPANTS: String(Math.max(100, ...LAYOUTS.map((l) => l.size))) },
  responder: (cb) => {
    const sessionId = String(cb.body.sessionId);
    if (cb.name === 'newCall') {
      const user = String((cb.body.from as { user?: string }).user ?? '');
      conferenceOfSession.set(sessionId, user.slice(0, user.lastIndexOf('.')));
      return { body: { action: 'ivr' } };
    }
    if (cb.name === 'callNotify' && cb.body.event === 'conferenceJoined') joined += 1;
    if (cb.name !== 'getIvrCommand') return undefined;
    if (cb.body.conferenceResult) return { body: { hangup: true } };
    const name = conferenceOfSession.get(sessionId) ?? 'unknown';
    return { body: { conference: { name, beep: false, maxParticipants: 1000 } } };
  },
});
const ua = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, transports: ['udp'] });
await ua.start(() => undefined);
await openRtpSocket();
const stopSending = startSending();
try {
  console.log(`# ${limits.text}; rtpengine ports ${RTP.min}-${RTP.max}`);

  // Mouth-to-ear: A bursts every 500 ms (3 frames of 1 kHz), B listens. Latency ≪ 500 ms, so each burst B hears
  // belongs to the last one A sent.
  const burstEvery = 25;
  let lastBurstAt = 0;
  let bursts = 0;
  const latencies: number[] = [];
  const a = newCaller('latency', (seq) => {
    if (seq % burstEvery === 0) {
      lastBurstAt = performance.now();
      if (counting) bursts += 1;
    }
    return seq % burstEvery < 3 ? BURST : SILENCE;
  });
  const b = newCaller('latency', () => SILENCE);
  let inBurst = false;
  b.onPacket = (payload, at) => {
    const loud = loudness(payload) > 1000;
    if (loud && !inBurst && counting) latencies.push(at - lastBurstAt);
    inBurst = loud;
  };
  await placeCalls(ua, stack.sipPort, [a, b]);
  await new Promise((r) => setTimeout(r, 1000));
  counting = true;
  await new Promise((r) => setTimeout(r, LATENCY_SECONDS * 1000));
  counting = false;
  const sorted = [...latencies].sort((x, y) => x - y);
  console.log(`# mouth-to-ear over ${sorted.length} bursts of ${bursts}`);
  run.check(Math.abs(sorted.length - bursts) <= 1, `${bursts} bursts sent, ${sorted.length} heard`);
  run.figure('latency.p50', quantile(sorted, 0.5), 'ms', 1);
  run.figure('latency.p99', quantile(sorted, 0.99), 'ms', 1);
  await hangUpAll();
  // The jitter buffer's target at the end (journaled when the participant left): most of the delay the mix adds.
  for (const [sessionId, conference] of conferenceOfSession) {
    if (conference !== 'latency') continue;
    const journal = (await api.call('GET', `/v1/sessions/${sessionId}`)).json?.journal as
      | { event?: string; audio?: Record<string, number> }[]
      | undefined;
    const left = journal?.find((e) => e.event === 'conferenceLeft');
    if (left?.audio) console.log(`# ${sessionId}: ${JSON.stringify(left.audio)}`);
  }

  for (const layout of LAYOUTS) {
    const key = `${layout.conferences}x${layout.size}`;
    const list: Caller[] = [];
    for (let c = 0; c < layout.conferences; c++) {
      for (let p = 0; p < layout.size; p++) {
        const frames = toneFrames(300 + ((p * 37) % 3000));
        list.push(newCaller(`load-${key}-${c}`, (seq) => frames[seq % frames.length]!));
      }
    }
    await placeCalls(ua, stack.sipPort, list);
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of callers) {
      c.got.clear();
      c.maxGap = 0;
      c.lastArrival = undefined;
    }
    const before = stackCpuTicks();
    const loadBefore = process.cpuUsage();
    const t0 = performance.now();
    counting = true;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    counting = false;
    const seconds = (performance.now() - t0) / 1000;
    const after = stackCpuTicks();
    const load = process.cpuUsage(loadBefore);
    // The node sends each participant one frame per tick: its share that arrived, from the sequence numbers seen.
    const delivered = callers.map((c) => {
      const seqs = [...c.got].sort((x, y) => x - y);
      if (seqs.length < 2) return 0;
      // Sequence numbers wrap at 65536; a window of SECONDS at 50/s never spans more than one wrap.
      let span = seqs.at(-1)! - seqs[0]! + 1;
      const gapAt = seqs.findIndex((s, i) => i > 0 && s - seqs[i - 1]! > 30_000);
      if (gapAt > 0) span = seqs[gapAt - 1]! + 65536 - seqs[gapAt]! + 1;
      return (100 * seqs.length) / Math.max(span, seconds * 50 * 0.98);
    });
    const minDelivered = Math.min(...delivered);
    const maxGap = Math.max(...callers.map((c) => c.maxGap));
    const participants = callers.length;
    const perParticipant = (ticks: number) => (ticks * 1000) / CLK_TCK / seconds / participants;
    console.log(
      `# ${key}: ${participants} participants, least delivered ${minDelivered.toFixed(2)} %, max gap ${ms(maxGap)} ms`,
    );
    run.figure(`${key}.min-delivered`, minDelivered, '%', 2);
    run.figure(`${key}.max-gap`, maxGap, 'ms', 1);
    run.figure(`${key}.cpu-ms-per-participant-s.media`, perParticipant(after.media - before.media), 'ms', 2);
    run.figure(
      `${key}.cpu-ms-per-participant-s.rtpengine`,
      perParticipant(after.rtpengine - before.rtpengine),
      'ms',
      2,
    );
    run.figure(
      `${key}.cpu-ms-per-participant-s.load`,
      (load.user + load.system) / 1000 / seconds / participants,
      'ms',
      2,
    );
    run.figure(`${key}.meets-bar`, minDelivered >= 99.5 && maxGap < 60 ? 1 : 0, '', 0);
    await hangUpAll();
  }
} finally {
  stopSending();
  rtpSocket.close();
  await ua.stop();
  await hook.close();
  await stack.stop();
}
run.finish();
