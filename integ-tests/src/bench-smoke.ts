import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './local-stack.js';

// Every benchmark (`bench:*` in package.json) runs once at a smoke size, exactly as a user runs it
// (`npm run bench:x` with its settings in the environment): it must exit 0 and print its figures
// (`figure: <name> = <number> <unit>`, bench/common.ts). A benchmark that breaks, or that quietly measures
// less than it was asked to (calls refused by a limit it should have lifted), fails here instead of rotting.
// A new `bench:*` script without an entry below fails the coverage test. The runs are split over three test
// files (integ-tests/test/benchmarks-smoke-*.test.ts, by `shard`) so each stays inside the 180 s per file.
//
// Smoke sizes are above the default tenant limits (10 calls/s) where the full run is, so a benchmark that
// stops lifting them fails. Their RTP ports (38000-38899, 39200-39399, 39900-39999) are used by no other test.

/** The test file a smoke run belongs to: each file stays well inside the runner's 180 s per file. */
export type Shard = 'calls' | 'ivr' | 'media';

interface Smoke {
  shard: Shard;
  env: Record<string, string>;
  /** Figures the run must print (more may follow). */
  figures: string[];
}

export const SMOKE: Record<string, Smoke> = {
  'bench:call-setup': {
    shard: 'calls',
    env: { CALLS: '3', RTP_PORT_MIN: '38000', RTP_PORT_MAX: '38099' },
    figures: ['call-setup.invite-200.median', 'call-setup.invite-200.p90'],
  },
  'bench:callbacks': {
    shard: 'calls',
    env: { RATES: '5,20', SECONDS: '1', WARMUP: '3', RTP_PORT_MIN: '38100', RTP_PORT_MAX: '38199' },
    figures: ['callbacks.roundtrip-5-per-s.median', 'callbacks.roundtrip-20-per-s.p99'],
  },
  'bench:api': {
    shard: 'calls',
    env: { BENCH_SECONDS: '1', BENCH_CONCURRENCY: '4', RTP_PORT_MIN: '38200', RTP_PORT_MAX: '38299' },
    figures: ['api.get-tenant.req-per-s', 'api.put-promptfile.req-per-s'],
  },
  'bench:sip-stack': {
    shard: 'calls',
    env: { RATES: '50,100', DURATION_S: '2', CONCURRENT: '50', HOLD_MARGIN_S: '2' },
    figures: [
      'sip-stack.max-zero-failure-rate',
      'sip-stack.invite-200-at-50.p99',
      'sip-stack.concurrent-dialogs.rss-peak',
    ],
  },
  'bench:ivr-dtmf': {
    shard: 'ivr',
    env: { TURNS: '3', RTP_PORT_MIN: '38300', RTP_PORT_MAX: '38399' },
    figures: ['ivr-dtmf.dtmf-to-prompt.median'],
  },
  'bench:ivr-concurrency': {
    shard: 'ivr',
    // 12 calls at 20/s: more than the default 10 new calls per second.
    env: { STEPS: '12', RATE: '20', PROMPT_MS: '1000', RTP_PORT_MIN: '38400', RTP_PORT_MAX: '38599' },
    figures: ['ivr-concurrency.max-calls-meeting-bar', 'ivr-concurrency.n12.packets-received'],
  },
  'bench:bridge': {
    shard: 'ivr',
    // 12 bridged calls at 20/s: more than the default 10 new calls per second.
    env: { STEPS: '12', RATE: '20', PLACEMENTS: '3', RTP_PORT_MIN: '38600', RTP_PORT_MAX: '38799' },
    figures: ['bridge.max-bridged-calls', 'bridge.placeivrcall-to-invite.median'],
  },
  'bench:full-call': {
    shard: 'calls',
    // 24 whole calls at 12/s (more than the default 10 new calls per second), held 1 s: 24 calls fit the ports.
    env: {
      RATES: '12',
      SECONDS: '2',
      HOLD_MS: '1000',
      IDLE_SECONDS: '2',
      RTP_PORT_MIN: '38800',
      RTP_PORT_MAX: '38899',
    },
    figures: [
      'full-call.r12.achieved',
      'full-call.r12.invite-200.p99',
      'full-call.r12.failed',
      'full-call.r12.cpu-ms-per-call.media',
      'full-call.r12.cpu-ms-per-call.dynamodb',
      'full-call.r12.dynamodb-requests-per-call',
      'full-call.r12.newcall-stage.webhook.p50',
      'full-call.r12.newcall-stage.reply-read.p99',
    ],
  },
  'bench:streams': {
    shard: 'media',
    // 3 streams for 2 s; latency and clear over 2 s.
    env: { STEPS: '3', SECONDS: '2', LATENCY_SECONDS: '2', RTP_PORT_MIN: '39900', RTP_PORT_MAX: '39999' },
    figures: [
      'streams.latency.caller-to-bot.p50',
      'streams.clear-to-silence',
      'streams.n3.to-caller',
      'streams.n3.max-gap-wire',
    ],
  },
  'bench:conference': {
    shard: 'media',
    // Two conferences of three for 2 s; mouth-to-ear over 2 s.
    env: {
      LAYOUTS: '2x3',
      SECONDS: '2',
      LATENCY_SECONDS: '2',
      RATE: '20',
      RTP_PORT_MIN: '39200',
      RTP_PORT_MAX: '39399',
    },
    figures: [
      'conference.latency.p50',
      'conference.2x3.min-delivered',
      'conference.2x3.cpu-ms-per-participant-s.media',
    ],
  },
  'bench:audio': {
    shard: 'media',
    env: { FRAMES: '500' },
    figures: [
      'audio-engine.stream.us-per-frame',
      'audio-engine.mix100.us-per-frame',
      'audio-engine.conference100.core-pct',
    ],
  },
};

const RUN_TIMEOUT_MS = 140_000;

const scripts: Record<string, string> = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts;
const benchScripts = Object.keys(scripts)
  .filter((name) => name.startsWith('bench:'))
  .sort();

/** Settings a caller's environment might hold that would change a smoke run's size. */
const KNOBS = new Set([
  ...Object.values(SMOKE).flatMap((s) => Object.keys(s.env)),
  'PROFILE',
  'TENANT_MAX_CONCURRENT_CALLS',
  'TENANT_CALLS_PER_SECOND',
  'NODE_TEST_CONTEXT',
]);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Process groups of runs in progress: ended with this process too, so a test file that times out leaves no stack. */
const running = new Set<number>();
function endRunning(): void {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (err) {
      // ESRCH: already gone
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
process.once('exit', endRunning);
process.once('SIGTERM', () => {
  endRunning();
  process.exit(143);
});

/** `npm run <script>` in its own process group, so a hung run is ended with everything it started. */
function runScript(script: string, env: Record<string, string>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!KNOBS.has(k)) childEnv[k] = v;
  const started = Date.now();
  const child = spawn('npm', ['run', '--silent', script], {
    cwd: repoRoot,
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  let timedOut = false;
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch (err) {
      // ESRCH: already gone
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill('SIGINT');
    setTimeout(() => kill('SIGKILL'), 10_000).unref();
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child.pid!);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}

function figures(stdout: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const m of stdout.matchAll(/^figure: (\S+) = (\S+) \S+$/gm)) found.set(m[1]!, Number(m[2]));
  return found;
}

/** Every `bench:*` script has a smoke entry, and every entry a script (run by one of the smoke files). */
export function smokeCoverageTest(): void {
  test('every bench:* script in package.json has a smoke run', () => {
    const missing = benchScripts.filter((s) => !(s in SMOKE));
    assert.deepEqual(
      missing,
      [],
      `add a smoke size for ${missing.join(', ')} to SMOKE in integ-tests/src/bench-smoke.ts`,
    );
    const stale = Object.keys(SMOKE).filter((s) => !benchScripts.includes(s));
    assert.deepEqual(stale, [], `SMOKE names scripts package.json no longer has: ${stale.join(', ')}`);
  });
}

/** The smoke runs of one shard, one test each. */
export function smokeTests(shard: Shard): void {
  for (const script of benchScripts.filter((s) => SMOKE[s]?.shard === shard)) {
    test(`${script} runs at smoke size and prints its figures`, { timeout: RUN_TIMEOUT_MS + 20_000 }, async (t) => {
      const smoke = SMOKE[script];
      assert.ok(smoke, `no smoke size for ${script}`);
      const settings = Object.entries(smoke.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      const run = await runScript(script, smoke.env);
      t.diagnostic(`${settings} npm run ${script} → exit ${run.code ?? run.signal} in ${(run.ms / 1000).toFixed(1)} s`);
      for (const line of run.stdout.trimEnd().split('\n')) t.diagnostic(`  ${line}`);
      for (const line of run.stderr.trimEnd().split('\n').filter(Boolean)) t.diagnostic(`  stderr: ${line}`);
      const tail = `\n--- stdout ---\n${run.stdout.slice(-4000)}\n--- stderr ---\n${run.stderr.slice(-4000)}`;
      assert.ok(!run.timedOut, `${script} still running after ${RUN_TIMEOUT_MS / 1000} s${tail}`);
      assert.equal(run.code, 0, `${script} exited ${run.code ?? run.signal}${tail}`);
      const found = figures(run.stdout);
      assert.ok(found.size > 0, `${script} printed no figure line${tail}`);
      for (const [name, value] of found) assert.ok(Number.isFinite(value), `${script}: figure ${name} is ${value}`);
      const absent = smoke.figures.filter((name) => !found.has(name));
      assert.deepEqual(absent, [], `${script} did not print ${absent.join(', ')}${tail}`);
    });
  }
}
