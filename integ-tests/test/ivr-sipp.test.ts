import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { RtpCapture, segments } from '../src/rtp-capture.js';
import { runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// The IVR engine at packet level: SIPp callers against the stack as `npm start` runs it, tcpdump counting
// the RTP that reaches the caller. RTP range: this 34000-34999; this file uses 34000-34199.
const RTP_MIN = 34000;
const RTP_MAX = 34199;
const NUMBER = 'ivr-sipp';

/** Fills the `{{name}}` placeholders of a scenario under scenarios/ivr (renderScenario keeps no sub-folders). */
async function renderIvrScenario(name: string, values: Record<string, string | number>): Promise<string> {
  let xml = await readFile(scenario(`ivr/${name}`), 'utf8');
  for (const [k, v] of Object.entries(values)) xml = xml.replaceAll(`{{${k}}}`, String(v));
  const out = join(await mkdtemp(join(tmpdir(), 'scenario-')), name);
  await writeFile(out, xml);
  return out;
}

/** The pid of the stack's rtpengine (RUN_DIR is `<data>/run` or `<data>/run/node-<n>`). */
async function rtpenginePid(dataDir: string): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  const entries = await readdir(join(dataDir, 'run'), { recursive: true });
  const file = entries.map(String).find((f) => f.endsWith('rtpengine.pid'));
  if (!file) throw new Error(`no rtpengine.pid under ${dataDir}/run`);
  return Number((await readFile(join(dataDir, 'run', file), 'utf8')).trim());
}

const pause = (ms: number) => `<pause milliseconds="${ms}"/>`;
const digit = (name: string) =>
  `<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_${name}.pcap"/></action></nop>`;
const stream = (wav: string) => `<nop><action><exec rtp_stream="${wav},1,0"/></action></nop>`;

describe('IVR engine with SIPp callers (real rtpengine, real calls)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let tenant: { domain: string };
  let files: Server;
  let filesUrl = '';
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ivr-sipp-'));
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('IVR SIPp GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
    for (const [name, ms] of [
      ['one-second', 1000],
      ['long', 6000],
      ['eight', 8000],
    ] as const) {
      const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/${name}`, toneWav(ms));
      assert.equal(up.status, 200, JSON.stringify(up.json));
    }
    // A web server for `url` phrases, with an ETag.
    const clip = toneWav(600, 660);
    files = createServer((req, res) => {
      if (req.url === '/clip.wav') {
        if (req.headers['if-none-match'] === '"c1"') return res.writeHead(304).end();
        return res.writeHead(200, { etag: '"c1"', 'content-type': 'audio/wav' }).end(clip);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });

  after(async () => {
    await hook?.close();
    files?.closeAllConnections();
    await new Promise((r) => (files ? files.close(r) : r(undefined)));
    const code = await stack?.stop();
    await rm(scratch, { recursive: true, force: true });
    assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  async function call(steps: string[], opts: { byeTimeoutMs?: number } = {}) {
    const mediaPort = await freeSippMediaPort();
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${mediaPort}`);
    await capture.ready();
    const xml = await renderIvrScenario('uac-steps.xml', {
      steps: steps.join('\n  '),
      byeTimeout: opts.byeTimeoutMs ?? 20_000,
    });
    const sipp = await runSipp([
      '-sf',
      xml,
      '-s',
      NUMBER,
      '-m',
      '1',
      '-mp',
      String(mediaPort),
      '-timeout',
      '45s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    await new Promise((r) => setTimeout(r, 300));
    await capture.stop();
    const sessionId = hook.named('newCall').at(-1)!.body.sessionId;
    const ofSession = (name: string) => hook.named(name).filter((c) => c.body.sessionId === sessionId);
    return { sipp, packets: capture.packets(), ofSession, logs: () => stack.logs.slice(-15).join('\n') };
  }

  test('every phrase format reaches the caller; a missing file is skipped with ivrFailed', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return {
          body: {
            phrases: [
              { format: 'file', fileName: 'one-second' },
              { format: 'silence', durationMs: 500 },
              { format: 'file', fileName: 'does-not-exist' },
              { format: 'url', url: `${filesUrl}/clip.wav` },
              { format: 'url', url: `${filesUrl}/gone.wav` },
              { format: 'tts', text: 'Hello from the test' },
              { format: 'awstts', awsTTSParameters: { Text: 'Goodbye', VoiceId: 'Amy', LanguageCode: 'en-GB' } },
            ],
            hangup: true,
          },
        };
      return undefined;
    };
    const { sipp, packets, ofSession, logs } = await call([]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    await hook.waitFor('sessionCompleted');
    const failed = ofSession('callNotify').filter((c) => c.body.event === 'ivrFailed');
    assert.equal(failed.length, 2, JSON.stringify(failed.map((f) => f.body.reason)));
    assert.match(String(failed[0]!.body.reason), /does-not-exist/);
    assert.match(String(failed[1]!.body.reason), /HTTP 404/);
    const audio = packets.filter((p) => p.rtp && p.rtp.payloadType === 0);
    const segs = segments(audio);
    console.log(`# phrases: ${audio.length} PCMU packets; segments ${JSON.stringify(segs.map((s) => s.packets))}`);
    // 1 s file (50) + 0.5 s silence (25) + 0.6 s url (30) + two short utterances (at least 0.3 s each).
    assert.ok(audio.length >= 50 + 25 + 30 + 30, `RTP packets at the caller: ${audio.length}`);
    assert.ok(audio.length <= 50 + 25 + 30 + 400, `no more than the phrases: ${audio.length}`);
  });

  test('barge-in: a key stops the prompt at once; the digit reaches dtmfParams', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return {
          body: { phrases: [{ format: 'file', fileName: 'long' }], bargeIn: 'all', dtmf: { maxDigits: 1 } },
        };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    // The key comes 2.5 s after the answer: the prompt has started even when the first command took a loaded
    // machine's second, and has 3.5 s left.
    const { sipp, packets, ofSession, logs } = await call([pause(2500), digit('4')]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    const commands = ofSession('getIvrCommand');
    assert.deepEqual(commands[1]?.body.dtmfParams, { digits: '4', terminationKey: '', reason: 'maxDigits' });
    const audio = packets.filter((p) => p.rtp && p.rtp.payloadType === 0);
    const played = audio.length ? audio.at(-1)!.t - audio[0]!.t : 0;
    console.log(`# barge-in: ${audio.length} packets, ${played.toFixed(2)} s of a 6 s prompt`);
    assert.ok(audio.length >= 50, `the prompt started: ${audio.length}`);
    assert.ok(audio.length < 200, `the prompt stopped long before its 300 packets: ${audio.length}`);
  });

  test('digits from the sample pcaps with a termination key; the first-digit timer ends an empty collection', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      const n = hook.named('getIvrCommand').filter((c) => c.body.sessionId === cb.body.sessionId).length;
      if (cb.name === 'getIvrCommand' && n === 1)
        return { body: { dtmf: { maxDigits: 5, terminationKey: '#', firstDigitTimeoutMs: 3000 } } };
      if (cb.name === 'getIvrCommand' && n === 2) return { body: { dtmf: { maxDigits: 2, firstDigitTimeoutMs: 500 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const { sipp, ofSession, logs } = await call([
      pause(600),
      digit('7'),
      pause(400),
      digit('star'),
      pause(400),
      digit('pound'),
    ]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    const commands = ofSession('getIvrCommand');
    assert.deepEqual(commands[1]?.body.dtmfParams, { digits: '7*', terminationKey: '#', reason: 'terminationKey' });
    assert.deepEqual(commands[2]?.body.dtmfParams, { digits: '', terminationKey: '', reason: 'timeout' });
  });

  test('record: a streamed 3 s WAV is stored as a prompt of about that length; recordingReady is sent', async () => {
    const raw = join(scratch, 'speech.wav');
    await writeFile(raw, toneWav(3000, 350, 0.6));
    const ulaw = join(scratch, 'speech-ulaw.wav');
    execFileSync('sox', [raw, '-e', 'u-law', '-b', '8', ulaw]);
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (
        cb.name === 'getIvrCommand' &&
        !cb.body.recording &&
        !hook
          .named('callNotify')
          .some((c) => c.body.sessionId === cb.body.sessionId && c.body.event === 'recordingReady')
      )
        return { body: { record: { fileName: 'voicemail-1', terminationKey: '#', maxDurationSec: 20, beep: true } } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'file', fileName: 'voicemail-1' }], hangup: true } };
      return undefined;
    };
    // Beep (0.4 s), then 3 s of "speech", then # ends the recording.
    const { sipp, ofSession, logs, packets } = await call([pause(800), stream(ulaw), pause(3300), digit('pound')]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    const ready = ofSession('callNotify').find((c) => c.body.event === 'recordingReady');
    assert.ok(ready, `recordingReady sent; notifies: ${JSON.stringify(ofSession('callNotify').map((c) => c.body))}`);
    assert.equal(ready.body.reason, 'terminationKey');
    const stored = await api.call('GET', `/mediaservice/${tenant.domain}/promptfile/voicemail-1`);
    assert.equal(stored.status, 200);
    const wav = Buffer.from(
      await (
        await fetch(`${stack.apiUrl}/mediaservice/${tenant.domain}/promptfile/voicemail-1`, {
          headers: { authorization: `Bearer ${api.apiKey}` },
        })
      ).arrayBuffer(),
    );
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    const ms = ((wav.length - 44) / 16000) * 1000;
    console.log(`# recording: stored ${ms.toFixed(0)} ms for 3000 ms streamed`);
    assert.ok(ms > 2600 && ms < 3600, `stored recording ${ms} ms`);
    // The recording was then played back to the caller: the beep (20 packets), then what was stored (one
    // packet per 20 ms; a tenth of it spared for the capture's end), whatever the callbacks' latency made it.
    const audio = packets.filter((p) => p.rtp && p.rtp.payloadType === 0);
    const expected = 20 + Math.floor((0.9 * ms) / 20);
    assert.ok(audio.length >= expected, `beep and playback reached the caller: ${audio.length} of ${expected} packets`);
  });

  test('the next getIvrCommand carries recording {fileName, durationMs}', () => {
    const withRecording = hook.named('getIvrCommand').find((c) => c.body.recording);
    assert.ok(withRecording, 'a getIvrCommand with recording');
    assert.equal((withRecording.body.recording as { fileName: string }).fileName, 'voicemail-1');
  });

  test('rtpengine dies mid-call: the caller gets a BYE, the tenant callNotify mediaFailed and callEvent ivrFailed; the next call works', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'file', fileName: 'eight' }], hangup: true } };
      return undefined;
    };
    const pid = await rtpenginePid(stack.dataDir);
    const answered = hook.named('callAnswered').length;
    const killer = (async () => {
      await hook.waitFor('callAnswered', () => hook.named('callAnswered').length > answered);
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(pid, 'SIGKILL');
    })();
    const t0 = Date.now();
    const { sipp, ofSession, logs } = await call([], { byeTimeoutMs: 20_000 });
    await killer;
    assert.equal(sipp.code, 0, `SIPp did not get its BYE:\n${sipp.errors}\n${logs()}`);
    assert.ok(Date.now() - t0 < 7000, 'the BYE came before the 8 s prompt would have ended');
    await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === hook.named('newCall').at(-1)!.body.sessionId);
    assert.ok(ofSession('callNotify').some((c) => c.body.event === 'mediaFailed'));
    const event = ofSession('callEvent').find((c) => c.body.event === 'ivrFailed');
    assert.ok(event, 'callEvent ivrFailed');
    assert.match(String(event.body.reason), /rtpengine exited/);

    // The supervisor restarted rtpengine: a new call is answered and hears its prompt.
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'file', fileName: 'one-second' }], hangup: true } };
      return undefined;
    };
    await new Promise((r) => setTimeout(r, 1000));
    const next = await call([]);
    assert.equal(next.sipp.code, 0, `call after the restart failed:\n${next.sipp.errors}\n${next.logs()}`);
    // Generous: the first call on a fresh rtpengine has been seen to lose its first few packets.
    console.log(`# first call after the restart: ${next.packets.length} of 50 packets`);
    assert.ok(next.packets.length >= 25, `prompt after restart: ${next.packets.length} packets`);
  });
});
