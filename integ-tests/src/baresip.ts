import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, freeUdpPort } from './ports.js';

/**
 * Fails the suite at once when baresip does not run: `npm test` installs it (system-packages.json), so a missing
 * one is a broken set-up, not a reason to skip.
 */
export function requireBaresip(): void {
  try {
    execFileSync('baresip', ['-h'], { stdio: 'ignore', timeout: 3000 });
  } catch (err) {
    // -h exits non-zero but the binary runs
    if ((err as { status?: number }).status !== undefined) return;
    throw new Error('baresip is not installed (apt-get install baresip-core; npm test installs it as root)');
  }
}

/** `sox <file> -n stat`: length and loudness of what the phone heard. */
export interface SoxStat {
  seconds: number;
  rms: number;
  maxAmplitude: number;
}

export function soxStat(file: string, trim?: { start: number; length: number }): SoxStat {
  const args = [file, '-n', ...(trim ? ['trim', String(trim.start), String(trim.length)] : []), 'stat'];
  // sox writes stat to stderr.
  const out = spawnSync('sox', args, { encoding: 'utf8' }).stderr;
  const num = (label: string) => Number(new RegExp(`${label}:\\s+(-?[\\d.]+)`).exec(out)?.[1] ?? Number.NaN);
  return { seconds: num('Length \\(seconds\\)'), rms: num('RMS\\s+amplitude'), maxAmplitude: num('Maximum amplitude') };
}

/**
 * baresip 1.0 as a headless softphone (docs/ivr.md, "Tests and benchmarks"): it dials through ctrl_tcp, sends a
 * WAV file as its microphone (aufile; S16LE 8 kHz, padded so the call does not end at end of file),
 * types digits through the `cons` module (each key followed by \x04, the key release), and records
 * what it hears with `sndfile` (dump-…-dec.wav).
 */
export class Baresip {
  private child: ChildProcess | undefined;
  private ctrl: Socket | undefined;
  private readonly events: Record<string, unknown>[] = [];
  private waiters: { type: string; resolve: () => void }[] = [];
  readonly output: string[] = [];
  dir = '';
  private consPort = 0;

  /** The phone's own address, for calling it. */
  uri = '';

  async start(opts: { sourceWav: Buffer; rtpPorts: [number, number]; autoAnswer?: boolean }): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'baresip-'));
    await mkdir(join(this.dir, 'rec'));
    const raw = join(this.dir, 'source-raw.wav');
    const source = join(this.dir, 'source.wav');
    await writeFile(raw, opts.sourceWav);
    // baresip closes the call at the source's end of file: pad it well past any test call.
    execFileSync('sox', [raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', source, 'pad', '0', '60']);
    const sipPort = await freeUdpPort();
    this.consPort = await freeUdpPort();
    const ctrlPort = await freeTcpPort();
    await writeFile(
      join(this.dir, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${sipPort}`,
        'net_interface 127.0.0.1',
        'audio_player aubridge,sink',
        'audio_alert aubridge,sink',
        `audio_source aufile,${source}`,
        `rtp_ports ${opts.rtpPorts[0]}-${opts.rtpPorts[1]}`,
        'module_path /usr/lib/baresip/modules',
        'module g711.so',
        'module aufile.so',
        'module aubridge.so',
        'module sndfile.so',
        'module cons.so',
        `cons_listen 127.0.0.1:${this.consPort}`,
        'module_app account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
        `snd_path ${join(this.dir, 'rec')}`,
        '',
      ].join('\n'),
    );
    this.uri = `sip:alice@127.0.0.1:${sipPort}`;
    const answermode = opts.autoAnswer ? 'auto' : 'manual';
    await writeFile(join(this.dir, 'accounts'), `<${this.uri}>;regint=0;answermode=${answermode}\n`);
    const child = spawn('baresip', ['-f', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (d: Buffer) => this.output.push(...d.toString('utf8').split('\n').filter(Boolean));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // Connect to ctrl_tcp once it listens.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        this.ctrl = await new Promise<Socket>((resolve, reject) => {
          const s = connect(ctrlPort, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (err) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`baresip did not start: ${(err as Error).message}\n${this.output.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let buf = '';
    this.ctrl.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      // netstrings: <length>:<json>,
      for (;;) {
        const colon = buf.indexOf(':');
        if (colon < 0) break;
        const len = Number(buf.slice(0, colon));
        if (buf.length < colon + 1 + len + 1) break;
        const json = buf.slice(colon + 1, colon + 1 + len);
        buf = buf.slice(colon + 1 + len + 1);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(json) as Record<string, unknown>;
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
          continue; // ctrl_tcp frames are JSON; anything else is not an event
        }
        if (msg.event) this.onEvent(msg);
      }
    });
  }

  private onEvent(e: Record<string, unknown>): void {
    this.events.push(e);
    const type = String(e.type);
    this.waiters = this.waiters.filter((w) => {
      if (w.type !== type) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when baresip reports an event of this type (CALL_ESTABLISHED, CALL_CLOSED, …). */
  waitFor(type: string, timeoutMs = 20_000): Promise<void> {
    if (this.events.some((e) => e.type === type)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `baresip: no ${type} within ${timeoutMs} ms; events ${JSON.stringify(this.events.map((e) => e.type))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        type,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  dial(uri: string): void {
    const json = JSON.stringify({ command: 'dial', params: uri, token: 't1' });
    this.ctrl!.write(`${Buffer.byteLength(json)}:${json},`);
  }

  /** Types keys on the phone's keypad: each key, held `holdMs`, then released. */
  async type(keys: string, holdMs = 150, gapMs = 250): Promise<void> {
    const s = createSocket('udp4');
    for (const k of keys) {
      s.send(k, this.consPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, holdMs));
      s.send('\x04', this.consPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, gapMs));
    }
    s.close();
  }

  /** The recording of what the phone heard (sndfile's decoder dump). */
  async heardFile(): Promise<string | undefined> {
    const files = await readdir(join(this.dir, 'rec'));
    const dec = files.find((f) => f.endsWith('-dec.wav'));
    return dec ? join(this.dir, 'rec', dec) : undefined;
  }

  async stop(): Promise<void> {
    this.ctrl?.destroy();
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
