import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { InboundCall } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';

const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));
const MINIMAL_SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\n';

function assertSippInstalled(): void {
  const probe = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  if (probe.error) {
    assert.fail(`sipp is not available (${probe.error.message}); install it with: apt-get install -y sip-tester`);
  }
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Runs sipp asynchronously (the SIP stack under test shares this event loop). */
async function runSipp(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const localPort = await freeUdpPort();
  const child = spawn('sipp', [...args, '-i', '127.0.0.1', '-p', String(localPort), '-nostdin', '-trace_err'], { cwd });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output: output.slice(-2000) };
}

describe('BuiltinSignaling against SIPp', () => {
  let signaling: BuiltinSignaling;
  let workDir: string;
  let onInvite: (call: InboundCall) => void = () => {};

  before(async () => {
    assertSippInstalled();
    workDir = mkdtempSync(join(tmpdir(), 'sipp-'));
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0 });
    await signaling.start((call) => onInvite(call));
  });

  after(async () => {
    await signaling?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('sipp -sn uac: 5 calls answered, the caller hangs up', async () => {
    let answered = 0;
    onInvite = (call) => {
      call.progress(180);
      call.answer(MINIMAL_SDP).then(
        () => answered++,
        () => {},
      );
    };
    const target = `127.0.0.1:${signaling.advertised.port}`;
    const run = await runSipp(['-sn', 'uac', target, '-m', '5', '-r', '5', '-d', '500', '-timeout', '20s'], workDir);
    assert.equal(run.code, 0, `sipp failed:\n${run.output}`);
    assert.equal(answered, 5);
  });

  test('custom UAC: the app hangs up after the ACK and SIPp answers the BYE', async () => {
    const ends: string[] = [];
    onInvite = (call) => {
      call.answer(MINIMAL_SDP).then(
        async (dialog) => {
          await dialog.hangup();
          ends.push(await dialog.ended);
        },
        () => {},
      );
    };
    const target = `127.0.0.1:${signaling.advertised.port}`;
    const scenario = join(SCENARIO_DIR, 'uac-expect-bye.xml');
    const run = await runSipp(['-sf', scenario, target, '-m', '3', '-r', '3', '-timeout', '20s'], workDir);
    assert.equal(run.code, 0, `sipp failed:\n${run.output}`);
    assert.deepEqual(ends, ['local-bye', 'local-bye', 'local-bye']);
  });
});
