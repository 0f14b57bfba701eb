/**
 * What every benchmark shares: its settings from the environment, the tenant limits it asks the stack for,
 * and how it reports. A benchmark prints its figures as `figure: <name> = <value> <unit>` lines (the smoke
 * test, integ-tests/src/bench-smoke.ts, parses them) and exits non-zero when it could not produce
 * a figure or when its run was broken (calls refused by a limit it should have lifted, fewer calls than it
 * asked for, a tool that failed): a benchmark that quietly measures 30 of 100 calls is worse than none.
 */

/** A whole number from the environment, or the default; anything else stops the benchmark at once. */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: expected a whole number ≥ ${min}`);
  return n;
}

/** A comma list of whole numbers from the environment (e.g. STEPS=50,100), or the default. */
export function envIntList(name: string, fallback: number[], min = 1): number[] {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min)) {
    throw new Error(`${name}=${raw}: expected a comma list of whole numbers ≥ ${min}`);
  }
  return list;
}

/**
 * rtpengine's port range for the stack the benchmark starts: RTP_PORT_MIN/RTP_PORT_MAX (as for `npm start`),
 * else the benchmark's own default. Each call holds 4 ports; a range too small for `calls` is refused up front
 * rather than measured as failed calls.
 */
export function envRtpRange(fallback: { min: number; max: number }, calls: number): { min: number; max: number } {
  const min = envInt('RTP_PORT_MIN', fallback.min, 1024);
  const max = envInt('RTP_PORT_MAX', fallback.max, 1024);
  if (max > 65535 || max <= min) throw new Error(`RTP_PORT_MIN=${min} RTP_PORT_MAX=${max}: not a port range`);
  const room = Math.floor((max - min + 1) / 4);
  if (room < calls) {
    throw new Error(`RTP ports ${min}-${max} hold ${room} calls (4 ports each); this run needs ${calls}`);
  }
  return { min, max };
}

/**
 * The per-tenant call limits of the stack the benchmark starts (TENANT_MAX_CONCURRENT_CALLS and
 * TENANT_CALLS_PER_SECOND, the local deployment's settings; README "Settings"), with room above what the
 * benchmark will do: twice its simultaneous calls (the last step's calls may still be hanging up) and twice
 * its call rate (the rate limit is a fixed one-second window, and SIPp catches up in bursts); never below
 * the defaults (100 calls, 10 calls/s).
 */
export function tenantLimits(need: { concurrent: number; perSecond: number }): {
  env: Record<string, string>;
  text: string;
} {
  const concurrent = Math.max(100, 2 * need.concurrent);
  const perSecond = Math.max(10, 2 * Math.ceil(need.perSecond));
  return {
    env: { TENANT_MAX_CONCURRENT_CALLS: String(concurrent), TENANT_CALLS_PER_SECOND: String(perSecond) },
    text: `tenant limits ${concurrent} simultaneous calls, ${perSecond} calls/s`,
  };
}

/** SIPp's final counts ("Successful call" / "Failed call", cumulative column), when it printed them. */
export function sippCounts(stdout: string): { ok: number; failed: number } | undefined {
  const ok = /Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(stdout)?.[1];
  const failed = /Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(stdout)?.[1];
  return ok === undefined || failed === undefined ? undefined : { ok: Number(ok), failed: Number(failed) };
}

/**
 * The calls the media node refused because of a tenant limit (503 naming the limit), counted once per Call-ID
 * by reason ("at most 10 new calls per second"), from SIPp's message trace: calls a benchmark should never see
 * refused.
 */
export function limitRefusals(messages: string): Map<string, number> {
  const calls = new Map<string, Set<string>>();
  for (const m of messages.matchAll(/^SIP\/2\.0 503 Service Unavailable \(([^)\r\n]*)\)/gm)) {
    const after = messages.slice(m.index, m.index + 4000);
    const callId = /^Call-ID:\s*(\S+)/im.exec(after)?.[1] ?? `at ${m.index}`;
    const set = calls.get(m[1]!) ?? new Set<string>();
    set.add(callId);
    calls.set(m[1]!, set);
  }
  return new Map([...calls].map(([reason, ids]) => [reason, ids.size]));
}

/** The first thing SIPp's error log says went wrong, on one line. */
export function firstSippError(errors: string): string {
  const line =
    errors.split('\n').find((l) => /Aborting|unexpected|timeout|failed/i.test(l)) ?? errors.split('\n')[0] ?? '';
  return line.trim().slice(0, 300);
}

export function describeRefusals(byReason: Map<string, number>): string {
  return [...byReason].map(([reason, n]) => `${n} call(s) got 503 "${reason}"`).join(', ');
}

/**
 * How long to let tcpdump catch up before stopping an RtpCapture: libpcap hands packets over in blocks that
 * wait up to 1 s (tcpdump runs without --immediate-mode), and SIGINT drops a block not yet handed over — the
 * last key press of a DTMF run went missing with 300 ms.
 */
export const CAPTURE_DRAIN_MS = 1500;

/** Whether the `ffmpeg` command runs here (the media node converts prompts with it; see docs/ivr.md). */
export async function hasFfmpeg(): Promise<boolean> {
  const { spawnSync } = await import('node:child_process');
  return spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
}

/**
 * One benchmark run: its figures and what went wrong. `finish()` prints the verdict and sets the exit code.
 * Throwing still works for what cannot go on (the stack did not start): the process exits non-zero.
 */
export class BenchRun {
  private readonly problems: string[] = [];
  private figures = 0;

  constructor(readonly name: string) {}

  /** Prints `figure: <name>.<key> = <value> <unit>`; a value that is not a number is a problem, not a figure. */
  figure(key: string, value: number | undefined, unit: string, digits = 1): void {
    const name = `${this.name}.${key}`;
    if (value === undefined || !Number.isFinite(value)) {
      this.problem(`no figure for ${name}: nothing was measured`);
      return;
    }
    this.figures++;
    console.log(`figure: ${name} = ${value.toFixed(digits)} ${unit}`);
  }

  /** Something that makes the run's figures wrong; the run will exit non-zero. */
  problem(message: string): void {
    this.problems.push(message);
    console.log(`PROBLEM: ${message}`);
  }

  check(ok: boolean, message: string): boolean {
    if (!ok) this.problem(message);
    return ok;
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  /** Call last: prints the verdict, sets process.exitCode. */
  finish(): void {
    if (this.figures === 0 && this.problems.length === 0) this.problems.push('the run printed no figure');
    if (this.problems.length === 0) {
      console.log(`${this.name}: ok (${this.figures} figures)`);
      return;
    }
    process.exitCode = 1;
    process.stderr.write(`${this.name}: FAILED — ${this.problems.length} problem(s):\n`);
    for (const p of this.problems) process.stderr.write(`  - ${p}\n`);
  }
}

export function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function ms(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(1);
}

/** The SDP offer of a benchmark's own caller: PCMU and telephone-event at 127.0.0.1:`port`. */
export function callerSdp(port: number): string {
  const v = Date.now();
  return `${[
    'v=0',
    `o=- ${v} ${v} IN IP4 127.0.0.1`,
    's=bench',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=ptime:20',
    'a=sendrecv',
  ].join('\r\n')}\r\n`;
}

/** Where an SDP answer wants the caller's audio sent. */
export function answerAddress(sdp: string): { host: string; port: number } {
  const host = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const port = Number(/^m=audio (\d+)/m.exec(sdp)?.[1]);
  if (!host || !port) throw new Error(`no audio address in the answer: ${sdp}`);
  return { host, port };
}
