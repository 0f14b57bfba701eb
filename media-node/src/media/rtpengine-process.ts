import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@sipms/shared/util/logger';
import type { RtpEngineController } from './rtpengine-controller.js';

export interface RtpEngineProcessOptions {
  binary: string;
  /** Local address rtpengine relays media on; `advertised` is what SDP shows (e.g. an EC2 public IP). */
  interface: string;
  advertised?: string;
  ngHost: string;
  ngPort: number;
  portMin: number;
  portMax: number;
  dtmfLogDest: { host: string; port: number };
  /** MEDIA_TIMEOUT_SEC: the node ends silent calls itself; rtpengine's own timeout is set later than it. */
  mediaTimeoutSec?: number;
  runDir: string;
  /** Where `start recording` writes pcap files (default `<runDir>/recordings`). */
  recordingDir?: string;
  logLevel?: number;
  /** Forwarding table: -1 userspace (default), 0+ in-kernel where the xt_RTPENGINE module is loaded. */
  table?: number;
  /** Worker threads (RTPENGINE_THREADS); rtpengine's own default (one per core, at least four) when absent. */
  threads?: number;
}

/**
 * Runs and supervises a local userspace rtpengine: ready when it answers `ping`, restarted when it exits
 * (listeners of 'exit' fail the calls it carried), stopped with SIGTERM then SIGKILL.
 */
export class RtpEngineProcess extends EventEmitter<{
  exit: [code: number | null];
  ready: [];
  /** It kept exiting or could not be started again: the node cannot carry calls any more. */
  'gave-up': [reason: string];
}> {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts: number[] = [];
  private readonly recentOutput: string[] = [];

  constructor(
    private readonly opts: RtpEngineProcessOptions,
    private readonly control: RtpEngineController,
    private readonly logger: Logger,
  ) {
    super();
    control.recordingDir = this.recordingDir;
  }

  get recordingDir(): string {
    return recordingDirOf(this.opts);
  }

  async start(): Promise<void> {
    await mkdir(this.opts.runDir, { recursive: true });
    await mkdir(this.recordingDir, { recursive: true });
    await this.spawnOnce();
  }

  private async spawnOnce(): Promise<void> {
    // Its own process group: a Ctrl-C meant for `npm start` reaches the node, which stops rtpengine after
    // its calls, instead of rtpengine dying first under live calls.
    const child = spawn(this.opts.binary, rtpengineArgs(this.opts), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // A binary that cannot be run (ENOENT, EACCES) emits 'error' and no 'exit': fail at once, not after the ping wait.
    const failed = new Promise<Error>((resolve) => child.once('error', resolve));
    void failed.then((err) => this.logger.error({ err }, 'rtpengine could not be started'));
    const onOutput = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.recentOutput.push(line);
        if (this.recentOutput.length > 20) this.recentOutput.shift();
        this.logger.debug({ line }, 'rtpengine');
      }
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);

    const ready = this.waitForPing(5000);
    const first = await Promise.race([
      ready.then(() => 'ready' as const),
      exited.then(() => 'exited' as const),
      failed,
    ]);
    if (first instanceof Error) throw first;
    if (first === 'exited') {
      throw new Error(`rtpengine exited during start-up: ${this.recentOutput.slice(-5).join(' | ') || 'no output'}`);
    }
    this.logger.info({ pid: child.pid, ng: `${this.opts.ngHost}:${this.opts.ngPort}` }, 'rtpengine ready');
    this.emit('ready');
    void exited.then((code) => this.onExit(code));
  }

  private async waitForPing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        if (await this.control.ping()) return;
      } catch (err) {
        lastError = err; // not up yet; reported if it never comes up
      }
      if (Date.now() > deadline) throw new Error('rtpengine did not answer ping', { cause: lastError });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async onExit(code: number | null): Promise<void> {
    if (this.stopping) return;
    this.logger.error({ code, output: this.recentOutput.slice(-5) }, 'rtpengine exited under the node; restarting');
    this.emit('exit', code);
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    this.restarts.push(now);
    if (this.restarts.length > 5) {
      this.giveUp('rtpengine keeps exiting (more than 5 times a minute)');
      return;
    }
    await new Promise((r) => setTimeout(r, 200 * this.restarts.length));
    if (this.stopping) return;
    await this.spawnOnce().catch((err) => {
      this.logger.error({ err }, 'rtpengine restart failed');
      this.giveUp(`rtpengine could not be restarted: ${(err as Error).message}`);
    });
  }

  private giveUp(reason: string): void {
    this.logger.error({ output: this.recentOutput.slice(-5) }, `${reason}; giving up`);
    this.emit('gave-up', reason);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

/**
 * Stops the rtpengine a previous process of this node left behind (the node was killed, so it could not
 * stop it): found by the pid file in `runDir`, and only if that process is an rtpengine on `ngPort`.
 */
export async function stopOrphanedRtpengine(runDir: string, ngPort: number, logger: Logger): Promise<void> {
  const pidFile = join(runDir, 'rtpengine.pid');
  const pid = Number.parseInt(await readIfThere(pidFile), 10);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const args = (await readIfThere(`/proc/${pid}/cmdline`)).split('\0');
  if (!args[0]?.endsWith('rtpengine') || !args.some((a) => a.startsWith('--listen-ng=') && a.endsWith(`:${ngPort}`))) {
    await rm(pidFile, { force: true });
    return;
  }
  logger.warn({ pid }, 'stopping the rtpengine a killed node process left running');
  process.kill(pid, 'SIGKILL');
  // A killed process's cmdline reads empty (zombie) or is gone.
  for (let i = 0; i < 100 && (await readIfThere(`/proc/${pid}/cmdline`)) !== ''; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await rm(pidFile, { force: true });
}
/** A file's text, or '' when it does not exist (no pid file, or no such process). */
async function readIfThere(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return '';
    throw err;
  }
}

/** rtpengine's command line for these options (the node always passes `--config-file=none`). */
export function rtpengineArgs(o: RtpEngineProcessOptions): string[] {
  const iface = o.advertised && o.advertised !== o.interface ? `${o.interface}!${o.advertised}` : o.interface;
  return [
    '--config-file=none', // never pick up /etc/rtpengine/rtpengine.conf (kernel table, extra listeners)
    `--table=${o.table ?? -1}`, // -1: userspace forwarding, works without the kernel module
    ...(o.threads ? [`--num-threads=${o.threads}`] : []),
    `--interface=${iface}`,
    `--listen-ng=${o.ngHost}:${o.ngPort}`,
    `--port-min=${o.portMin}`,
    `--port-max=${o.portMax}`,
    `--dtmf-log-dest=${o.dtmfLogDest.host}:${o.dtmfLogDest.port}`,
    '--delete-delay=0', // we delete explicitly at hang-up; keeping ports 30 s exhausts small ranges
    // rtpengine drops a call without media after --timeout (default 60 s) and tells no one: keep that
    // after the node's own media timeout, which hangs up and reports mediaTimeout.
    `--timeout=${Math.max(60, (o.mediaTimeoutSec ?? 60) + 30)}`,
    '--endpoint-learning=heuristic', // prefer the SDP address, still learn NATed sources
    // Recording: pcap files that the node converts (the `proc` method needs the kernel module).
    `--recording-dir=${recordingDirOf(o)}`,
    '--recording-method=pcap',
    '--recording-format=eth',
    '--foreground',
    '--log-stderr',
    `--log-level=${o.logLevel ?? 5}`,
    `--pidfile=${join(o.runDir, 'rtpengine.pid')}`,
  ];
}

function recordingDirOf(o: RtpEngineProcessOptions): string {
  return o.recordingDir ?? join(o.runDir, 'recordings');
}
