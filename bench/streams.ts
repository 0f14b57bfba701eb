/**
 * `npm run bench:streams`: audio streams to a voice bot (docs/streams.md), measured at the edges the caller and
 * the bot see. The callers are this process (the node's own SIP stack as a user agent, and a UDP socket per 25
 * callers, each caller sending 20 ms of μ-law every 20 ms); the bot is a WebSocket server here too, so one clock
 * times both edges. μ-law passes rtpengine and the node untouched, so each packet carries its call and sequence number in
 * its first bytes and is recognised wherever it arrives.
 *
 * - Latency (one stream, LATENCY_SECONDS): caller → bot (RTP sent → `media` received) and bot → caller (the
 *   bot's echo sent → RTP received), p50 and p99.
 * - `clear` → silence: the bot queues 2 s of audio, sends `clear` after 0.5 s; the time from `clear` to the
 *   last of that audio reaching the caller.
 * - Concurrency (STEPS streams, SECONDS each): every stream bidirectional, the bot echoing; the share of frames
 *   that arrive each way (bot: of those the callers sent; callers: of those the bot sent back), the largest
 *   gap a caller sees, and CPU per stream of the media node and rtpengine (from /proc). A step meets the bar
 *   with ≥ 99.5 % both ways and no gap of 60 ms or more on the wire.
 * - Gaps are measured twice: where this process reads each packet (its own event-loop stalls included: it
 *   shares the two cores with what it measures) and on the wire, by the kernel's capture timestamps (tcpdump,
 *   headers only), which is what a caller on another machine would get. The bar uses the wire.
 *
 * Figures: streams.latency.{caller-to-bot,bot-to-caller}.{p50,p99} (ms), streams.clear-to-silence (ms),
 * streams.n<N>.{to-bot,to-caller} (%), streams.n<N>.max-gap (ms, at this process), streams.n<N>.max-gap-wire (ms), streams.n<N>.cpu-ms-per-stream-s.{media,rtpengine,load},
 * streams.n<N>.loop-stall-max.{media,load} (ms: the longest event-loop delay of the media node and of this process),
 * streams.n<N>.udp-receive-overflows (datagrams the kernel dropped for a full receive buffer, machine-wide),
 * streams.max-streams-meeting-bar.
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type WebSocket, WebSocketServer } from 'ws';
import { stackCpuTicks } from '../integ-tests/src/processes.js';
import { type CapturedPacket, RtpCapture } from '../integ-tests/src/rtp-capture.js';
import type { OutboundDialog } from '../media-node/src/ports/signaling.js';
import { BuiltinSignaling } from '../media-node/src/sip/builtin/builtin-signaling.js';
import {
  answerAddress,
  BenchRun,
  callerSdp,
  envInt,
  envIntList,
  envRtpRange,
  ms,
  quantile,
  tenantLimits,
} from './common.js';
import { benchStack } from './ivr-common.js';

const STEPS = envIntList('STEPS', [50, 100, 200]);
const SECONDS = envInt('SECONDS', 20);
const LATENCY_SECONDS = envInt('LATENCY_SECONDS', 10);
const RATE = envInt('RATE', 25);
const MAX = Math.max(...STEPS);
const RTP = envRtpRange({ min: 48000, max: 49999 }, MAX + 2);
const NUMBER = 'stream-bench';
const CLEAR_TAG = 0xffff;
const run = new BenchRun('streams');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * One caller: where rtpengine listens for it, what it sent and received. Callers share UDP sockets, 25 to one (their
 * packets carry their index), which keeps the load generator's own cost per packet low: it shares the two cores
 * with what it measures.
 */
interface Caller {
  index: number;
  /** The socket it sends from and receives at (shared with other callers). */
  socket: Socket;
  dialog?: OutboundDialog;
  remote?: { host: string; port: number };
  seq: number;
  ssrc: number;
  sentAt: Map<number, number>;
  /** Sequence numbers the bot got, the bot echoed, and the caller got back. */
  botGot: SeqSet;
  botEchoed: SeqSet;
  callerGot: SeqSet;
  lastArrival: number | undefined;
  maxGap: number;
}

interface Measure {
  callerToBot: number[];
  botToCaller: number[];
  clearSentAt?: number;
  clearLastArrival?: number;
  counting: boolean;
}
const measure: Measure = { callerToBot: [], botToCaller: [], counting: false };
const callers: Caller[] = [];
/** Callers by the index their packets carry; indices are never reused, so a late packet of an ended call is ignored. */
const callerByIndex = new Map<number, Caller>();
let nextIndex = 0;
/** Echo-bot send times of the packets it echoed, by sequence number (the latency run's one call). */
const botSentAt = new Map<number, number>();
let botMode: 'echo' | 'clear' = 'echo';
const PAYLOAD_KEY = Buffer.from('"payload":"');
const MEDIA_EVENT = Buffer.from('{"event":"media"');
const ECHO_HEAD = Buffer.from('{"event":"media","media":{"payload":"');
const ECHO_TAIL = Buffer.from('"}}');
/** Latency is measured with one call and nothing else running; only then are send times kept. */
const latencyRun = () => callers.length === 1 && callers[0]!.index === latencyCaller;
let latencyCaller = -1;

/**
 * Sequence numbers seen, as one bit each: a Set per caller per direction costs the load more CPU and garbage
 * than the node spends on the frame.
 */
class SeqSet {
  private bits = new Uint8Array(1024);
  size = 0;

  add(seq: number): void {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const bit = 1 << (seq & 7);
    if ((this.bits[byte]! & bit) === 0) {
      this.bits[byte]! |= bit;
      this.size++;
    }
  }

  /** How many of `from`…`to` (inclusive) were seen. */
  countIn(from: number, to: number): number {
    let k = 0;
    for (let s = from; s <= to; s++) if (((this.bits[s >>> 3] ?? 0) & (1 << (s & 7))) !== 0) k++;
    return k;
  }
}
let streamsStarted = 0;

function payload(index: number, seq: number): Buffer {
  const p = Buffer.alloc(160, 0xff);
  p.writeUInt32BE(seq, 0);
  p.writeUInt16BE(index, 4);
  return p;
}

/** A caller's packet before its sequence, timestamp, SSRC and tag are written: RTP version 2, PCMU, μ-law silence. */
const PACKET_TEMPLATE = Buffer.concat([Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(160, 0xff)]);

function startBot(): Promise<WebSocketServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  server.on('connection', (ws: WebSocket) => {
    ws.on('message', (raw) => {
      const now = performance.now();
      const data = raw as Buffer;
      // The media messages (all but a few) are read and echoed as bytes, without JSON.parse or text decoding:
      // the bot is part of the load, not the product, and shares the cores with it.
      const at = data.indexOf(PAYLOAD_KEY);
      if (at < 0) {
        const m = JSON.parse(String(data)) as { event: string };
        if (m.event === 'start') {
          streamsStarted += 1;
          if (botMode === 'clear') void clearScenario(ws);
        }
        return;
      }
      if (botMode !== 'echo' || data.indexOf(MEDIA_EVENT) !== 0) return;
      const start = at + PAYLOAD_KEY.length;
      const end = data.indexOf(0x22, start);
      const head = Buffer.from(data.toString('latin1', start, start + 8), 'base64');
      const seq = head.readUInt32BE(0);
      const index = head.readUInt16BE(4);
      const caller = callerByIndex.get(index);
      if (!caller) return;
      caller.botGot.add(seq);
      if (latencyRun()) {
        const sent = caller.sentAt.get(seq);
        if (measure.counting && sent !== undefined) measure.callerToBot.push(now - sent);
        botSentAt.set(seq, performance.now());
        if (botSentAt.size > 500) botSentAt.delete(seq - 500);
      }
      caller.botEchoed.add(seq);
      ws.send(Buffer.concat([ECHO_HEAD, data.subarray(start, end), ECHO_TAIL]), { binary: false });
    });
  });
  return new Promise((resolve) => server.once('listening', () => resolve(server)));
}

/** 2 s of tagged audio at once, `clear` half a second later. */
async function clearScenario(ws: WebSocket): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 100; i++) {
    ws.send(JSON.stringify({ event: 'media', media: { payload: payload(CLEAR_TAG, i).toString('base64') } }));
  }
  await new Promise((r) => setTimeout(r, 500));
  measure.clearSentAt = performance.now();
  ws.send(JSON.stringify({ event: 'clear' }));
}

function onCallerPacket(msg: Buffer): void {
  const now = performance.now();
  if (msg.length < 12 + 6) return;
  const seq = msg.readUInt32BE(12);
  const index = msg.readUInt16BE(16);
  if (index === CLEAR_TAG) {
    measure.clearLastArrival = now;
    return;
  }
  const caller = callerByIndex.get(index);
  if (!caller) return;
  caller.callerGot.add(seq);
  if (!measure.counting) return;
  if (caller.lastArrival !== undefined) caller.maxGap = Math.max(caller.maxGap, now - caller.lastArrival);
  caller.lastArrival = now;
  if (!latencyRun()) return;
  const sent = botSentAt.get(seq);
  if (sent !== undefined) measure.botToCaller.push(now - sent);
}

/**
 * The longest time between two packets of one caller on the wire (kernel capture times, seconds → ms), for
 * packets captured between `from` and `to` (wall clock, seconds).
 */
function maxWireGap(packets: CapturedPacket[], from: number, to: number): number {
  const last = new Map<number, number>();
  let gap = 0;
  for (const p of packets) {
    if (p.t < from || p.t > to || p.payload.length < 12 + 6) continue;
    const index = p.payload.readUInt16BE(16);
    if (index === CLEAR_TAG || !callerByIndex.has(index)) continue;
    const before = last.get(index);
    if (before !== undefined) gap = Math.max(gap, p.t - before);
    last.set(index, p.t);
  }
  if (last.size === 0) throw new Error("the capture holds none of the callers' packets");
  return gap * 1000;
}

/**
 * The callers' sockets, CALLERS_PER_SOCKET callers each. One socket for all of them collapsed at 200 streams:
 * libuv reads at most 32 datagrams from a socket per turn of the event loop, so once the loop's turns grew
 * long (200 bot sockets to read too), the one socket fell behind for good and overflowed.
 */
const CALLERS_PER_SOCKET = 25;
const rtpSockets: Socket[] = [];
async function openRtpSockets(): Promise<void> {
  for (let i = 0; i < Math.ceil((MAX + 2) / CALLERS_PER_SOCKET); i++) {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    socket.on('message', onCallerPacket);
    rtpSockets.push(socket);
  }
}
const callerPorts = () => new Set(rtpSockets.map((s) => s.address().port));

function newCaller(): Caller {
  const index = nextIndex++;
  if (index >= CLEAR_TAG) throw new Error('too many callers for the 16-bit caller tag');
  const caller: Caller = {
    index,
    socket: rtpSockets[index % rtpSockets.length]!,
    seq: 0,
    ssrc: (Math.random() * 2 ** 32) >>> 0,
    sentAt: new Map(),
    botGot: new SeqSet(),
    botEchoed: new SeqSet(),
    callerGot: new SeqSet(),
    lastArrival: undefined,
    maxGap: 0,
  };
  callerByIndex.set(index, caller);
  return caller;
}

/** Every caller with an answer sends one packet per 20 ms, on a schedule from t0 (no drift). */
function startSending(): () => void {
  const t0 = performance.now();
  let n = 0;
  let timer: NodeJS.Timeout;
  const tick = () => {
    n += 1;
    for (const c of callers) {
      if (!c.remote) continue;
      const packet = Buffer.from(PACKET_TEMPLATE);
      packet.writeUInt16BE(c.seq & 0xffff, 2);
      packet.writeUInt32BE((c.seq * 160) >>> 0, 4);
      packet.writeUInt32BE(c.ssrc, 8);
      packet.writeUInt32BE(c.seq, 12);
      packet.writeUInt16BE(c.index, 16);
      const at = performance.now();
      c.socket.send(packet, c.remote.port, c.remote.host);
      if (c.index === latencyCaller) {
        c.sentAt.set(c.seq, at);
        if (c.sentAt.size > 500) c.sentAt.delete(c.seq - 500);
      }
      c.seq += 1;
    }
    timer = setTimeout(tick, Math.max(0, t0 + (n + 1) * 20 - performance.now()));
  };
  timer = setTimeout(tick, 20);
  return () => clearTimeout(timer);
}

async function placeCalls(ua: BuiltinSignaling, sipPort: number, n: number): Promise<void> {
  const started = streamsStarted;
  const placing: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const caller = newCaller();
    callers.push(caller);
    placing.push(
      ua
        .placeCall({
          target: `sip:${NUMBER}@127.0.0.1:${sipPort}`,
          from: { uri: `sip:bench${caller.index}@127.0.0.1` },
          sdp: callerSdp(caller.socket.address().port),
          ringTimeoutMs: 30_000,
        })
        .then((dialog) => {
          caller.dialog = dialog;
          caller.remote = answerAddress(dialog.remoteSdp);
        }),
    );
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  const results = await Promise.allSettled(placing);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length > 0)
    run.problem(`${failed.length} of ${n} calls failed: ${(failed[0] as PromiseRejectedResult).reason}`);
  const until = Date.now() + 20_000;
  while (streamsStarted - started < n - failed.length && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  run.check(streamsStarted - started >= n - failed.length, `only ${streamsStarted - started} of ${n} streams started`);
}

async function hangUpAll(): Promise<void> {
  await Promise.allSettled(callers.map((c) => c.dialog?.hangup()));
  callers.length = 0;
  callerByIndex.clear();
  botSentAt.clear();
  await new Promise((r) => setTimeout(r, 1500));
}

/** The machine's UDP datagrams dropped for a full receive buffer so far (/proc/net/snmp, Udp RcvbufErrors). */
function udpReceiveOverflows(): number {
  const [names, values] = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'))
    .map((l) => l.split(/\s+/));
  return Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? 0);
}

/** Datagrams each local UDP port dropped for a full receive buffer so far (/proc/net/udp, `drops`). */
function udpDropsByPort(): Map<number, number> {
  const drops = new Map<number, number>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = Number.parseInt(f[1]!.split(':')[1]!, 16);
    drops.set(port, (drops.get(port) ?? 0) + Number(f[12]));
  }
  return drops;
}

/** Where the datagrams dropped since `before` were dropped: the callers' socket, rtpengine's ports, the rest. */
function whereDropped(before: Map<number, number>): string {
  const by = { callers: 0, rtpengine: 0, other: 0 };
  const ours = callerPorts();
  for (const [port, n] of udpDropsByPort()) {
    const d = n - (before.get(port) ?? 0);
    if (d <= 0) continue;
    if (ours.has(port)) by.callers += d;
    else if (port >= RTP.min && port <= RTP.max) by.rtpengine += d;
    else by.other += d; // the media node's sink, or any other process
  }
  return `callers' socket ${by.callers}, rtpengine ${by.rtpengine}, media node and others ${by.other}`;
}

/** The media node's longest event-loop delay since the last scrape (prom-client resets it on every scrape), ms. */
async function nodeLoopLagMax(): Promise<number | undefined> {
  const url = stack.metricsUrls[0];
  if (!url) return undefined;
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith('nodejs_eventloop_lag_max_seconds'));
  return line ? Number(line.split(' ').at(-1)) * 1000 : undefined;
}

/** The node's frame counts of these sessions' streams, summed (from each session's `streamEnded` journal entry). */
async function nodeFrames(
  sessionIds: string[],
): Promise<Record<'fromBot' | 'played' | 'late' | 'stalls' | 'drained' | 'padded', number>> {
  const sum = { fromBot: 0, played: 0, late: 0, stalls: 0, drained: 0, padded: 0 };
  for (const id of sessionIds) {
    const res = await api.call('GET', `/v1/sessions/${id}`);
    const journal = (res.json as { journal?: { event?: string; frames?: Record<string, number> }[] }).journal ?? [];
    const frames = journal.find((e) => e.event === 'streamEnded')?.frames ?? {};
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += frames[k] ?? 0;
  }
  return sum;
}

const bot = await startBot();
const botUrl = `ws://127.0.0.1:${(bot.address() as AddressInfo).port}`;
const limits = tenantLimits({ concurrent: MAX, perSecond: RATE });
/** The sessions of the calls placed since the last step (for the node's own frame counts, from their journals). */
const stepSessions: string[] = [];
const { stack, hook, api } = await benchStack({
  rtpPortMin: RTP.min,
  rtpPortMax: RTP.max,
  number: NUMBER,
  prompts: {},
  env: { ...limits.env, STREAM_MAX_PER_TENANT: String(MAX + 10) },
  responder: (cb) => {
    if (cb.name === 'newCall') {
      stepSessions.push(String(cb.body.sessionId));
      return { body: { action: 'ivr' } };
    }
    if (cb.name === 'getIvrCommand' && !cb.body.streamResult) {
      return { body: { stream: { url: `${botUrl}/bench`, bidirectional: true } } };
    }
    if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
    return undefined;
  },
});
const ua = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, transports: ['udp'] });
await ua.start(() => undefined);
await openRtpSockets();
const stopSending = startSending();
let best = 0;
try {
  console.log(`# ${limits.text}; rtpengine ports ${RTP.min}-${RTP.max}`);
  // Latency: one stream, nothing else running.
  botMode = 'echo';
  latencyCaller = nextIndex;
  await placeCalls(ua, stack.sipPort, 1);
  await new Promise((r) => setTimeout(r, 1000));
  measure.counting = true;
  await new Promise((r) => setTimeout(r, LATENCY_SECONDS * 1000));
  measure.counting = false;
  const c2b = [...measure.callerToBot].sort((a, b) => a - b);
  const b2c = [...measure.botToCaller].sort((a, b) => a - b);
  console.log(`# latency over ${c2b.length} / ${b2c.length} packets`);
  run.figure('latency.caller-to-bot.p50', quantile(c2b, 0.5), 'ms', 2);
  run.figure('latency.caller-to-bot.p99', quantile(c2b, 0.99), 'ms', 2);
  run.figure('latency.bot-to-caller.p50', quantile(b2c, 0.5), 'ms', 2);
  run.figure('latency.bot-to-caller.p99', quantile(b2c, 0.99), 'ms', 2);
  await hangUpAll();

  // clear → silence.
  botMode = 'clear';
  await placeCalls(ua, stack.sipPort, 1);
  await new Promise((r) => setTimeout(r, 2500));
  const clearMs =
    measure.clearSentAt !== undefined && measure.clearLastArrival !== undefined
      ? Math.max(0, measure.clearLastArrival - measure.clearSentAt)
      : undefined;
  run.figure('clear-to-silence', clearMs, 'ms', 1);
  await hangUpAll();

  // Concurrency steps.
  botMode = 'echo';
  for (const n of STEPS) {
    await placeCalls(ua, stack.sipPort, n);
    // The callers' packets on the wire: the RTP header and the caller's tag (12 + 6 bytes after 42 of headers).
    // Started before the settling second: starting tcpdump is a burst of CPU that, on a saturated machine,
    // delays every stream's next frame at once (seen as a 60-70 ms gap of all callers at the window's start).
    const wire = new RtpCapture(`udp and (${[...callerPorts()].map((p) => `dst port ${p}`).join(' or ')})`, {
      headerBytes: 64,
    });
    await wire.ready();
    await new Promise((r) => setTimeout(r, 1000));
    for (const c of callers) {
      c.lastArrival = undefined;
      c.maxGap = 0;
    }
    const before = stackCpuTicks();
    const loadBefore = process.cpuUsage();
    // Event-loop stalls, the load's own and the media node's: a caller's gap is one or the other's (or the wire's).
    await nodeLoopLagMax(); // a scrape resets the node's histogram
    const overflowsBefore = udpReceiveOverflows();
    const dropsBefore = udpDropsByPort();
    const loadLag = monitorEventLoopDelay({ resolution: 5 });
    loadLag.enable();
    const wallFrom = Date.now() / 1000;
    const t0 = performance.now();
    const first = new Map(callers.map((c) => [c.index, c.seq]));
    measure.counting = true;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    measure.counting = false;
    const wallTo = Date.now() / 1000;
    const seconds = (performance.now() - t0) / 1000;
    loadLag.disable();
    const mediaLagMs = await nodeLoopLagMax();
    const overflows = udpReceiveOverflows() - overflowsBefore;
    const after = stackCpuTicks();
    const load = process.cpuUsage(loadBefore);
    const last = new Map(callers.map((c) => [c.index, c.seq - 1]));
    // What was sent in the window and is still on its way gets half a second to arrive.
    await new Promise((r) => setTimeout(r, 500));
    const inWindow = (c: Caller, set: SeqSet) => set.countIn(first.get(c.index)!, last.get(c.index)!);
    const sent = callers.reduce((s, c) => s + last.get(c.index)! - first.get(c.index)! + 1, 0);
    const toBot = callers.reduce((s, c) => s + inWindow(c, c.botGot), 0);
    const botSent = callers.reduce((s, c) => s + inWindow(c, c.botEchoed), 0);
    const toCaller = callers.reduce((s, c) => s + inWindow(c, c.callerGot), 0);
    const maxGap = Math.max(...callers.map((c) => c.maxGap));
    await wire.stop();
    const wireGap = maxWireGap(wire.packets(), wallFrom, wallTo);
    const toBotPct = (100 * toBot) / sent;
    const toCallerPct = botSent === 0 ? 0 : (100 * toCaller) / botSent;
    const perStream = (ticks: number) => (ticks * 1000) / CLK_TCK / seconds / n;
    console.log(
      `# ${n} streams: to bot ${toBotPct.toFixed(2)} %, to callers ${toCallerPct.toFixed(2)} %, ` +
        `max gap ${ms(wireGap)} ms on the wire, ${ms(maxGap)} ms where this process read it`,
    );
    run.figure(`n${n}.to-bot`, toBotPct, '%', 2);
    run.figure(`n${n}.to-caller`, toCallerPct, '%', 2);
    run.figure(`n${n}.max-gap-wire`, wireGap, 'ms', 1);
    run.figure(`n${n}.max-gap`, maxGap, 'ms', 1);
    run.figure(`n${n}.cpu-ms-per-stream-s.media`, perStream(after.media - before.media), 'ms', 2);
    run.figure(`n${n}.cpu-ms-per-stream-s.rtpengine`, perStream(after.rtpengine - before.rtpengine), 'ms', 2);
    // This process: the callers, the bot and the SIP user agent (the load, on the same two cores).
    run.figure(`n${n}.cpu-ms-per-stream-s.load`, (load.user + load.system) / 1000 / seconds / n, 'ms', 2);
    console.log(
      `# ${n} streams: longest event-loop stall in the window: media node ${ms(mediaLagMs)} ms, load ${ms(loadLag.max / 1e6)} ms`,
    );
    run.figure(`n${n}.loop-stall-max.media`, mediaLagMs, 'ms', 1);
    run.figure(`n${n}.loop-stall-max.load`, loadLag.max / 1e6, 'ms', 1);
    // Datagrams the kernel dropped because a socket's receive buffer was full (any process: a saturated machine).
    run.figure(`n${n}.udp-receive-overflows`, overflows, 'datagrams', 0);
    if (overflows > 0)
      console.log(`# ${n} streams: datagrams dropped for a full receive buffer: ${whereDropped(dropsBefore)}`);
    if (toBotPct >= 99.5 && toCallerPct >= 99.5 && wireGap < 60) best = n;
    const echoed = callers.reduce((s, c) => s + c.botEchoed.size, 0);
    const got = callers.reduce((s, c) => s + c.callerGot.size, 0);
    await hangUpAll();
    // Where the frames the bot sent went, whole calls: the node's counts (journal `streamEnded`) between the
    // bot's and the callers'.
    const node = await nodeFrames(stepSessions.splice(0));
    console.log(
      `# ${n} streams, whole calls: bot echoed ${echoed}, node got ${node.fromBot} and played ${node.played} ` +
        `(late ${node.late}, stalls ${node.stalls}, drained ${node.drained}, padded ${node.padded}), callers got ${got}`,
    );
  }
  run.figure('max-streams-meeting-bar', best, 'streams', 0);
} finally {
  stopSending();
  for (const s of rtpSockets) s.close();
  await ua.stop();
  for (const c of bot.clients) c.terminate();
  bot.close();
  await hook.close();
  await stack.stop();
}
run.finish();
