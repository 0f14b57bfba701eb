import { spawn } from 'node:child_process';

/**
 * Counts RTP packets on the wire with tcpdump: the caller's view (what arrived at its media port), without
 * touching the caller's socket. Needs root (CI runs as root) and the `tcpdump` package.
 */
export class RtpCapture {
  private lines: string[] = [];
  private readonly child;
  private readonly started: Promise<void>;

  constructor(filter: string) {
    this.child = spawn('tcpdump', ['-i', 'lo', '-n', '-l', '-q', '-tt', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      this.lines.push(...parts.filter((l) => l.includes(' UDP')));
    });
    this.started = new Promise((resolve, reject) => {
      let err = '';
      this.child.stderr.on('data', (d: Buffer) => {
        err += d.toString('utf8');
        if (/listening on/.test(err)) resolve();
      });
      this.child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${err}`)));
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  /** Packets seen so far, with their capture times (seconds). */
  packets(): { t: number; line: string }[] {
    return this.lines.map((line) => ({ t: Number(line.split(' ')[0]), line }));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGINT');
    await gone;
  }
}
