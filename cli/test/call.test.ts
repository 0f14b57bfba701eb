import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rmsLevel } from '@sipms/media-node/media/pcap';
import { wavSamples } from '@sipms/media-node/media/wav-mix';
import { ApiClient } from '../../integ-tests/src/api-client.js';
import { toneWav } from '../../integ-tests/src/audio.js';
import { soxStat } from '../../integ-tests/src/baresip.js';
import { type LocalStack, repoRoot, startLocalStack } from '../../integ-tests/src/local-stack.js';
import { freeUdpPort } from '../../integ-tests/src/ports.js';
import { WebhookServer } from '../../integ-tests/src/webhook-server.js';
import { placeCall } from '../src/index.js';

// `sipms call` against the real local deployment (npm start's stack: built-in SIP, rtpengine, dynalite, the
// dispatcher) with a real webhook as the tenant's IVR. The CLI runs as a child process through its real bin
// (which builds and runs the JavaScript bundle), the --play case through the library. rtpengine: 33000-33199.
const RTP_MIN = 33000;
const RTP_MAX = 33199;
const NUMBER = 'cli-ivr';
const BIN = join(repoRoot, 'cli/bin/sipms.mjs');
const PROMPT_MS = 2000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sipms(
  args: string[],
  env: Record<string, string> = {},
  started?: (child: ChildProcess) => void,
): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: repoRoot,
    env: { ...process.env, SIPMS_API_URL: '', SIPMS_API_KEY: '', SIPMS_SIP_SERVER: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  started?.(child);
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Loud stretches of a WAV (100 ms windows above −30 dBFS; gaps up to 200 ms bridged), as [start, end] seconds. */
function loudParts(wav: Buffer): [number, number][] {
  const pcm = wavSamples(wav);
  const parts: [number, number][] = [];
  for (let o = 0; o + 800 <= pcm.length; o += 800) {
    if (rmsLevel(pcm.subarray(o, o + 800)) <= 0.0316) continue;
    const t = Math.round(o / 800) / 10;
    const last = parts.at(-1);
    if (last && t - last[1] <= 0.2 + 1e-9) last[1] = Math.round((t + 0.1) * 10) / 10;
    else parts.push([t, Math.round((t + 0.1) * 10) / 10]);
  }
  return parts;
}

describe('sipms call against the local deployment', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let tenant: { domain: string; apiKey: string };
  let scratch: string;
  let server: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'sipms-cli-'));
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    server = `${stack.sipHost}:${stack.sipPort}`;
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('CLI callers GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
    for (const [name, ms, hz] of [
      ['prompt', PROMPT_MS, 600],
      ['long', 8000, 600],
    ] as const) {
      const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/${name}`, toneWav(ms, hz));
      assert.equal(up.status, 200, JSON.stringify(up.json));
    }
  });

  after(async () => {
    await hook?.close();
    const code = await stack?.stop();
    await rm(scratch, { recursive: true, force: true });
    assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  test('the bin calls an IVR: its digits reach getIvrCommand, the prompt is recorded, the timeline printed, exit 0', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.dtmfParams) {
        const dtmf = { maxDigits: 5, terminationKey: '#', firstDigitTimeoutMs: 8000 };
        return { body: { phrases: [{ format: 'file', fileName: 'prompt' }], dtmf } };
      }
      return { body: { phrases: [{ format: 'file', fileName: 'prompt' }], hangup: true } };
    };
    const heard = join(scratch, 'heard.wav');
    const run = await sipms(
      ['call', NUMBER, '--server', server, '--dtmf', '1@2.6s,23#@3.2s', '--record', heard, '--hangup-after', '20s'],
      { SIPMS_API_URL: stack.apiUrl, SIPMS_API_KEY: tenant.apiKey },
    );
    console.log(run.stdout);
    assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
    assert.ok(existsSync(join(repoRoot, 'cli/.build/sipms.mjs')), 'the bin ran the built bundle');

    // The IVR got exactly the keys, and the call ended when it hung up.
    const withDigits = hook.named('getIvrCommand').filter((c) => c.body.dtmfParams);
    assert.equal(withDigits.length, 1);
    assert.deepEqual(withDigits[0]!.body.dtmfParams, { digits: '123', terminationKey: '#', reason: 'terminationKey' });
    const callId = hook.named('newCall')[0]!.body.sipCallId as string;
    assert.match(run.stdout, new RegExp(`Call-ID +${callId.replaceAll('.', '\\.')}`));
    assert.match(run.stdout, /outcome +200 OK, answered/);
    assert.match(run.stdout, /ended +by remote after/);
    assert.match(run.stdout, /sent +DTMF 1 at 2\.60 s, 2 at 3\.20 s, 3 at 3\.44 s, # at 3\.68 s/);

    // The timeline from the journal.
    const sessionId = hook.named('newCall')[0]!.body.sessionId as string;
    assert.match(run.stdout, new RegExp(`Journal of session ${sessionId}`));
    // The API filter the CLI used: exactly this session; a Call-ID that is not one is refused, naming the field.
    const byCallId = await api.call('GET', `/v1/sessions?sipCallId=${encodeURIComponent(callId)}`);
    assert.deepEqual(
      byCallId.json.sessions.map((x: { sessionId: string }) => x.sessionId),
      [sessionId],
    );
    const bad = await api.call('GET', '/v1/sessions?sipCallId=a%20b');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.field, 'sipCallId');
    assert.match(run.stdout, /\+\d+\.\d{3} s {2}newCall +200 +\d+ ms +1 attempt +action=ivr/);
    assert.match(run.stdout, /getIvrCommand +200 +\d+ ms +1 attempt +command=phrases\+dtmf/);
    assert.match(
      run.stdout,
      /getIvrCommand +200 +\d+ ms +1 attempt +digits=123 dtmfReason=terminationKey command=phrases\+hangup/,
    );
    assert.match(run.stdout, /sessionCompleted +200 +\d+ ms +1 attempt +reason=hangup/);

    // What the caller heard: the prompt, silence while the IVR waited for the keys, the prompt again.
    const stat = soxStat(heard);
    console.log(`# heard ${stat.seconds.toFixed(2)} s, RMS ${stat.rms.toFixed(3)}`);
    assert.ok(stat.seconds > 4.5 && stat.seconds < 12, `recorded ${stat.seconds} s`);
    const parts = loudParts(await readFile(heard));
    console.log(`# loud parts: ${JSON.stringify(parts)}`);
    assert.equal(parts.length, 2, 'two prompts, apart');
    for (const [from, to] of parts) {
      assert.ok(to - from > 1.7 && to - from < 2.3, `a 2 s prompt: ${from}-${to} s`);
      const prompt = soxStat(heard, { start: from + 0.2, length: 1.4 });
      assert.ok(prompt.rms > 0.25 && prompt.rms < 0.45, `the prompt (RMS 0.35) at ${from} s: RMS ${prompt.rms}`);
    }
    assert.ok(parts[1]![0] > 3.68, 'the second prompt follows the last key');
  });

  test('an unknown number: SIP 404 printed, exit 3, no callback', async () => {
    hook.received.length = 0;
    const run = await sipms(['call', 'nobody-here', '--server', server]);
    assert.equal(run.code, 3, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /outcome +404 Not Found: not answered/);
    assert.equal(hook.received.length, 0);
  });

  test('bad options through the bin: one line naming the option, exit 2, nothing sent', async () => {
    hook.received.length = 0;
    for (const [args, line] of [
      [['call', NUMBER, '--dtmf', '1@2s,x@3s'], /^sipms: --dtmf: "X" are not DTMF keys/],
      [['call', NUMBER, '--transport', 'sctp'], /^sipms: --transport: must be udp or tcp$/],
      [['call', NUMBER, '--hangup-after'], /^sipms: --hangup-after: needs a value$/],
      [['call', NUMBER, '--play', join(scratch, 'none.wav')], /^sipms: --play: cannot read .*ENOENT$/],
      [['call', NUMBER, '--speed', '2'], /^sipms: --speed: unknown option/],
      [['call', NUMBER, '--api-url', stack.apiUrl], /^sipms: --api-key: is needed with --api-url/],
    ] as const) {
      const run = await sipms([...args, '--server', server]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      const lines = run.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, line);
    }
    assert.equal(hook.received.length, 0, 'no call was placed');
  });

  test('--play: a 44.1 kHz stereo WAV is sent as PCMU; the IVR records it and the recording has its energy', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.recording) return { body: { record: { fileName: 'cli-rec', maxDurationSec: 3, beep: false } } };
      return { body: { hangup: true } };
    };
    const source = join(scratch, 'speech.wav');
    execFileSync('sox', [
      '-n',
      '-r',
      '44100',
      '-c',
      '2',
      '-b',
      '16',
      source,
      'synth',
      '8',
      'sine',
      '440',
      'vol',
      '0.5',
    ]);
    const result = await placeCall({
      target: NUMBER,
      server,
      playWav: source,
      hangupAfterMs: 15_000,
      api: { url: stack.apiUrl, apiKey: tenant.apiKey },
    });
    assert.equal(result.answered, true);
    assert.equal(result.endedBy, 'remote');
    const ready = hook.named('callNotify').find((c) => c.body.event === 'recordingReady');
    assert.ok(ready, 'recordingReady');
    assert.equal(ready.body.reason, 'maxDuration');
    const res = await fetch(`${stack.apiUrl}/mediaservice/${tenant.domain}/promptfile/cli-rec`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    assert.equal(res.status, 200);
    const file = join(scratch, 'cli-rec.wav');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const stat = soxStat(file);
    console.log(`# the IVR recorded ${stat.seconds.toFixed(2)} s at RMS ${stat.rms.toFixed(3)}`);
    assert.ok(stat.seconds > 2.5 && stat.seconds < 3.5, `recorded ${stat.seconds} s`);
    // sox puts the 0.5 sine on both channels: its level (RMS 0.354) survives the down-mix, resampling and µ-law.
    assert.ok(stat.rms > 0.3 && stat.rms < 0.4, `recording RMS ${stat.rms}`);
    assert.deepEqual(
      result.timeline?.filter((e) => e.kind === 'callback' && e.name === 'getIvrCommand').map((e) => e.fields.command),
      ['record', 'hangup'],
    );
    assert.equal(result.timeline?.find((e) => e.fields.recording)?.fields.recording, 'cli-rec');
  });

  test('--transport tcp, --hangup-after and --json: the caller hangs up; the journal says callingPartyDrop', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'file', fileName: 'long' }] } };
      return undefined;
    };
    const run = await sipms(
      ['call', NUMBER, '--server', server, '--transport', 'tcp', '--hangup-after', '2s', '--json'],
      { SIPMS_API_URL: stack.apiUrl, SIPMS_API_KEY: tenant.apiKey },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const result = JSON.parse(run.stdout);
    assert.equal(result.transport, 'tcp');
    assert.equal(result.answered, true);
    assert.equal(result.endedBy, 'caller');
    assert.ok(result.durationMs >= 2000 && result.durationMs < 3000, `${result.durationMs} ms`);
    // The prompt starts once the node has converted it (its first play): some of the 2 s are silence.
    assert.ok(result.heard.audibleSeconds > 0.5, `heard ${JSON.stringify(result.heard)}`);
    assert.ok(result.sip.some((m: { firstLine: string }) => m.firstLine.startsWith('BYE ')));
    assert.equal(hook.named('newCall')[0]!.body.transport, 'tcp');
    const done = result.timeline.find((e: { name: string }) => e.name === 'sessionCompleted');
    assert.equal(done?.fields.reason, 'callingPartyDrop');
  });

  test('Ctrl-C during the call: the caller hangs up (BYE), exit 130, the IVR sees callingPartyDrop', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'file', fileName: 'long' }] } };
      return undefined;
    };
    const run = await sipms(['call', NUMBER, '--server', server, '--hangup-after', '30s'], {}, (child) => {
      void hook.waitFor('getIvrCommand').then(() => setTimeout(() => child.kill('SIGINT'), 1000));
    });
    assert.equal(run.code, 130, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /ended +by caller after \d+\.\d+ s: aborted/);
    const done = await hook.waitFor('sessionCompleted');
    assert.equal(done.body.reason, 'callingPartyDrop');
  });

  test("another tenant's API key: the call is answered but its journal is not found: exit 6", async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 300 }], hangup: true } };
      return undefined;
    };
    const other = await new ApiClient(stack.apiUrl).signup('Someone else');
    const run = await sipms(['call', NUMBER, '--server', server, '--journal-timeout', '2s'], {
      SIPMS_API_URL: stack.apiUrl,
      SIPMS_API_KEY: other.apiKey,
    });
    assert.equal(run.code, 6, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /outcome +200 OK/);
    assert.match(run.stdout, /journal +not read: no session with SIP Call-ID \S+ within 2 s/);
    const refused = await sipms(['call', NUMBER, '--server', server], {
      SIPMS_API_URL: stack.apiUrl,
      SIPMS_API_KEY: 'msk_not-a-key-of-anyone',
    });
    assert.equal(refused.code, 6);
    assert.match(refused.stdout, /journal +not read: GET \/v1\/sessions failed: 401/);
  });

  test('no SIP server there: no response within --ring-timeout, exit 4', async () => {
    const silent = await freeUdpPort();
    const run = await sipms(['call', NUMBER, '--server', `127.0.0.1:${silent}`, '--ring-timeout', '1s']);
    assert.equal(run.code, 4, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /outcome +408 \(no response from 127\.0\.0\.1:\d+ within 1 s/);
  });
});
