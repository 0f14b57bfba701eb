/**
 * Whole calls at a stepped rate, and what each costs: SIPp places calls (INVITE → newCall answered at once
 * with {"action":"ivr"} → 200 OK → callAnswered → getIvrCommand answered with a minute of silence → the
 * caller's BYE after HOLD_MS → sessionCompleted) against the stack as `npm start` runs it; the webhook is a
 * real HTTP server in this process that verifies every callback's signature (docs/contract.md, "Signatures").
 * Per rate step: achieved calls/s, INVITE → 200 OK p50/p99 (SIPp -trace_rtt), failed calls, CPU milliseconds
 * per call of each process group (from /proc/<pid>/stat) and DynamoDB requests per call by operation (the
 * X-Amz-Target header of every HTTP request to dynalite, captured on loopback with tcpdump) and by operation
 * and item kind (the constant parts of the request's first key: `PutItem SESSION/CLAIM`), printed as a table,
 * and the node's PutEvents requests per call (to the local bus, captured the same way).
 *
 *   npm run bench:full-call          (node --import tsx bench/full-call.ts)
 *
 * Environment (defaults are the full-size run):
 *   RATES=25,50,75,100              new calls per second, one step each (SIPp -r … -rp 1000)
 *   SECONDS=60                      how long each step places calls (SIPp -m RATE × SECONDS)
 *   HOLD_MS=2000                    how long the caller stays after the 200 OK before its BYE
 *   IDLE_SECONDS=10                 an idle baseline before the steps (CPU and DynamoDB per second); 0 skips it
 *   GRACE_MS=15000                  how long after SIPp ends a step's sessionCompleted callbacks may take
 *   WINDOW_SECONDS=10               the slices each step is also shown in (INVITE → 200 and CPU per slice: drift)
 *   KEEP_GOING=1                    run every step even after one with failed calls (still exits 1)
 *   RTP_PORT_MIN=44000 RTP_PORT_MAX=52499   rtpengine's ports, 4 per call: by default 1.25 × max(RATES) ×
 *                                   (HOLD_MS + 15 s) calls (an overloaded node holds a call's ports well after
 *                                   SIPp's BYE); at least max(RATES) × (HOLD_MS + 1 s)
 * SIPp keeps at most RATE × (HOLD_MS + 5 s) calls open (-l), and at most 80 % of what the ports hold: when
 * set-up slows down under load, SIPp places fewer calls per second rather than the node running out of ports.
 * Limits: the stack is started with room for max(RATES) calls/s: the tenant limits (common.ts tenantLimits, with
 * 4 × max(RATES) new calls per second, as SIPp catches up in bursts),
 * the node's new INVITEs per source (SIP_INVITE_RATE_PER_SOURCE, 50/s by default: SIPp is one source), its
 * MAX_CALLS and, for long holds, MEDIA_TIMEOUT_SEC (the caller sends no RTP).
 * A step with a failed call (SIPp's failed calls, or a placed call without the whole callback flow ending in
 * sessionCompleted `callingPartyDrop` within GRACE_MS) is a broken run: the benchmark stops there (unless
 * KEEP_GOING=1) and exits 1, as it does when a callback's signature does not verify or the capture is incomplete.
 *
 * CPU time is utime + stime of every process under this one (walked by parent pid in /proc), grouped:
 * media (the media node processes and their children other than rtpengine), rtpengine, dynamodb (the
 * dynalite child), control (the stack process: API, event bus, dispatcher), and the load tools apart:
 * sipp (reaped SIPp runs) and bench (this process: the webhook and the capture's parsing; and tcpdump). A
 * window covers a step from SIPp's start until its sessions completed, idle work included (heartbeats, inbox
 * polls): the idle baseline shows that part on its own. Achieved calls/s: the calls completed over the same
 * window less the last call's HOLD_MS, i.e. from SIPp's start to the last sessionCompleted without the hold.
 *
 * Calls the node refuses for its load (503 "node overloaded", docs/operations.md "Overload") are failed calls,
 * counted apart as well: the table's "503 load" column.
 *
 * Figures per step R: full-call.r<R>.achieved (calls/s), .invite-200.p50 / .p99 (ms), .failed (calls),
 * .refused-for-load (calls),
 * .cpu-ms-per-call.<group> (ms), .dynamodb-requests-per-call and .dynamodb.<Operation>-per-call (requests),
 * .newcall-stage.<stage>.p50 / .p99 (ms: INVITE → newCall reply in four stages, newcall-stages.ts, read from the
 * spans the stack writes under its DATA_DIR/traces);
 * full-call.idle.cpu-ms-per-s.<group> (ms) and full-call.idle.dynamodb-requests-per-s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { SIGNATURE_HEADER, verifySignature } from '@sipms/shared/signing';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { allProcesses, type ProcStat, readCmdline } from '../integ-tests/src/processes.js';
import { renderScenario, runSipp } from '../integ-tests/src/sipp.js';
import { type ReceivedCallback, WebhookServer } from '../integ-tests/src/webhook-server.js';
import {
  BenchRun,
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
import { NEWCALL_STAGES, type NewCallStage, newCallStages, readStageSpans } from './newcall-stages.js';

const RATES = envIntList('RATES', [25, 50, 75, 100]);
const SECONDS = envInt('SECONDS', 60);
const HOLD_MS = envInt('HOLD_MS', 2000, 0);
const IDLE_SECONDS = envInt('IDLE_SECONDS', 10, 0);
const GRACE_MS = envInt('GRACE_MS', 15_000, 0);
const WINDOW_SECONDS = envInt('WINDOW_SECONDS', 10, 1);
const KEEP_GOING = process.env.KEEP_GOING === '1';
const MAX_RATE = Math.max(...RATES);
/** Calls up at once at a rate when set-up is quick: each lives HOLD_MS plus set-up and hang-up (1 s of room). */
const upAtOnce = (rate: number) => Math.ceil(rate * (HOLD_MS / 1000 + 1));
/**
 * At most this many calls open at once (SIPp -l): 5 s of room for slow set-ups, and 80 % of the calls the RTP
 * ports hold (a call SIPp has closed may still hold its ports while the node tears it down).
 */
const openAtMost = (rate: number) => Math.min(Math.ceil(rate * (HOLD_MS / 1000 + 5)), Math.floor(0.8 * RTP_ROOM));
const RTP = envRtpRange(
  { min: 44000, max: Math.min(65535, 44000 + 4 * Math.ceil(1.25 * MAX_RATE * (HOLD_MS / 1000 + 15)) - 1) },
  upAtOnce(MAX_RATE),
);
const RTP_ROOM = Math.floor((RTP.max - RTP.min + 1) / 4);
// SIPp catches up in bursts when its open-call cap (-l) held it back: at 40/s a second of 81 INVITEs was seen,
// refused by a calls-per-second limit of 2 × 40 (tenantLimits doubles what it is asked for). The benchmark
// measures throughput, not the limiter.
const limits = tenantLimits({ concurrent: openAtMost(MAX_RATE), perSecond: 2 * MAX_RATE });
const NUMBER = 'full-call-bench';
/** How a call the caller hangs up ends (docs/contract.md, `sessionCompleted.reason`). */
const CALLER_HANGUP = 'callingPartyDrop';

const GROUPS = ['media', 'rtpengine', 'dynamodb', 'control', 'sipp', 'bench'] as const;
type Group = (typeof GROUPS)[number];

// ---------------------------------------------------------------------------------------------------------------
// CPU time from /proc

/** The kernel's clock ticks per second (AT_CLKTCK of the auxiliary vector: what `getconf CLK_TCK` prints). */
function clockTicksPerSecond(): number {
  const auxv = readFileSync('/proc/self/auxv');
  const word = process.arch.endsWith('64') ? 8 : 4;
  const little = endianness() === 'LE';
  const read = (at: number): number => {
    if (word === 4) return little ? auxv.readUInt32LE(at) : auxv.readUInt32BE(at);
    return Number(little ? auxv.readBigUInt64LE(at) : auxv.readBigUInt64BE(at));
  };
  for (let at = 0; at + 2 * word <= auxv.length; at += 2 * word) {
    if (read(at) === 17 /* AT_CLKTCK */) return read(at + word);
  }
  throw new Error('no AT_CLKTCK in /proc/self/auxv');
}
const CLK_TCK = clockTicksPerSecond();

interface Sampled {
  group: Group;
  ppid: number;
  ticks: number;
  childTicks: number;
  comm: string;
}

/**
 * Every process under this one with its group: a process is the media node (its cmdline runs
 * media-node's main), rtpengine, dynalite, SIPp or the stack process itself, or else belongs to its
 * parent's group (tsx's esbuild, ffmpeg under a media node).
 */
function sampleTree(stackPid: number): Map<string, Sampled> {
  const all = new Map<number, ProcStat>();
  const children = new Map<number, number[]>();
  for (const st of allProcesses()) {
    all.set(st.pid, st);
    children.set(st.ppid, [...(children.get(st.ppid) ?? []), st.pid]);
  }
  const out = new Map<string, Sampled>();
  const visit = (pid: number, inherited: Group) => {
    const st = all.get(pid);
    if (!st) return;
    let group = inherited;
    if (pid === process.pid) group = 'bench';
    else if (pid === stackPid) group = 'control';
    else if (st.comm === 'rtpengine') group = 'rtpengine';
    else if (st.comm === 'sipp') group = 'sipp';
    else {
      const cmd = readCmdline(pid);
      if (/dynalite/.test(cmd)) group = 'dynamodb';
      else if (/media-node\/main\.mjs|media-node\/src\/main\.ts/.test(cmd)) group = 'media';
    }
    out.set(`${pid}:${st.start}`, {
      group,
      ppid: st.ppid,
      ticks: st.ticks,
      childTicks: st.childTicks,
      comm: st.comm,
    });
    for (const child of children.get(pid) ?? []) visit(child, group);
  };
  visit(process.pid, 'bench');
  return out;
}

/**
 * CPU milliseconds per group between two samples. A process's reaped children count for its group, except
 * this process's: the only children it waits for during a window are SIPp runs (tcpdump and the stack live
 * until the end), so those count as sipp.
 */
function cpuBetween(before: Map<string, Sampled>, after: Map<string, Sampled>): Record<Group, number> {
  const cpu = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  for (const [key, a] of after) {
    const b = before.get(key);
    cpu[a.group] += a.ticks - (b?.ticks ?? 0);
    const reaped = a.childTicks - (b?.childTicks ?? 0);
    cpu[key.startsWith(`${process.pid}:`) ? 'sipp' : a.group] += reaped;
  }
  // A process that ended in between is in its parent's reaped time with all its CPU, of which the first sample
  // had already seen some (a SIPp run that a 10 s slice's sample caught alive): that part is not counted twice.
  for (const [key, b] of before) {
    if (after.has(key)) continue;
    const parent = [...after.keys()].find((k) => k.startsWith(`${b.ppid}:`));
    if (parent === undefined) continue;
    cpu[parent.startsWith(`${process.pid}:`) ? 'sipp' : after.get(parent)!.group] -= b.ticks + b.childTicks;
  }
  for (const g of GROUPS) cpu[g] = (cpu[g] * 1000) / CLK_TCK;
  return cpu;
}

function processCounts(sample: Map<string, Sampled>): string {
  const count = new Map<Group, number>();
  for (const s of sample.values()) count.set(s.group, (count.get(s.group) ?? 0) + 1);
  return GROUPS.map((g) => `${g} ${count.get(g) ?? 0}`).join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// DynamoDB requests on the wire

/**
 * tcpdump on loopback, writing pcap to this process (-w -): the TCP segments towards dynalite's port and the
 * local bus's whose payload starts with "POST", i.e. the first segment of each HTTP request (the SDK writes a
 * request's headers at once, and one loopback segment holds them). Requests to the bus are the node's
 * PutEvents, counted apart (`putsBetween`): the callbacks of a call share them when published together.
 * Every request to dynalite names its operation in `X-Amz-Target: DynamoDB_20120810.<Operation>`; a request
 * segment without it (its headers cut across segments) is counted as unread, and the counts are then not
 * trusted. Only these segments are captured, not the bodies or the replies, so the capture stays cheap at
 * thousands of requests per second. Not in immediate mode: the kernel hands tcpdump its packets in blocks, at
 * least once a second (libpcap's timeout), instead of waking it for each one: on loopback the kernel does
 * that wake-up inside the sending process's system call, i.e. in the product's processes (60 calls/s, two runs
 * each, back to back: the benchmark's own CPU 3.0–3.2 → 2.2–2.4 ms per call, the product's 28.2–29.3 →
 * 27.8–28.4). A window is counted 1.5 s after it ends.
 */
class WireCapture {
  private readonly child: ChildProcess;
  private readonly started: Promise<void>;
  /**
   * Capture time (s, wall clock), operation ('' when the segment named none) and item kind of each request: the
   * constant parts of its first key (`SESSION/CLAIM`, `TENANT#SLOWCALLBACKS/HOLDERS`), or `?` when the body was
   * not in the segment.
   */
  readonly requests: { t: number; op: string; kind: string }[] = [];
  /** Capture time (s, wall clock) of each request to the bus. */
  readonly puts: number[] = [];
  private stderr = '';
  private pending: Buffer = Buffer.alloc(0);
  private format: { le: boolean; nanos: boolean; linkHeader: number } | undefined;

  constructor(
    port: number,
    private readonly busPort: number,
  ) {
    const startsWithPost = 'tcp[((tcp[12] & 0xf0) >> 2):4] = 0x504f5354';
    this.child = spawn(
      'tcpdump',
      ['-i', 'lo', '-n', '-U', '-B', '16384', '-s', '4096', '-w', '-'].concat(
        `(tcp dst port ${port} or tcp dst port ${busPort}) and ${startsWithPost}`,
      ),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (chunk: Buffer) => this.push(chunk));
    this.started = new Promise((resolve, reject) => {
      this.child.stderr!.on('data', (d: Buffer) => {
        this.stderr += d.toString('utf8');
        if (/listening on/.test(this.stderr)) resolve();
      });
      this.child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${this.stderr.trim()}`)));
      this.child.once('error', (err) => reject(new Error(`tcpdump could not be run: ${err.message}`)));
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  /** Reads the pcap stream: a 24-byte file header, then records (16-byte header, the packet). */
  private push(chunk: Buffer): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let o = 0;
    if (!this.format) {
      if (buf.length < 24) {
        this.pending = buf;
        return;
      }
      const magic = buf.readUInt32LE(0);
      const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
      if (!le && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) throw new Error('tcpdump wrote no pcap');
      const link = (le ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0xffff;
      const linkHeader = ({ 0: 4, 1: 14, 113: 16, 276: 20 } as Record<number, number>)[link];
      if (linkHeader === undefined) throw new Error(`tcpdump: unexpected link type ${link} on lo`);
      this.format = { le, nanos: magic === 0xa1b23c4d || magic === 0x4d3cb2a1, linkHeader };
      o = 24;
    }
    const { le, nanos, linkHeader } = this.format;
    const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
    while (o + 16 <= buf.length) {
      const caplen = u32(o + 8);
      if (o + 16 + caplen > buf.length) break; // the rest comes with the next chunk
      const t = u32(o) + u32(o + 4) / (nanos ? 1e9 : 1e6);
      const ip = o + 16 + linkHeader;
      o += 16 + caplen;
      const tcp = ip + (buf[ip]! & 0x0f) * 4;
      if (buf.readUInt16BE(tcp + 2) === this.busPort) {
        this.puts.push(t);
        continue;
      }
      const payload = buf.subarray(tcp + (buf[tcp + 12]! >> 4) * 4, o).toString('latin1');
      const op = /\r\nx-amz-target: *DynamoDB_\d+\.(\w+)/i.exec(payload)?.[1] ?? '';
      this.requests.push({ t, op, kind: itemKind(payload) });
    }
    this.pending = Buffer.from(buf.subarray(o));
  }

  /** Requests per operation between two times (s, wall clock); `unread`: requests without an operation. */
  between(
    from: number,
    to: number,
  ): { byOp: Map<string, number>; byKind: Map<string, number>; total: number; unread: number } {
    const byOp = new Map<string, number>();
    const byKind = new Map<string, number>();
    let total = 0;
    let unread = 0;
    for (const { t, op, kind } of this.requests) {
      if (t < from || t >= to) continue;
      total++;
      if (op) byOp.set(op, (byOp.get(op) ?? 0) + 1);
      else unread++;
      const k = `${op || '?'} ${kind}`;
      byKind.set(k, (byKind.get(k) ?? 0) + 1);
    }
    return { byOp, byKind, total, unread };
  }

  /** Requests to the bus between two times (s, wall clock). */
  putsBetween(from: number, to: number): number {
    return this.puts.filter((t) => t >= from && t < to).length;
  }

  /** Stops tcpdump; returns how many packets the kernel dropped (its own count). */
  async stop(): Promise<number | undefined> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGINT');
      await gone;
    }
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.stderr)?.[1];
    return dropped === undefined ? undefined : Number(dropped);
  }
}

/**
 * The kind of item a request's first key names, from the JSON body in its segment: the upper-case parts of
 * `pk` and `sk` (ids, dates and numbers dropped), e.g. `SESSION/CLAIM`. A Query names its partition in its
 * values, not in `pk`: the first key-like value is taken. `?` when the body is not in the segment.
 */
function itemKind(request: string): string {
  const body = request.indexOf('\r\n\r\n');
  if (body < 0 || body + 4 >= request.length) return '?';
  const json = request.slice(body + 4);
  const constant = (key: string | undefined) =>
    key === undefined
      ? '?'
      : key
          .split('#')
          .filter((part) => /^[A-Z]+$/.test(part))
          .join('#') || '?';
  const pk = /"pk":\{"S":"([^"]*)"/.exec(json)?.[1] ?? /\{"S":"([A-Z]+#[^"]*)"/.exec(json)?.[1];
  const sk = /"sk":\{"S":"([^"]*)"/.exec(json)?.[1];
  return sk === undefined ? constant(pk) : `${constant(pk)}/${constant(sk)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The calls, as the webhook sees them

interface Session {
  step: number;
  names: Set<string>;
  reason?: string;
  completedAt?: number;
}

const sessions = new Map<string, Session>();
let currentStep = -1; // the warm-up call
let secret = '';
const badSignatures: string[] = [];

function onCallback(cb: ReceivedCallback): { status?: number; body?: unknown } | undefined {
  const verified = verifySignature(cb.headers[SIGNATURE_HEADER], cb.rawBody, secret);
  if (!verified.ok) {
    badSignatures.push(`${cb.name}: ${verified.reason}`);
    return { status: 401, body: { error: verified.reason } };
  }
  const sessionId = typeof cb.body.sessionId === 'string' ? cb.body.sessionId : '';
  let s = sessions.get(sessionId);
  if (!s) {
    s = { step: currentStep, names: new Set() };
    sessions.set(sessionId, s);
  }
  s.names.add(cb.name);
  if (cb.name === 'sessionCompleted') {
    s.reason = String(cb.body.reason);
    s.completedAt = cb.at;
  }
  if (cb.name === 'newCall') return { body: { action: 'ivr' } };
  if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'silence', durationMs: 60_000 }] } };
  return undefined;
}

const FLOW = ['newCall', 'callAnswered', 'getIvrCommand', 'sessionCompleted'];

/** Series of the media node's /metrics worth printing beside the step's figures. */
const SCRAPED =
  /^sipms_(active_calls|calls_(started|ended)_total|callback_round_trip_seconds_(count|sum)|rtp_ports_in_use)\b|^nodejs_eventloop_lag_p99_seconds\b/;

/** GET /metrics once, `delayMs` from now; the lines SCRAPED matches (or why there are none). */
async function scrapeAfter(url: string | undefined, delayMs: number): Promise<string[]> {
  if (!url) return ['no metrics URL (METRICS_PORT=0)'];
  await new Promise((r) => setTimeout(r, delayMs));
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return text.split('\n').filter((l) => SCRAPED.test(l));
  } catch (err) {
    return [`scrape failed: ${(err as Error).message}`];
  }
}

function stepSessions(step: number): Session[] {
  return [...sessions.values()].filter((s) => s.step === step);
}

/**
 * The step's newCall stages from the stack's spans. A span is written within a second of its end (batched): the
 * last calls' `session` spans end with their sessionCompleted, so the files are read again until every completed
 * call is there, for at most SPAN_WAIT_MS. A call whose spans the exporter dropped (its queue full) is named in
 * the output, not counted.
 */
const SPAN_WAIT_MS = 5000;
async function stepStages(completed: number, fromMs: number, toMs: number): Promise<Record<NewCallStage, number[]>> {
  const dir = join(stack.dataDir, 'traces');
  const deadline = Date.now() + SPAN_WAIT_MS;
  for (;;) {
    const stages = newCallStages(await readStageSpans(dir, await readdir(dir)), fromMs, toMs);
    if (stages.setup.length >= completed) return stages;
    if (Date.now() > deadline) {
      console.log(`  stages: the spans of ${stages.setup.length} of ${completed} completed calls are in ${dir}`);
      return stages;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForCompletions(step: number, expected: number, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const list = stepSessions(step);
    if (list.length >= expected && list.every((s) => s.reason !== undefined)) return;
    if (Date.now() >= deadline) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stack's log lines (warnings and errors: LOG_LEVEL=warn) by message, most frequent first, at most 8. */
function logSummary(lines: string[]): [string, number][] {
  const count = new Map<string, number>();
  for (const line of lines) {
    let key = line.slice(0, 200);
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      const detail = typeof entry.err?.message === 'string' ? `: ${entry.err.message.slice(0, 120)}` : '';
      key = `${String(entry.level)} ${String(entry.msg)}${detail}`;
    } catch (err) {
      // Not a JSON log line (a child's own output): counted as its text.
      if (!(err instanceof SyntaxError)) throw err;
    }
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return [...count].sort((a, b) => b[1] - a[1]).slice(0, 8);
}

/** INVITE → 200 OK times (ms) from SIPp's -trace_rtt file, each with when it was measured (ms from SIPp's start). */
async function rttRows(dir: string): Promise<{ atMs: number; ms: number }[]> {
  const file = (await readdir(dir)).find((f) => f.endsWith('_rtt.csv'));
  const rows = file ? (await readFile(join(dir, file), 'utf8')).trim().split('\n').slice(1) : [];
  return rows
    .map((r) => r.split(';'))
    .map(([at, time]) => ({ atMs: Number(at), ms: Number(time) }))
    .filter((r) => Number.isFinite(r.atMs) && Number.isFinite(r.ms));
}

/** One slice of a step: its INVITE → 200 times and the CPU each group spent in it. */
interface StepWindow {
  fromS: number;
  seconds: number;
  times: number[];
  cpu: Record<Group, number>;
}

/**
 * The step cut in WINDOW_SECONDS slices (SIPp's clock and this one start together, within a few ms): whether
 * the latency drifts while the rate holds, and which process's CPU grows with it.
 */
function stepWindows(samples: { atMs: number; tree: Map<string, Sampled> }[], rows: { atMs: number; ms: number }[]) {
  const windows: StepWindow[] = [];
  for (let i = 1; i < samples.length; i++) {
    const from = samples[i - 1]!.atMs - samples[0]!.atMs;
    const to = samples[i]!.atMs - samples[0]!.atMs;
    const times = rows.filter((r) => r.atMs >= from && r.atMs < to).map((r) => r.ms);
    windows.push({
      fromS: from / 1000,
      seconds: (to - from) / 1000,
      times: times.sort((a, b) => a - b),
      cpu: cpuBetween(samples[i - 1]!.tree, samples[i]!.tree),
    });
  }
  return windows;
}

// ---------------------------------------------------------------------------------------------------------------

interface StepResult {
  rate: number;
  placed: number;
  completed: number;
  achieved: number;
  p50: number | undefined;
  p99: number | undefined;
  failed: number;
  /** Calls the node refused with 503 for its load (counted in `failed` too). */
  shed: number;
  breakdown: string;
  cpuPerCall: Record<Group, number>;
  dynamo: ReturnType<WireCapture['between']>;
  putEvents: number;
  /** INVITE → newCall reply by stage (newcall-stages.ts), from the step's calls' spans. */
  stages: Record<NewCallStage, number[]>;
  windows: StepWindow[];
}

const run = new BenchRun('full-call');
/** The reason in the status line of the node's overload refusal (inbound-call-flow.ts). */
const OVERLOAD_REFUSAL = 'node overloaded';
const stackEnv: Record<string, string> = {
  ...limits.env,
  // SIPp is one source address: the node's per-source INVITE bucket (50/s) would refuse the higher rates.
  SIP_INVITE_RATE_PER_SOURCE: String(4 * MAX_RATE),
  MAX_CALLS: String(Math.max(200, 2 * openAtMost(MAX_RATE))),
  MEDIA_TIMEOUT_SEC: String(Math.max(60, Math.ceil(HOLD_MS / 1000) + 30)),
};
// The stage table reads the spans `npm start` writes to <DATA_DIR>/traces/ by default: not to a collector this
// shell may name.
delete process.env.TRACES_EXPORTER;
delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
const stack = await startLocalStack({ rtpPortMin: RTP.min, rtpPortMax: RTP.max, env: stackEnv });
const hook = new WebhookServer(onCallback);
let capture: WireCapture | undefined;
const results: StepResult[] = [];
let idle: { seconds: number; cpu: Record<Group, number>; dynamo: ReturnType<WireCapture['between']> } | undefined;
try {
  await hook.start();
  const api = new ApiClient(stack.apiUrl);
  secret = (await api.signup('full-call-bench')).signingSecret;
  for (const res of [
    await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url }),
    await api.call('PUT', `/v1/numbers/${NUMBER}`),
  ]) {
    if (res.status >= 300) throw new Error(`tenant set-up failed: ${res.status} ${JSON.stringify(res.json)}`);
  }
  const cp = JSON.parse(await readFile(join(stack.dataDir, 'run', 'control-plane.json'), 'utf8')) as {
    env: Record<string, string>;
  };
  const dynamoPort = Number(new URL(cp.env.AWS_ENDPOINT_URL_DYNAMODB ?? '').port);
  if (!dynamoPort) throw new Error('no DynamoDB endpoint in control-plane.json');
  const busPort = Number(new URL(cp.env.AWS_ENDPOINT_URL_EVENTBRIDGE ?? '').port);
  if (!busPort) throw new Error('no EventBridge endpoint in control-plane.json');
  capture = new WireCapture(dynamoPort, busPort);
  await capture.ready();

  const xml = await renderScenario('uac-hangup-after.xml', { holdMs: HOLD_MS });
  const target = `${stack.sipHost}:${stack.sipPort}`;
  console.log(
    `full calls: newCall → ivr → callAnswered → getIvrCommand (silence) → caller's BYE after ${HOLD_MS} ms → sessionCompleted; ` +
      `rates ${RATES.join(', ')}/s for ${SECONDS} s each; ${limits.text}, SIP_INVITE_RATE_PER_SOURCE=${stackEnv.SIP_INVITE_RATE_PER_SOURCE}, ` +
      `MAX_CALLS=${stackEnv.MAX_CALLS}; SIPp -l ${RATES.map(openAtMost).join(', ')} open calls; RTP ${RTP.min}-${RTP.max}; ` +
      `dynalite on port ${dynamoPort}; CLK_TCK ${CLK_TCK}`,
  );

  // One warm-up call: first connections, JIT, the silence file in the node's cache.
  const warm = await runSipp(['-sf', xml, '-s', NUMBER, '-m', '1', target], { timeoutMs: 30_000 + HOLD_MS });
  if (warm.code !== 0) throw new Error(`warm-up call failed (SIPp exit ${warm.code}): ${firstSippError(warm.errors)}`);
  await waitForCompletions(-1, 1, GRACE_MS);

  if (IDLE_SECONDS > 0) {
    const before = sampleTree(stack.process.pid!);
    const t0 = Date.now() / 1000;
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const after = sampleTree(stack.process.pid!);
    const t1 = Date.now() / 1000;
    const cpu = cpuBetween(before, after);
    await new Promise((r) => setTimeout(r, 1500)); // tcpdump's blocks for the window
    idle = { seconds: t1 - t0, cpu, dynamo: capture.between(t0, t1) };
    console.log(`processes: ${processCounts(after)}`);
    for (const g of GROUPS) run.figure(`idle.cpu-ms-per-s.${g}`, idle.cpu[g] / idle.seconds, 'ms', 2);
    run.figure('idle.dynamodb-requests-per-s', idle.dynamo.total / idle.seconds, 'requests', 2);
  }

  for (const [index, rate] of RATES.entries()) {
    currentStep = index;
    const placed = rate * SECONDS;
    const before = sampleTree(stack.process.pid!);
    const logMark = stack.logs.length;
    const t0 = Date.now();
    // The node's own view half-way through the step (GET /metrics), to set beside SIPp's and /proc's.
    const scrape = scrapeAfter(stack.metricsUrls[0], (SECONDS * 1000) / 2);
    const samples = [{ atMs: t0, tree: before }];
    const sampler = setInterval(
      () => samples.push({ atMs: Date.now(), tree: sampleTree(stack.process.pid!) }),
      WINDOW_SECONDS * 1000,
    );
    const res = await runSipp(
      [
        '-sf',
        xml,
        '-s',
        NUMBER,
        '-r',
        String(rate),
        '-rp',
        '1000',
        '-m',
        String(placed),
        '-l',
        String(openAtMost(rate)),
        '-recv_timeout',
        '20000',
        '-trace_rtt',
        '-rtt_freq',
        '1',
        target,
      ],
      { timeoutMs: SECONDS * 1000 + HOLD_MS + 90_000 },
    );
    await waitForCompletions(index, placed, GRACE_MS);
    clearInterval(sampler);
    const t1 = Date.now();
    const after = sampleTree(stack.process.pid!);
    samples.push({ atMs: t1, tree: after });
    // Let tcpdump's blocks for the window (at most a second late) reach this process before counting.
    await new Promise((r) => setTimeout(r, 1500));

    const counts = sippCounts(res.stdout);
    const list = stepSessions(index);
    const good = list.filter((s) => s.reason === CALLER_HANGUP && FLOW.every((n) => s.names.has(n)));
    const noCompletion = list.filter((s) => s.reason === undefined).length;
    const reasons = new Map<string, number>();
    for (const s of list) {
      if (s.reason === undefined || s.reason === CALLER_HANGUP) continue;
      reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
    }
    const missing = list.filter((s) => s.reason === CALLER_HANGUP && !FLOW.every((n) => s.names.has(n))).length;
    const lastDone = Math.max(t0, ...good.map((s) => s.completedAt ?? t0));
    // The step's wall time: from SIPp's start to the last sessionCompleted, less the last call's hold.
    const wallS = Math.max(0.001, (lastDone - t0 - HOLD_MS) / 1000);
    const rows = await rttRows(res.dir);
    const times = rows.map((r) => r.ms).sort((a, b) => a - b);
    const cpu = cpuBetween(before, after);
    const completed = good.length;
    const cpuPerCall = Object.fromEntries(GROUPS.map((g) => [g, completed ? cpu[g] / completed : NaN])) as Record<
      Group,
      number
    >;
    // The node's own overload refusals are not a tenant limit: counted apart (docs/operations.md, "Overload").
    const refused = limitRefusals(res.messages);
    const shed = refused.get(OVERLOAD_REFUSAL) ?? 0;
    refused.delete(OVERLOAD_REFUSAL);
    const parts = [
      `SIPp failed ${counts?.failed ?? 'unknown'}`,
      ...(shed ? [`refused for load (503) ${shed}`] : []),
      `no newCall ${Math.max(0, placed - list.length)}`,
      `no sessionCompleted ${noCompletion}`,
      ...[...reasons].map(([r, n]) => `ended ${r} ${n}`),
      ...(missing ? [`callback missing ${missing}`] : []),
    ];
    const stages = await stepStages(completed, t0, t1);
    const result: StepResult = {
      rate,
      placed,
      completed,
      achieved: completed / wallS,
      p50: quantile(times, 0.5),
      p99: quantile(times, 0.99),
      failed: Math.max(0, placed - completed, counts?.failed ?? 0),
      shed,
      breakdown: parts.join(', '),
      cpuPerCall,
      dynamo: capture.between(t0 / 1000, t1 / 1000),
      putEvents: capture.putsBetween(t0 / 1000, t1 / 1000),
      stages,
      windows: stepWindows(samples, rows),
    };
    results.push(result);
    console.log(
      `rate ${rate}/s: ${completed} of ${placed} calls completed, ${result.achieved.toFixed(1)} calls/s; ` +
        `INVITE → 200 p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms (${times.length} measured); failed ${result.failed} (${result.breakdown})`,
    );

    for (const [msg, n] of logSummary(stack.logs.slice(logMark))) console.log(`  stack log: ${n} × ${msg}`);
    for (const line of await scrape) console.log(`  /metrics mid-step: ${line}`);

    let ok = run.check(refused.size === 0, `${rate}/s: calls refused by a tenant limit: ${describeRefusals(refused)}`);
    ok = run.check(counts !== undefined, `${rate}/s: SIPp printed no final counts (exit ${res.code})`) && ok;
    ok =
      run.check(
        result.failed === 0,
        `${rate}/s: ${result.failed} of ${placed} calls failed (${result.breakdown}); SIPp exit ${res.code}: ${firstSippError(res.errors)}`,
      ) && ok;
    ok =
      run.check(times.length === placed, `${rate}/s: INVITE → 200 times for ${times.length} of ${placed} calls`) && ok;
    ok =
      run.check(
        result.dynamo.unread === 0,
        `${rate}/s: ${result.dynamo.unread} of ${result.dynamo.total} DynamoDB requests on the wire without an X-Amz-Target read`,
      ) && ok;
    run.figure(`r${rate}.achieved`, result.achieved, 'calls/s');
    run.figure(`r${rate}.invite-200.p50`, result.p50, 'ms');
    run.figure(`r${rate}.invite-200.p99`, result.p99, 'ms');
    run.figure(`r${rate}.failed`, result.failed, 'calls', 0);
    run.figure(`r${rate}.refused-for-load`, result.shed, 'calls', 0);
    for (const g of GROUPS) run.figure(`r${rate}.cpu-ms-per-call.${g}`, cpuPerCall[g], 'ms', 2);
    for (const k of NEWCALL_STAGES) {
      run.figure(`r${rate}.newcall-stage.${k}.p50`, quantile(stages[k], 0.5), 'ms');
      run.figure(`r${rate}.newcall-stage.${k}.p99`, quantile(stages[k], 0.99), 'ms');
    }
    run.figure(
      `r${rate}.dynamodb-requests-per-call`,
      completed ? result.dynamo.total / completed : undefined,
      'requests',
      2,
    );
    run.figure(
      `r${rate}.putevents-requests-per-call`,
      completed ? result.putEvents / completed : undefined,
      'requests',
      2,
    );
    for (const [op, n] of [...result.dynamo.byOp].sort()) {
      run.figure(`r${rate}.dynamodb.${op}-per-call`, completed ? n / completed : undefined, 'requests', 2);
    }
    hook.received.length = 0; // every call is in `sessions`; the webhook's own record would only grow
    if (!ok && !KEEP_GOING) {
      console.log(`stopping after ${rate}/s: it had failures (KEEP_GOING=1 runs every step)`);
      break;
    }
  }
} finally {
  const dropped = await capture?.stop();
  await hook.close();
  await stack.stop();
  if (capture) run.check(dropped === 0, `tcpdump: ${dropped ?? 'an unknown number of'} packets dropped by the kernel`);
}
run.check(
  badSignatures.length === 0,
  `callbacks whose signature did not verify: ${badSignatures.slice(0, 5).join('; ')}`,
);
run.check(
  hook.violations.length === 0,
  `callback bodies that break the contract: ${hook.violations
    .slice(0, 3)
    .map((v) => `${v.name}: ${v.reason}`)
    .join('; ')}`,
);

printTables();
run.finish();

function printTables(): void {
  const pad = (s: string, n: number) => s.padStart(n);
  const row = (cells: string[], widths: number[]) => cells.map((c, i) => pad(c, widths[i]!)).join('  ');
  console.log('');
  console.log(
    `full-call: ${SECONDS} s per step, hold ${HOLD_MS} ms; per call = over the step's completed calls (idle work included)`,
  );
  const w1 = [6, 7, 9, 8, 8, 7, 9];
  console.log(row(['rate', 'placed', 'achieved', 'p50 ms', 'p99 ms', 'failed', '503 load'], w1));
  for (const r of results) {
    const cells = [String(r.rate), String(r.placed), r.achieved.toFixed(1), ms(r.p50), ms(r.p99), String(r.failed)];
    console.log(row([...cells, String(r.shed)], w1));
  }
  console.log('');
  // Where the time before the 200 goes (newcall-stages.ts); the rest of INVITE → 200 is the node's answer.
  console.log('INVITE → newCall reply by stage, p50 / p99 ms (from the spans)');
  const w5 = [6, ...NEWCALL_STAGES.map(() => 17)];
  console.log(row(['rate', ...NEWCALL_STAGES], w5));
  for (const r of results) {
    const cell = (k: NewCallStage) => `${ms(quantile(r.stages[k], 0.5))} / ${ms(quantile(r.stages[k], 0.99))}`;
    console.log(row([String(r.rate), ...NEWCALL_STAGES.map(cell)], w5));
  }
  console.log('');
  // A rate the machine holds shows flat rows; a backlog that builds shows p99 and some process's CPU climbing.
  console.log(
    `INVITE → 200 and CPU ms per second (1000: one core busy) by ${WINDOW_SECONDS} s of each step (the last: the step's tail)`,
  );
  const wWin = [6, 6, 8, 8, 8, ...GROUPS.map((g) => Math.max(9, g.length)), 7];
  console.log(row(['rate', 'from s', 'answered', 'p50 ms', 'p99 ms', ...GROUPS, 'total'], wWin));
  for (const r of results) {
    for (const w of r.windows) {
      const perS = GROUPS.map((g) => w.cpu[g] / w.seconds);
      console.log(
        row(
          [
            String(r.rate),
            w.fromS.toFixed(0),
            String(w.times.length),
            ms(quantile(w.times, 0.5)),
            ms(quantile(w.times, 0.99)),
            ...perS.map((v) => v.toFixed(0)),
            perS.reduce((a, b) => a + b, 0).toFixed(0),
          ],
          wWin,
        ),
      );
    }
  }
  console.log('');
  console.log('CPU ms per call');
  const w2 = [6, ...GROUPS.map((g) => Math.max(9, g.length)), 9];
  console.log(row(['rate', ...GROUPS, 'product'], w2));
  if (idle) {
    const perS = (g: Group) => (idle!.cpu[g] / idle!.seconds).toFixed(2);
    const product = (idle.cpu.media + idle.cpu.rtpengine + idle.cpu.dynamodb + idle.cpu.control) / idle.seconds;
    console.log(row(['idle/s', ...GROUPS.map(perS), product.toFixed(2)], w2));
  }
  for (const r of results) {
    const c = r.cpuPerCall;
    const product = c.media + c.rtpengine + c.dynamodb + c.control;
    console.log(row([String(r.rate), ...GROUPS.map((g) => c[g].toFixed(2)), product.toFixed(2)], w2));
  }
  console.log('');
  console.log('DynamoDB requests per call (X-Amz-Target)');
  const ops = [...new Set([idle, ...results].flatMap((r) => (r ? [...r.dynamo.byOp.keys()] : [])))].sort();
  const w3 = [6, ...ops.map((o) => Math.max(8, o.length)), 7];
  console.log(row(['rate', ...ops, 'total'], w3));
  if (idle) {
    const perS = (n: number) => (n / idle!.seconds).toFixed(2);
    console.log(row(['idle/s', ...ops.map((o) => perS(idle!.dynamo.byOp.get(o) ?? 0)), perS(idle.dynamo.total)], w3));
  }
  for (const r of results) {
    const per = (n: number) => (r.completed ? (n / r.completed).toFixed(2) : 'n/a');
    console.log(row([String(r.rate), ...ops.map((o) => per(r.dynamo.byOp.get(o) ?? 0)), per(r.dynamo.total)], w3));
  }
  console.log('');
  // Five callbacks per call; a request carries every callback the node published in the same turn.
  console.log(
    `PutEvents requests per call (5 callbacks each): ${results
      .map((r) => `${r.rate}/s ${r.completed ? (r.putEvents / r.completed).toFixed(2) : 'n/a'}`)
      .join(', ')}`,
  );
  console.log('');
  // The same requests by operation and item kind: which writes and reads a call costs, and which grow under load.
  console.log('DynamoDB requests per call by item (operation, pk/sk kind)');
  const totals = new Map<string, number>();
  for (const r of results) for (const [k, n] of r.dynamo.byKind) totals.set(k, (totals.get(k) ?? 0) + n);
  const kinds = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)!);
  const w4 = [Math.max(12, ...kinds.map((k) => k.length)), ...results.map(() => 8)];
  console.log(row(['item', ...results.map((r) => `${r.rate}/s`)], w4));
  for (const k of kinds) {
    console.log(
      row(
        [k, ...results.map((r) => (r.completed ? ((r.dynamo.byKind.get(k) ?? 0) / r.completed).toFixed(2) : 'n/a'))],
        w4,
      ),
    );
  }
  console.log('');
}
