import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { launchChromium, webRtcArgs } from '../src/chromium.js';
import { contrast, tabStops, unlabelledControls } from '../src/console-page.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeTcpPort } from '../src/ports.js';
import { toneDbfs, wavSamples } from '../src/tones.js';
import { WebhookServer } from '../src/webhook-server.js';

// The console's browser softphone, end to end. What is real: the local deployment as `npm start` runs it (API
// serving /console, the media node's SIP WebSocket transport, rtpengine converting WebRTC to RTP, dynalite, the
// dispatcher), the tenant's webhook (a real HTTP server answering as an IVR), Debian's Chromium (headless) running
// the console's bundle with JsSIP, WebRTC (ICE, DTLS-SRTP) and WebAudio. What is not: the microphone is Chromium's
// fake capture device playing a 600 Hz WAV this test writes, and nobody listens to the speaker (the level is read
// from the page's AnalyserNode). The negative cases speak to the WebSocket transport from Node (`ws`), no browser.
// rtpengine ports: 31400-31599.
const RTP_MIN = 31400;
const RTP_MAX = 31599;
const NUMBER = 'softphone-ivr';
const OTHER_NUMBER = 'other-tenant-ivr';
const PROMPT = 'tone1k';
const PROMPT_MS = 3000;
/** The webhook holds the first getIvrCommand this long: the call is up and the prompt has not started. */
const SILENCE_WINDOW_MS = 2500;

const shotDir = process.env.CONSOLE_SCREENSHOTS ?? '/tmp/console-screenshots';
const shots: string[] = [];
async function shot(page: Page, name: string): Promise<void> {
  const path = join(shotDir, `10-softphone-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

// Code that runs in the page is written as strings (the project's tsconfig has no DOM types; see src/console-page.ts).
const LEVEL_IN_PAGE = "Number(document.querySelector('[data-level-dbfs]').dataset.levelDbfs)";
const STATE_IN_PAGE = "document.querySelector('.call-state').dataset.state";

/** A WebRTC-shaped SDP offer (ICE, DTLS fingerprint, rtcp-mux), as a browser sends; nothing answers on it. */
function webrtcOffer(): string {
  const fp = [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  return [
    'v=0',
    `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 101',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host',
    `a=ice-ufrag:${randomBytes(4).toString('hex')}`,
    `a=ice-pwd:${randomBytes(12).toString('hex')}`,
    `a=fingerprint:sha-256 ${fp}`,
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    '',
  ].join('\r\n');
}

/** Opens the SIP WebSocket (subprotocol sip); resolves with the socket, or with the refused upgrade's status. */
function openSipSocket(url: string): Promise<{ ws?: WebSocket; refusedStatus?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'sip');
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refusedStatus: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Sends an INVITE from the credential's SIP URI over the socket; the final response's status. */
async function inviteStatus(ws: WebSocket, sipUri: string, target: string): Promise<number> {
  const callId = randomBytes(8).toString('hex');
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const sdp = webrtcOffer();
  const invite = [
    `INVITE ${target} SIP/2.0`,
    `Via: SIP/2.0/WS ${callId}.invalid;branch=${branch}`,
    'Max-Forwards: 70',
    `From: <${sipUri}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${target}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:softphone@${callId}.invalid;transport=ws>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no final response to the INVITE to ${target}`)), 10_000);
    ws.on('message', (data) => {
      const m = /^SIP\/2\.0 (\d{3})/.exec(data.toString());
      if (!m || Number(m[1]) < 200) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
    ws.send(invite);
  });
}

describe('browser softphone in Chromium against the local deployment', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let apiKey = '';
  const consoleMessages: string[] = [];
  /** The tokens the page received (read off the network, to prove they never reach the DOM or the console). */
  const tokens: string[] = [];

  before(async () => {
    await mkdir(shotDir, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'sipms-softphone-'));
    const mic = join(dir, 'mic-600hz.wav');
    await writeFile(mic, toneWav(10_000, 600, 0.3));
    // A free port for the SIP WebSocket (the default 5066 may be a developer's `npm start`).
    const wsPort = await freeTcpPort();
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX, env: { SIP_WS_PORT: String(wsPort) } });
    hook = new WebhookServer();
    await hook.start();
    browser = await launchChromium(webRtcArgs(mic));
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleMessages.push(`pageerror: ${e.message}`));
    page.on('response', async (res) => {
      if (!res.url().endsWith('/v1/softphone/credentials') || res.status() !== 201) return;
      const token = (await res.json().catch(() => undefined))?.credential?.token;
      if (typeof token === 'string') tokens.push(token);
    });
  });

  after(async () => {
    await browser?.close();
    await hook?.close();
    const code = await stack?.stop();
    await rm(dir, { recursive: true, force: true });
    if (shots.length) console.log(`# softphone screenshots:\n${shots.map((s) => `#   ${s}`).join('\n')}`);
    assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  const go = async (hash: string, heading: string | RegExp) => {
    const url = `${stack.apiUrl}/console/${hash}`;
    // The same URL again is no navigation at all: reloaded, so the page shows what the API has now.
    if (page.url() === url) await page.reload();
    else await page.goto(url);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };
  const statusText = () => page.locator('[role=status]').first();
  const domainOf = async () =>
    (await new ApiClient(stack.apiUrl, apiKey).call('GET', '/v1/tenant')).json.domain as string;
  const callState = () => page.locator('.call-state');
  const level = () => page.evaluate<number>(LEVEL_IN_PAGE);
  /** Samples the page's remote level every 100 ms for `ms`. */
  const sampleLevel = async (ms: number): Promise<number[]> => {
    const out: number[] = [];
    for (const end = Date.now() + ms; Date.now() < end; ) {
      out.push(await level());
      await page.waitForTimeout(100);
    }
    return out;
  };

  test('through the UI: sign up, set the webhook, claim a number, upload a 1 kHz prompt', async () => {
    await go('', 'SIP Mediaserver console');
    await page.getByLabel('Tenant name', { exact: true }).fill('Softphone Tester GmbH');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByText('Shown only this once').waitFor();
    apiKey = (await page.locator('code[data-secret=apiKey]').textContent()) ?? '';
    assert.match(apiKey, /^msk_/);
    await page.getByRole('button', { name: 'I have saved them: continue' }).click();
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    await page.getByLabel('Callback URL', { exact: true }).fill(hook.url);
    await page.getByLabel('Callback timeout (ms)', { exact: true }).fill('6000');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await statusText().filter({ hasText: 'Settings saved.' }).waitFor();

    await go('#/numbers', 'Numbers');
    await page.getByLabel('Number', { exact: true }).fill(NUMBER);
    await page.getByRole('button', { name: 'Claim number' }).click();
    await page.getByRole('cell', { name: NUMBER, exact: true }).waitFor();

    await go('#/prompts', 'Prompts');
    await page
      .getByLabel('WAV or MP3 file', { exact: true })
      .setInputFiles({ name: `${PROMPT}.wav`, mimeType: 'audio/wav', buffer: toneWav(PROMPT_MS, 1000) });
    await page.getByLabel('Prompt name', { exact: true }).fill(PROMPT);
    await page.getByRole('button', { name: 'Upload prompt' }).click();
    await statusText()
      .filter({ hasText: `${PROMPT} uploaded.` })
      .waitFor();
  });

  test('the softphone page: in the navigation, every control labelled and reachable by Tab, keypad off when idle', async () => {
    await go('#/numbers', 'Numbers');
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Softphone' }).click();
    await page.getByRole('heading', { level: 1, name: 'Softphone' }).waitFor();
    assert.deepEqual(await unlabelledControls(page), []);
    assert.deepEqual(
      await page.getByLabel('Number to call', { exact: true }).locator('option').allTextContents(),
      [NUMBER],
      "the tenant's numbers are offered",
    );
    assert.equal(await page.getByLabel('Audio file', { exact: true }).isDisabled(), true, 'file input off for the mic');
    await page.getByLabel('An audio file, looped', { exact: true }).check();
    assert.equal(await page.getByLabel('Audio file', { exact: true }).isDisabled(), false);
    await page.getByLabel('Microphone', { exact: true }).check();
    const keys = page.getByRole('group', { name: 'Keypad' }).getByRole('button');
    assert.equal(await keys.count(), 12);
    for (const b of await keys.all()) assert.equal(await b.isDisabled(), true, 'keypad off without a call');
    assert.equal(await page.getByRole('button', { name: 'Hang up' }).isDisabled(), true);
    assert.equal(await callState().getAttribute('data-state'), 'idle');
    assert.equal(await callState().getAttribute('aria-live'), 'polite');

    const seen = await tabStops(page, 60);
    const names = seen.map((s) => s.name);
    for (const c of ['a:Softphone', 'select:Number to call', 'input:Microphone', 'button:Call']) {
      assert.ok(names.includes(c), `Tab does not reach ${c}; it reaches ${names.join(', ')}`);
    }
    for (const s of seen) assert.doesNotMatch(s.outline, /^none|0px$/, `${s.name} has no visible focus`);
    await shot(page, 'idle');
  });

  let sessionId = '';
  test('a call from the softphone: silence, then the prompt heard in the browser; keys 1 2 3 reach the IVR; hang up', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.dtmfParams) {
        return {
          delayMs: SILENCE_WINDOW_MS,
          body: {
            phrases: [{ format: 'file', fileName: PROMPT }],
            dtmf: { maxDigits: 3, firstDigitTimeoutMs: 20_000, interDigitTimeoutMs: 5000 },
          },
        };
      }
      // Keeps the call up (the prompt again, three times) until the browser hangs up.
      return { body: { phrases: [1, 2, 3].map(() => ({ format: 'file', fileName: PROMPT })) } };
    };
    hook.received.length = 0;

    await go('#/softphone', 'Softphone');
    assert.equal(await level(), -100, 'no call: the floor');
    await page.getByRole('button', { name: 'Call' }).click();
    // Before the answer: no remote audio.
    const early: number[] = [];
    for (let i = 0; i < 300; i++) {
      const state = await page.evaluate<string>(STATE_IN_PAGE);
      if (state === 'in-call' || state === 'failed' || state === 'ended') break;
      early.push(await level());
      await page.waitForTimeout(50);
    }
    const state = await page.evaluate<string>(STATE_IN_PAGE);
    assert.equal(
      state,
      'in-call',
      `the call is up; the page says: ${await callState().textContent()} / ${await page.locator('[role=alert]').first().textContent()}`,
    );
    assert.ok(early.length > 0 && Math.max(...early) <= -90, `before the answer the level is silence: ${early}`);
    const newCall = (await hook.waitFor('newCall')).body as {
      to: { user: string };
      from: { user: string };
      transport: string;
    };
    assert.equal(newCall.to.user, NUMBER);
    assert.match(newCall.from.user, /^softphone-sc_/, 'the caller is the credential’s SIP URI');
    assert.equal(newCall.transport, 'ws', 'SIP over WebSocket');

    // Answered, the webhook still holding the first getIvrCommand: the remote stream is there, silent.
    await hook.waitFor('getIvrCommand');
    const quiet = await sampleLevel(1200);
    // The prompt: the webhook answers at SILENCE_WINDOW_MS; the level rises once the node plays it.
    let loudAt = 0;
    for (const end = Date.now() + SILENCE_WINDOW_MS + 5000; Date.now() < end; ) {
      if ((await level()) > -40) {
        loudAt = Date.now();
        break;
      }
      await page.waitForTimeout(50);
    }
    assert.ok(loudAt, `the prompt is never heard in the browser (quiet window ${quiet})`);
    const loud = await sampleLevel(1500);
    await shot(page, 'in-call');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const loudLevel = median(loud);
    const quietLevel = Math.max(...quiet);
    console.log(`# remote level: before the prompt ≤ ${quietLevel} dBFS, during it (median) ${loudLevel} dBFS`);
    assert.ok(loudLevel > -40, `the 1 kHz prompt is heard: median ${loudLevel} dBFS (${loud})`);
    assert.ok(quietLevel < loudLevel - 20, `silence before the prompt (${quietLevel}) is well below it (${loudLevel})`);
    assert.match((await page.locator('[data-level-dbfs]').textContent()) ?? '', /dBFS/);
    // In a call the keypad, the state line and hang-up are live controls: their text reads at 4.5:1 or better.
    for (const sel of ['.keypad button', '.call-state', 'button.danger', '.level-text']) {
      const ratio = await contrast(page, sel);
      assert.ok(ratio >= 4.5, `${sel}: contrast ${ratio.toFixed(2)}`);
    }

    // After the prompt (digits are collected once it has played): 1 and 3 clicked, 2 typed.
    await page.waitForTimeout(Math.max(0, loudAt + PROMPT_MS + 300 - Date.now()));
    const before = hook.named('getIvrCommand').length;
    await page.getByRole('button', { name: 'Key 1' }).click();
    await page.waitForTimeout(300);
    await page.keyboard.press('2');
    await page.waitForTimeout(300);
    await page.getByRole('button', { name: 'Key 3' }).click();
    assert.equal(await page.locator('output.sent').textContent(), '123');
    const next = await hook.waitFor('getIvrCommand', (cb) => cb.body.dtmfParams !== undefined);
    assert.equal(hook.named('getIvrCommand').indexOf(next), before, 'the next getIvrCommand carries them');
    assert.equal((next.body.dtmfParams as { digits?: string } | undefined)?.digits, '123', JSON.stringify(next.body));
    assert.equal((next.body.dtmfParams as { reason?: string }).reason, 'maxDigits');
    await shot(page, 'keypad');

    await page.getByRole('button', { name: 'Hang up' }).click();
    await callState().filter({ hasText: 'Call ended: you hung up.' }).waitFor();
    assert.equal(await page.evaluate<string>(STATE_IN_PAGE), 'ended');
    const completed = await hook.waitFor('sessionCompleted');
    sessionId = String(completed.body.sessionId ?? '');
    assert.ok(sessionId, JSON.stringify(completed.body));
    assert.equal(await page.getByRole('button', { name: 'Key 1' }).isDisabled(), true, 'keypad off after the call');
  });

  test('the secret token stays out of the page, its storage and the console', async () => {
    assert.ok(tokens.length >= 1, 'the page fetched a credential');
    const html = await page.evaluate<string>('document.documentElement.outerHTML');
    const storage = await page.evaluate<string>('JSON.stringify({ ...sessionStorage, ...localStorage })');
    for (const token of tokens) {
      const secret = token.split('.')[1]!;
      assert.ok(secret.length >= 40);
      assert.ok(!html.includes(secret), 'token in the DOM');
      assert.ok(!storage.includes(secret), 'token in web storage');
      assert.ok(
        !consoleMessages.some((m) => m.includes(secret)),
        `token in the console: ${consoleMessages.join('\n')}`,
      );
    }
  });

  test('the call and its ladder on the calls page: INVITE from the softphone, newCall, the digits 123, BYE', async () => {
    await go('#/calls', 'Calls');
    await page.getByLabel('Number', { exact: true }).fill(NUMBER);
    await page.getByRole('button', { name: 'Search calls' }).click();
    await statusText().filter({ hasText: 'Page 1: 1 call(s).' }).waitFor();
    await page.getByRole('link', { name: sessionId }).click();
    await page.getByRole('heading', { level: 1, name: `Call ${sessionId}` }).waitFor();
    const labels = await page.locator('.ladder .arrow-label').allTextContents();
    const has = (re: RegExp) => labels.some((l) => re.test(l));
    assert.ok(has(/^INVITE$/), `INVITE in ${labels.join(' | ')}`);
    assert.ok(has(/^POST \/newCall /), 'newCall');
    assert.ok(has(/^POST \/getIvrCommand digits=123\b/), 'getIvrCommand with the digits');
    assert.ok(has(/^DTMF 123$/), 'the keys on the caller lane');
    assert.ok(has(/^BYE$/), 'the browser’s BYE');
    assert.ok(has(/^POST \/sessionCompleted/), 'sessionCompleted');
    await shot(page, 'call-ladder');
  });

  /** The IVR records 3 s of the call into `fileName`, then answers `after`. */
  function recordThen(fileName: string, after: Record<string, unknown>): void {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.recording) return { body: { record: { fileName, maxDurationSec: 3, beep: false } } };
      return { body: after };
    };
  }

  /** A recording, downloaded through the API, and its last 2 s (past any start-up of the media path). */
  async function recordedTail(fileName: string) {
    const res = await fetch(
      `${stack.apiUrl}/mediaservice/${encodeURIComponent(await domainOf())}/promptfile/${fileName}`,
      { headers: { authorization: `Bearer ${apiKey}` } },
    );
    assert.equal(res.status, 200);
    const { rate, samples } = wavSamples(Buffer.from(await res.arrayBuffer()));
    return { rate, samples, tail: samples.subarray(Math.max(0, samples.length - 2 * rate)) };
  }

  test('the audio-file source: a looped 440 Hz file, not the (600 Hz) microphone, is what the IVR records', async () => {
    const RECORDING = 'softphone-heard';
    recordThen(RECORDING, { phrases: [{ format: 'file', fileName: PROMPT }], hangup: true });
    hook.received.length = 0;
    await go('#/softphone', 'Softphone');
    await page.getByLabel('An audio file, looped', { exact: true }).check();
    // 1.2 s long: the 3 s recording only has it throughout because the page loops it.
    await page
      .getByLabel('Audio file', { exact: true })
      .setInputFiles({ name: 'a440.wav', mimeType: 'audio/wav', buffer: toneWav(1200, 440, 0.5) });
    await page.getByRole('button', { name: 'Call' }).click();
    await callState().filter({ hasText: 'sending the a440.wav' }).waitFor();
    const withRecording = await hook.waitFor('getIvrCommand', (cb) => cb.body.recording !== undefined, 20_000);
    assert.equal((withRecording.body.recording as { fileName: string }).fileName, RECORDING);
    await callState().filter({ hasText: 'Call ended: the voice app hung up.' }).waitFor({ timeout: 15_000 });

    const { rate, samples, tail } = await recordedTail(RECORDING);
    const at440 = toneDbfs(tail, 440, rate);
    const at600 = toneDbfs(tail, 600, rate);
    console.log(`# recorded from the file source: 440 Hz ${at440.toFixed(1)} dBFS, 600 Hz ${at600.toFixed(1)} dBFS`);
    assert.ok(tail.length >= rate, `recording of ${samples.length / rate} s`);
    assert.ok(at440 > -30, `the file's 440 Hz reached the IVR: ${at440} dBFS`);
    assert.ok(at600 < at440 - 20, `the microphone (600 Hz, ${at600} dBFS) was not sent`);
  });

  test("the microphone can be picked: once access was granted the list names the browser's inputs, and the pick is sent", async () => {
    const RECORDING = 'softphone-picked-mic';
    recordThen(RECORDING, { hangup: true });
    await go('#/softphone', 'Softphone');
    const picker = page.getByLabel('Which microphone', { exact: true });
    // The earlier calls granted access, so the inputs are listed by name (Chromium's fake devices here), once the
    // page has asked the browser for them.
    await picker.locator('option').nth(1).waitFor({ state: 'attached', timeout: 5000 });
    const options = await picker
      .locator('option')
      .evaluateAll((os) => os.map((o) => ({ value: o.getAttribute('value') ?? '', text: o.textContent ?? '' })));
    const named = options.filter((o) => o.value !== '');
    assert.ok(named.length >= 1, `inputs listed: ${JSON.stringify(options)}`);
    assert.ok(
      named.every((o) => !/^Microphone \d+$/.test(o.text)),
      `named, not numbered: ${JSON.stringify(named)}`,
    );
    await picker.selectOption(named[0]!.value);
    await page.getByRole('button', { name: 'Call' }).click();
    await callState().filter({ hasText: 'sending the microphone' }).waitFor();
    await callState().filter({ hasText: 'Call ended: the voice app hung up.' }).waitFor({ timeout: 20_000 });
    const { rate, tail } = await recordedTail(RECORDING);
    const at600 = toneDbfs(tail, 600, rate);
    console.log(`# recorded from the picked microphone (${named[0]!.text}): 600 Hz ${at600.toFixed(1)} dBFS`);
    // The browser's own processing (noise suppression) lowers a steady tone; not sending it leaves about -60 dBFS.
    assert.ok(at600 > -45, `the fake microphone's 600 Hz reached the IVR: ${at600} dBFS`);
  });

  test('a SIP refusal is shown in the page: a number released after the page loaded answers 404', async () => {
    const api = new ApiClient(stack.apiUrl, apiKey);
    const gone = 'released-meanwhile';
    assert.equal((await api.call('PUT', `/v1/numbers/${gone}`)).status, 201);
    await go('#/softphone', 'Softphone');
    await page.getByLabel('Number to call', { exact: true }).selectOption(gone);
    assert.equal((await api.call('DELETE', `/v1/numbers/${gone}`)).status, 200);
    await page.getByRole('button', { name: 'Call' }).click();
    await page
      .locator('[role=alert]')
      .first()
      .filter({ hasText: /Not found \(404\): no tenant has claimed this number/ })
      .waitFor();
    assert.equal(await page.evaluate<string>(STATE_IN_PAGE), 'failed');
    assert.equal(await page.getByRole('button', { name: 'Call' }).isDisabled(), false, 'ready for another call');
    await shot(page, 'refused');
  });

  test('the WebSocket transport refuses a missing, malformed or wrong token with HTTP 401', async () => {
    const api = new ApiClient(stack.apiUrl, apiKey);
    const res = await api.call('POST', '/v1/softphone/credentials', {});
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const { wsUrl, token } = res.json.credential as { wsUrl: string; token: string };
    const base = wsUrl.replace(/\/+$/, '');
    const [id, secret] = token.split('.') as [string, string];
    const wrong = `${id}.${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    for (const [what, url] of [
      ['no token', `${base}/`],
      ['malformed token', `${base}/?token=nope`],
      ['wrong secret', `${base}/?token=${encodeURIComponent(wrong)}`],
    ] as const) {
      const r = await openSipSocket(url);
      r.ws?.close();
      assert.equal(r.refusedStatus, 401, `${what}: upgrade answered ${r.refusedStatus ?? 'with a WebSocket'}`);
    }
    // The right token opens it (the refusals above are about the token, not the transport).
    const ok = await openSipSocket(`${base}/?token=${encodeURIComponent(token)}`);
    assert.ok(ok.ws, `the valid token is refused with ${ok.refusedStatus}`);
    ok.ws.close();
  });

  test("a valid credential dialing another tenant's number gets 403, an unclaimed one 404; no callback", async () => {
    const other = new ApiClient(stack.apiUrl);
    await other.signup('Another Tenant', hook.url);
    assert.equal((await other.call('PUT', `/v1/numbers/${OTHER_NUMBER}`)).status, 201);
    const api = new ApiClient(stack.apiUrl, apiKey);
    const res = await api.call('POST', '/v1/softphone/credentials', { ttlSec: 60 });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const { wsUrl, token, sipUri } = res.json.credential as { wsUrl: string; token: string; sipUri: string };
    const host = new URL(wsUrl).hostname;
    hook.received.length = 0;
    const { ws } = await openSipSocket(`${wsUrl.replace(/\/+$/, '')}/?token=${encodeURIComponent(token)}`);
    assert.ok(ws);
    try {
      assert.equal(await inviteStatus(ws, sipUri, `sip:${OTHER_NUMBER}@${host}`), 403);
      assert.equal(await inviteStatus(ws, sipUri, `sip:no-such-number-${Date.now()}@${host}`), 404);
    } finally {
      ws.close();
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      hook.received.map((r) => r.name),
      [],
      "no tenant's webhook hears of a refused call",
    );
  });
});
