import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a deployment's API and SIP are: one this test kit started, or one already running. */
export interface Deployment {
  apiUrl: string;
  sipHost: string;
  sipPort: number;
  /** The deployment's log lines (stderr) when the kit started it; empty otherwise. */
  logs: string[];
  /** Stops a deployment the kit started (its exit code); a no-op for one it only points at. */
  stop(): Promise<number | null>;
}

/** A deployment that is already running (npm start on another machine, a staging stack on AWS). */
export function connectDeployment(at: { apiUrl: string; sipHost: string; sipPort?: number }): Deployment {
  return { apiUrl: at.apiUrl, sipHost: at.sipHost, sipPort: at.sipPort ?? 5060, logs: [], stop: async () => null };
}

export interface LocalDeploymentOptions {
  /** The SIP Mediaserver checkout: its `scripts/start.mjs` is what `npm start` runs. */
  repoRoot: string;
  /** rtpengine's media ports for this deployment (each call uses 4). */
  rtpPortMin: number;
  rtpPortMax: number;
  /** Fixed ports; any not given is a free one found now. */
  ports?: { api?: number; sip?: number; rtpengineNg?: number };
  /** Further settings (README: "Settings"), e.g. CLAIMABLE_NUMBERS. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** A port free for both TCP and UDP a moment ago (SIP binds both). */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', (err: NodeJS.ErrnoException) => {
        u.close();
        if (err.code !== 'EADDRINUSE') console.error('[@sipms/sdk testkit] UDP port probe failed:', err);
        resolve(false);
      });
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no port free for both TCP and UDP found');
}

/**
 * Starts the whole service on this machine as `npm start` does (API, SIP, media node with rtpengine), on fresh
 * ports and a fresh data directory, and resolves once it printed its ready line.
 */
export async function startLocalDeployment(options: LocalDeploymentOptions): Promise<Deployment> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sipms-testkit-'));
  const apiPort = options.ports?.api ?? (await freePort());
  const sipPort = options.ports?.sip ?? (await freePort());
  const ngPort = options.ports?.rtpengineNg ?? (await freePort());
  const child: ChildProcess = spawn(process.execPath, [join(options.repoRoot, 'scripts/start.mjs')], {
    cwd: options.repoRoot,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      SIP_HOST: '127.0.0.1',
      SIP_PORT: String(sipPort),
      RTP_PORT_MIN: String(options.rtpPortMin),
      RTP_PORT_MAX: String(options.rtpPortMax),
      RTPENGINE_NG_PORT: String(ngPort),
      METRICS_PORT: '0',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr!.on('data', (d: Buffer) =>
    logs.push(
      ...d
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim()),
    ),
  );
  const stop = async (): Promise<number | null> => {
    const code =
      child.exitCode !== null
        ? child.exitCode
        : await new Promise<number | null>((resolve) => {
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', (c) => {
              clearTimeout(timer);
              resolve(c);
            });
            child.kill('SIGINT');
          });
    await rm(dataDir, { recursive: true, force: true });
    return code;
  };
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  let ready: string;
  try {
    ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`not ready within ${timeoutMs} ms:\n${logs.slice(-20).join('\n')}`)),
        timeoutMs,
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        const line = out.split('\n').find((l) => l.startsWith('SIP Mediaserver ready'));
        if (!line) return;
        clearTimeout(timer);
        resolve(line);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the deployment exited with ${code} before it was ready:\n${logs.slice(-20).join('\n')}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const apiUrl = /API (\S+)/.exec(ready)?.[1];
  if (!apiUrl) {
    await stop();
    throw new Error(`no API URL in the ready line: ${ready}`);
  }
  return { apiUrl, sipHost: '127.0.0.1', sipPort, logs, stop };
}
