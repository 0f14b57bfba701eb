/**
 * The built-in SIP stack under SIPp load, with a trivial answering app (no media) in its own
 * process, pinned to one core when `taskset` exists (SIPp gets the other):
 *   1. the highest call rate with zero failed calls over DURATION_S (default 30 s): INVITE/200/ACK/BYE
 *      (`sipp -sn uac`), stepping the rate up (RATES, default 500,1000,1250,1500,2000,2500,3000);
 *   2. INVITE → 200 p50/p99 at each rate (SIPp -trace_rtt), the one at 500 calls/s being the target;
 *   3. RSS of the stack process with 10,000 concurrent established dialogs (CONCURRENT).
 * Run: npm run bench:sip-stack    (targets: ≥ 1,000 calls/s, p99 < 20 ms @500, < 200 MB)
 *
 * Environment (defaults are the full-size run):
 *   RATES=500,1000,1250,1500,2000,2500,3000   call rates tried in turn, up to the first one with failures
 *   DURATION_S=30                   seconds per rate
 *   CONCURRENT=10000                dialogs held up at once for the memory figure (placed at 1,000/s)
 *   HOLD_MARGIN_S=15                how long they stay up after the last one is placed (≥ 2)
 *   PROFILE=1                       write a V8 CPU profile of the stack process into the working directory
 * Ports: the stack and SIPp take free ones (no rtpengine, no tenant: no limits apply).
 * Finding the highest rate is the point of step 1: a rate with failures ends the stepping and is reported
 * as the limit, not as a broken run. Fails (exit 1) when the first rate already fails (no figure), when
 * fewer than CONCURRENT dialogs get established, or when the held calls fail.
 * Figures: sip-stack.max-zero-failure-rate (calls/s), sip-stack.invite-200-at-<first rate>.p50 / .p99 (ms),
 * sip-stack.concurrent-dialogs.rss-peak / .rss-after-gc (MB).
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchRun, envInt, envIntList } from './common.js';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 33000 RTP/AVP 0\r\n';

if (process.env['SIP_BENCH_ROLE'] === 'server') {
  await runServer();
} else {
  await runBenchmark();
}

/** The stack and a trivial app: answer everything at once. Talks to the parent over IPC. */
async function runServer(): Promise<void> {
  const { BuiltinSignaling } = await import('../media-node/src/sip/builtin/builtin-signaling.js');
  const signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, transports: ['udp'] });
  await signaling.start((call) => {
    // A call the load generator abandons before the ACK is part of the load, not a benchmark failure.
    call.answer(SDP).catch((err: unknown) => process.send?.({ type: 'answer-failed', reason: String(err) }));
  });
  process.send?.({ type: 'ready', port: signaling.local.port });
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'stats') {
      const mem = process.memoryUsage();
      process.send?.({ type: 'stats', rss: mem.rss, heapUsed: mem.heapUsed, dialogs: signaling.dialogCount });
    } else if (msg.type === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      process.send?.({ type: 'gc-done' });
    } else if (msg.type === 'stop') {
      void signaling.stop().then(() => process.exit(0));
    }
  });
}

interface Stats {
  rss: number;
  heapUsed: number;
  dialogs: number;
}

async function runBenchmark(): Promise<void> {
  const durationS = envInt('DURATION_S', 30);
  const rates = envIntList('RATES', [500, 1000, 1250, 1500, 2000, 2500, 3000]);
  const concurrent = envInt('CONCURRENT', 10_000);
  const holdMarginS = envInt('HOLD_MARGIN_S', 15, 2);
  const pin = spawnSync('taskset', ['-V']).status === 0;
  const run = new BenchRun('sip-stack');
  const servers: ChildProcess[] = [];
  try {
    await measure(run, { durationS, rates, concurrent, holdMarginS, pin, servers });
  } finally {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  }
  run.finish();
}

async function measure(
  run: BenchRun,
  o: {
    durationS: number;
    rates: number[];
    concurrent: number;
    holdMarginS: number;
    pin: boolean;
    servers: ChildProcess[];
  },
): Promise<void> {
  const { durationS, rates, concurrent, holdMarginS, pin } = o;
  let { server, port, request } = await launch(pin);
  o.servers.push(server);
  const baseline = await request<Stats>('stats', 'stats');
  console.log(
    `sip-stack benchmark: stack on ${pin ? 'CPU 1 (taskset), SIPp on CPU 0' : 'any core (no taskset)'}; ${durationS} s per rate`,
  );
  console.log(`baseline RSS ${mb(baseline.rss)} MB`);
  console.log('rate (calls/s) | calls | ok | failed | INVITE→200 p50 | p99 | max');
  let best = 0;
  let stoppedAt: string | undefined;
  for (const rate of rates) {
    const calls = rate * durationS;
    const result = await sipp(
      [
        '-sn',
        'uac',
        '-d',
        '0',
        '-r',
        String(rate),
        '-m',
        String(calls),
        '-l',
        String(Math.max(rate * 2, 1000)),
        '-recv_timeout',
        '5000',
        '-timeout',
        `${durationS + 30}s`,
        '-trace_rtt',
        '-rtt_freq',
        '1',
        `127.0.0.1:${port}`,
      ],
      pin,
    );
    const rtt = result.rtt.sort((a, b) => a - b);
    const zeroFailed = result.code === 0 && result.failed === 0 && result.ok === calls;
    console.log(
      `${String(rate).padStart(14)} | ${calls} | ${result.ok} | ${result.failed} | ${fmt(quantile(rtt, 0.5))} ms | ${fmt(quantile(rtt, 0.99))} ms | ${fmt(rtt.at(-1))} ms${zeroFailed ? '' : '  ← failures'}`,
    );
    if (rate === rates[0]) {
      run.figure(`invite-200-at-${rate}.p50`, quantile(rtt, 0.5), 'ms', 2);
      run.figure(`invite-200-at-${rate}.p99`, quantile(rtt, 0.99), 'ms', 2);
    }
    if (!zeroFailed) {
      stoppedAt = `${rate} calls/s: ${result.ok} of ${calls} ok, ${result.failed} failed, SIPp exit ${result.code}`;
      break;
    }
    best = rate;
  }
  console.log(`highest rate with zero failed calls over ${durationS} s: ${best} calls/s (target ≥ 1000)`);
  if (stoppedAt) console.log(`  stepping stopped at ${stoppedAt} — the limit this step looks for, not an error`);
  else console.log(`  every rate passed: the limit is above ${best} calls/s (add higher RATES to find it)`);
  if (best === 0) run.problem(`even the first rate failed (${stoppedAt}): no rate figure; try lower RATES`);
  else run.figure('max-zero-failure-rate', best, 'calls/s', 0);

  // Concurrent dialogs, on a fresh stack process (the rate runs leave their heap high-water mark behind):
  // calls that stay up (pause) until every one is established.
  server.send({ type: 'stop' });
  ({ server, port, request } = await launch(pin));
  o.servers.push(server);
  const freshBaseline = await request<Stats>('stats', 'stats');
  const holdMs = Math.ceil((concurrent / 1000) * 1000) + holdMarginS * 1000;
  const held = sippProcess(
    [
      '-sn',
      'uac',
      '-d',
      String(holdMs),
      '-r',
      '1000',
      '-m',
      String(concurrent),
      '-l',
      String(concurrent),
      '-timeout',
      `${Math.ceil(holdMs / 1000) + 60}s`,
      `127.0.0.1:${port}`,
    ],
    pin,
  );
  let peak: Stats = freshBaseline;
  const deadline = Date.now() + holdMs - 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const stats = await request<Stats>('stats', 'stats');
    if (stats.dialogs >= peak.dialogs) peak = stats;
    if (stats.dialogs >= concurrent) break;
  }
  await request('gc', 'gc-done');
  const afterGc = await request<Stats>('stats', 'stats');
  console.log(
    `${peak.dialogs} concurrent established dialogs: RSS ${mb(peak.rss)} MB at peak (heap ${mb(peak.heapUsed)} MB); after a full GC with ${afterGc.dialogs} dialogs up: RSS ${mb(afterGc.rss)} MB, heap ${mb(afterGc.heapUsed)} MB; baseline RSS ${mb(freshBaseline.rss)} MB; target < 200 MB`,
  );
  const heldResult = await held.result;
  console.log(`concurrent run: SIPp exit ${heldResult.code}, ${heldResult.ok} ok, ${heldResult.failed} failed`);
  server.send({ type: 'stop' });
  if (
    run.check(
      peak.dialogs >= concurrent,
      `only ${peak.dialogs} of ${concurrent} dialogs were up at once: the memory figure is not for ${concurrent}`,
    )
  ) {
    run.figure('concurrent-dialogs.rss-peak', peak.rss / 1024 / 1024, 'MB');
    run.figure('concurrent-dialogs.rss-after-gc', afterGc.rss / 1024 / 1024, 'MB');
  }
  run.check(
    heldResult.code === 0 && heldResult.failed === 0 && heldResult.ok === concurrent,
    `held calls: SIPp exit ${heldResult.code}, ${heldResult.ok} of ${concurrent} ok, ${heldResult.failed} failed`,
  );
}

async function launch(pin: boolean): Promise<{
  server: ChildProcess;
  port: number;
  request: <T>(type: string, reply: string) => Promise<T>;
}> {
  const server = startServer(pin);
  const port = await nextMessage<{ port: number }>(server, 'ready').then((m) => m.port);
  const request = <T>(type: string, reply: string): Promise<T> => {
    const answer = nextMessage<T>(server, reply);
    server.send({ type });
    return answer;
  };
  return { server, port, request };
}

function startServer(pin: boolean): ChildProcess {
  const self = fileURLToPath(import.meta.url);
  // PROFILE=1 writes a V8 CPU profile of the stack process into the working directory.
  const args = ['--expose-gc', ...(process.env['PROFILE'] ? ['--cpu-prof'] : []), '--import', 'tsx', self];
  const child = pin
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], {
        env: { ...process.env, SIP_BENCH_ROLE: 'server' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
    : spawn(process.execPath, args, {
        env: { ...process.env, SIP_BENCH_ROLE: 'server' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
  return child;
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (msg: { type: string } & T): void => {
      if (msg.type !== type) return;
      child.off('message', onMessage);
      resolve(msg);
    };
    child.on('message', onMessage);
  });
}

interface SippRun {
  code: number | null;
  ok: number;
  failed: number;
  rtt: number[];
}

function sippProcess(args: string[], pin: boolean): { result: Promise<SippRun> } {
  const dir = spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim();
  const cmd = pin ? 'taskset' : 'sipp';
  const full = [...(pin ? ['-c', '0', 'sipp'] : []), ...args, '-nostdin', '-i', '127.0.0.1', '-p', '0'];
  const child = spawn(cmd, full, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  child.stderr?.resume(); // drained, not read: SIPp's screen output is not part of the figures
  const result = new Promise<SippRun>((resolve) => {
    child.once('exit', async (code) => {
      const ok = Number(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? 0);
      const failed = Number(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? 0);
      const rtt: number[] = [];
      for (const f of await readdir(dir)) {
        if (!f.endsWith('_rtt.csv')) continue;
        for (const row of (await readFile(join(dir, f), 'utf8')).trim().split('\n').slice(1)) {
          const value = Number(row.split(';')[1]);
          if (Number.isFinite(value)) rtt.push(value);
        }
      }
      resolve({ code, ok, failed, rtt });
    });
  });
  return { result };
}

function sipp(args: string[], pin: boolean): Promise<SippRun> {
  return sippProcess(args, pin).result;
}

function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function fmt(n: number | undefined): string {
  return n === undefined ? 'n/a' : n.toFixed(2);
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
