import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort, freeUdpPort } from './ports.js';

export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

export interface LocalStack {
  apiUrl: string;
  sipHost: string;
  sipPort: number;
  /** Every media node's SIP port (the first is sipPort). */
  sipPorts: number[];
  /** Every media node's `GET /metrics` URL, in node order (from the ready line; empty with METRICS_PORT=0). */
  metricsUrls: string[];
  dataDir: string;
  /** The operator's admin token: ADMIN_TOKEN when the test set it, else the one the stack made (its ready line says where). */
  adminToken: string;
  /** Everything the stack wrote to stderr (JSON log lines), for diagnosing a failure. */
  logs: string[];
  process: ChildProcess;
  stop(): Promise<number | null>;
}

/**
 * Starts the real single-machine deployment exactly as a user does (`npm start`'s script), on free ports
 * and a fresh data directory, and waits for its ready line.
 */
export async function startLocalStack(opts: {
  rtpPortMin: number;
  rtpPortMax: number;
  dataDir?: string;
  env?: Record<string, string>;
  /** Media nodes sharing the control plane (SIP ports sipPort, sipPort + 1, …). */
  mediaNodes?: number;
}): Promise<LocalStack> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'sipms-stack-')));
  const apiPort = await freeTcpPort();
  const sipPort = await freeUdpPort();
  const ngPort = await freeUdpPort();
  // Node i serves /metrics on METRICS_PORT + i; a free port, not the default 9464 a developer's `npm start` may hold.
  const metricsPort = await freeTcpPort();
  // The softphone's SIP over WebSocket (node i: wsPort + i), not the default 5066 a developer's `npm start` may hold.
  const wsPort = await freeTcpPort();
  const child = spawn(process.execPath, [join(repoRoot, 'scripts/start.mjs')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      API_PORT: String(apiPort),
      SIP_HOST: '127.0.0.1',
      SIP_PORT: String(sipPort),
      RTP_PORT_MIN: String(opts.rtpPortMin),
      RTP_PORT_MAX: String(opts.rtpPortMax),
      RTPENGINE_NG_PORT: String(ngPort),
      METRICS_PORT: String(metricsPort),
      SIP_WS_PORT: String(wsPort),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      MEDIA_NODES: String(opts.mediaNodes ?? 1),
      // The stack stops when this process dies (its stdin pipe closes): a timed-out test leaves no stack behind.
      SIPMS_STOP_WITH_PARENT: '1',
      ...opts.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    for (const line of d.toString('utf8').split('\n')) if (line.trim()) logs.push(line);
    if (process.env.STACK_LOGS) process.stderr.write(d);
  });
  const ready = await new Promise<string>((ok, fail) => {
    let out = '';
    const timer = setTimeout(
      () => fail(new Error(`stack not ready within 30 s; logs:\n${logs.slice(-20).join('\n')}`)),
      30_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('SIP Mediaserver ready'));
      if (line) {
        clearTimeout(timer);
        ok(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`stack exited with ${code} before ready; logs:\n${logs.slice(-20).join('\n')}`));
    });
  });
  const api = /API (\S+)/.exec(ready)![1]!;
  const sipPorts = [...ready.matchAll(/sip:[^:\s]+:(\d+)/g)].map((m) => Number(m[1]));
  const tokenFile = /\| admin token (\/\S+)/.exec(ready)?.[1];
  // The last field: `| metrics <url>, <url>, …` (absent when the nodes' METRICS_PORT is 0).
  const metricsUrls = /\| metrics (.+)$/.exec(ready.trim())?.[1]?.split(/,\s*/) ?? [];
  const adminToken = tokenFile ? (await readFile(tokenFile, 'utf8')).trim() : (opts.env?.ADMIN_TOKEN ?? '');
  return {
    apiUrl: api,
    sipHost: '127.0.0.1',
    sipPort,
    sipPorts,
    metricsUrls,
    dataDir,
    adminToken,
    logs,
    process: child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
