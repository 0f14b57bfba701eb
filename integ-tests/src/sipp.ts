import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from './local-stack.js';

export interface SippResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** SIPp's error log (-trace_err), for assertion messages. */
  errors: string;
  /** SIPp's message trace (-trace_msg). */
  messages: string;
  /** SIPp's working directory, where its other logs (e.g. -trace_rtt) are. */
  dir: string;
}

export function scenario(name: string): string {
  return resolve(repoRoot, 'integ-tests/scenarios', name);
}

/** Runs SIPp to completion (it exits 0 when every call succeeded) and collects its logs. */
export async function runSipp(args: string[], opts: { timeoutMs?: number } = {}): Promise<SippResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sipp-'));
  const child = spawn('sipp', ['-nostdin', '-trace_err', '-trace_msg', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  let errors = '';
  let messages = '';
  for (const f of await readdir(dir)) {
    if (f.endsWith('_errors.log')) errors += await readFile(join(dir, f), 'utf8');
    if (f.endsWith('_messages.log')) messages += await readFile(join(dir, f), 'utf8');
  }
  return { code, stdout, stderr, errors, messages, dir };
}

/** Writes a copy of a scenario with its `{{name}}` placeholders filled (SIPp reads pcap paths at load time). */
export async function renderScenario(name: string, values: Record<string, string | number>): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  let xml = await readFile(scenario(name), 'utf8');
  for (const [k, v] of Object.entries(values)) xml = xml.replaceAll(`{{${k}}}`, String(v));
  const missing = /\{\{(\w+)\}\}/.exec(xml);
  if (missing) throw new Error(`scenario ${name}: no value for {{${missing[1]}}}`);
  const out = join(await mkdtemp(join(tmpdir(), 'scenario-')), name);
  await writeFile(out, xml);
  return out;
}

/**
 * A SIPp UAS on a free loopback port that answers `calls` INVITEs with `scenarioFile` (default the
 * bridge callee); `run` settles when SIPp exits. Resolves once SIPp has had a moment to bind its port.
 */
export async function startSippCallee(
  opts: { scenarioFile?: string; calls?: number; timeoutSec?: number; mediaPort?: number } = {},
): Promise<{ port: number; uri: (user?: string) => string; run: Promise<SippResult> }> {
  const { freeSippMediaPort, freeUdpPort } = await import('./ports.js');
  const port = await freeUdpPort();
  const run = runSipp([
    '-sf',
    opts.scenarioFile ?? (await renderScenario('uas-bridge.xml', {})),
    '-p',
    String(port),
    '-i',
    '127.0.0.1',
    '-mp',
    String(opts.mediaPort ?? (await freeSippMediaPort())),
    '-m',
    String(opts.calls ?? 1),
    '-timeout',
    `${opts.timeoutSec ?? 30}s`,
  ]);
  await new Promise((r) => setTimeout(r, 300));
  return { port, uri: (user = 'agent') => `sip:${user}@127.0.0.1:${port}`, run };
}
