import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from '@sipms/shared/util/logger';

export interface NodeAddress {
  sip: { host: string; port: number };
  transports: string[];
  /** The node's `GET /metrics` URL; absent when its METRICS_PORT is 0. */
  metrics?: string;
}

/** Waits between restarts of a node that keeps failing; the last one repeats. */
const RESTART_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];
const restartDelay = (attempt: number): number =>
  RESTART_DELAYS_MS[Math.min(attempt, RESTART_DELAYS_MS.length - 1)] as number;
/** A node up this long has recovered: the next failure starts the delays again. */
const HEALTHY_AFTER_MS = 60_000;
/** Start-ups in a row that fail before the supervisor gives up (a setting or port problem, not a crash). */
const MAX_FAILED_STARTS = 5;

/**
 * Runs one media node process and keeps it running, as systemd does on an EC2 node: a node that exits
 * on its own (crash, kill -9, rtpengine lost for good) is started again with the same settings; the new
 * process stops the rtpengine the old one left behind and completes the old one's sessions. `stop`
 * forwards SIGINT (end calls now) or SIGTERM (drain first) and waits, bounded, for the exit.
 */
export class NodeSupervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failedStarts = 0;
  private crashes = 0;

  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly label: string,
    private readonly logger: Logger,
    /** Called when the node cannot be started again; the deployment should stop. */
    private readonly onGiveUp: (reason: string) => void,
  ) {}

  /** Starts the node the first time; rejects with the node's own start-up error. */
  async start(): Promise<NodeAddress> {
    return this.spawn();
  }

  private spawn(): Promise<NodeAddress> {
    const child = fork(this.entry, [], {
      env: this.env,
      // The bundle runs as plain JavaScript; a TypeScript entry (a test of the supervisor) needs tsx.
      execArgv: this.entry.endsWith('.ts') ? ['--import', 'tsx'] : ['--enable-source-maps'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    const startedAt = Date.now();
    return new Promise((ok, fail) => {
      let ready = false;
      child.once('message', (msg: { type: string; message?: string } & Partial<NodeAddress>) => {
        if (msg.type === 'ready' && msg.sip) {
          ready = true;
          ok({ sip: msg.sip, transports: msg.transports ?? ['udp'], ...(msg.metrics ? { metrics: msg.metrics } : {}) });
        } else fail(new Error(msg.message ?? 'media node failed to start'));
      });
      child.once('exit', (code, signal) => {
        if (!ready) fail(new Error(`media node exited during start-up (code ${code}, signal ${signal})`));
        else this.onExit(code, signal, Date.now() - startedAt);
      });
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, upMs: number): void {
    if (this.stopping) return;
    if (upMs >= HEALTHY_AFTER_MS) this.crashes = 0;
    const delay = restartDelay(this.crashes);
    this.crashes++;
    this.logger.error({ node: this.label, code, signal, restartInMs: delay }, 'media node exited; restarting it');
    setTimeout(() => void this.restart(), delay);
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    try {
      const address = await this.spawn();
      this.failedStarts = 0;
      this.logger.info({ node: this.label, sip: address.sip }, 'media node restarted');
    } catch (err) {
      this.failedStarts++;
      if (this.failedStarts >= MAX_FAILED_STARTS) {
        this.onGiveUp(`media node ${this.label} failed to start ${this.failedStarts} times: ${(err as Error).message}`);
        return;
      }
      this.logger.error({ node: this.label, err }, 'media node restart failed; trying again');
      setTimeout(() => void this.restart(), restartDelay(this.failedStarts));
    }
  }

  /** Stops the node: SIGINT ends its calls at once, SIGTERM lets them finish (up to its drain time). */
  async stop(signal: 'SIGINT' | 'SIGTERM', boundMs: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    await gone;
    clearTimeout(timer);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}
