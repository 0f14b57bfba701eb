import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CallResult, placeCall } from '@sipms/cli';
import type { Browser, Page } from 'playwright-core';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { launchChromium } from '../src/chromium.js';
import { contrast, tabStops, unlabelledControls } from '../src/console-page.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { WebhookServer } from '../src/webhook-server.js';

// The tenant console (console/) in Debian's Chromium, headless, against the real local deployment (npm start's
// stack serving /console, built-in SIP, rtpengine, dynalite, the dispatcher) and a real webhook as the tenant's
// IVR; calls are real SIP calls placed by the CLI's library. Nothing is faked. rtpengine: 33900-33999.
const RTP_MIN = 33900;
const RTP_MAX = 33999;
const NUMBER = 'console-ivr';

let shotDir: string;
const shots: string[] = [];
async function shot(page: Page, name: string): Promise<void> {
  const path = join(shotDir, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

describe('tenant console in Chromium against the local deployment', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let browser: Browser;
  let page: Page;
  let apiKey = '';
  let domain = '';
  let server = '';
  const consoleErrors: string[] = [];

  before(async () => {
    shotDir = process.env.CONSOLE_SCREENSHOTS ?? (await mkdtemp(join(tmpdir(), 'sipms-console-shots-')));
    await mkdir(shotDir, { recursive: true });
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    server = `${stack.sipHost}:${stack.sipPort}`;
    hook = new WebhookServer();
    await hook.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // CSP violations and script errors show up here: the page must run with none.
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    await hook?.close();
    const code = await stack?.stop();
    if (shots.length) console.log(`# console screenshots:\n${shots.map((s) => `#   ${s}`).join('\n')}`);
    assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  const go = async (hash: string, heading: string | RegExp) => {
    await page.goto(`${stack.apiUrl}/console/${hash}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };
  const statusText = () => page.locator('[role=status]').first();
  const alertText = () => page.locator('[role=alert]').first();

  test('the console is served at /console with a CSP and no inline script; /console redirects to /console/', async () => {
    const bare = await fetch(`${stack.apiUrl}/console`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), '/console/');
    const res = await fetch(`${stack.apiUrl}/console/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.deepEqual(await (await fetch(`${stack.apiUrl}/console/config.json`)).json(), { apiUrl: '' });
    assert.equal((await fetch(`${stack.apiUrl}/console/../package.json`)).status, 404);
    assert.equal((await fetch(`${stack.apiUrl}/console/secret.txt`)).status, 404);
    assert.equal((await fetch(`${stack.apiUrl}/console/app.js`, { method: 'POST' })).status, 405);
  });

  test('sign up through the UI: the key and signing secret are shown once; the key stays out of the URL', async () => {
    await go('', 'SIP Mediaserver console');
    assert.deepEqual(await unlabelledControls(page), []);
    await shot(page, 'sign-in');
    await page.getByLabel('Tenant name', { exact: true }).fill('Console Tester GmbH');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByText('Shown only this once').waitFor();
    apiKey = (await page.locator('code[data-secret=apiKey]').textContent()) ?? '';
    const secret = (await page.locator('code[data-secret=signingSecret]').textContent()) ?? '';
    assert.match(apiKey, /^msk_/);
    assert.ok(secret.length >= 16, 'signing secret shown');
    await shot(page, 'sign-up-secrets');
    await page.getByRole('button', { name: 'I have saved them: continue' }).click();
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    domain = (await page.locator('nav .who').textContent()) ?? '';
    assert.match(domain, /\./);
    assert.doesNotMatch(page.url(), /msk_/);
    const stored = await page.evaluate<string>("sessionStorage.getItem('sipms.console.credentials')");
    assert.equal(JSON.parse(stored).apiKey, apiKey);
    assert.equal(await page.evaluate('localStorage.length'), 0);
  });

  test('sign in with an API key; a wrong key shows the API error and is not kept', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'SIP Mediaserver console' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'signing out forgets the key');
    const stops = (await tabStops(page)).map((s) => s.name);
    for (const c of [
      'a:Skip to content',
      'input:Tenant name',
      'button:Create tenant',
      'input:API key',
      'button:Sign in',
    ]) {
      assert.ok(stops.includes(c), `sign-in page: Tab does not reach ${c}; it reaches ${stops.join(', ')}`);
    }
    await page.getByLabel('API key', { exact: true }).fill('msk_nope_nope');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await assert.doesNotReject(alertText().filter({ hasText: 'Error unauthorized' }).waitFor());
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    await page.getByLabel('API key', { exact: true }).fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
  });

  test('settings: callback URL, timeouts and duration saved through PATCH /v1/tenant; a bad value shows the API error', async () => {
    await go('#/settings', 'Settings');
    assert.deepEqual(await unlabelledControls(page), []);
    await page.getByLabel('Callback URL', { exact: true }).fill(hook.url);
    await page.getByLabel('Callback timeout (ms)', { exact: true }).fill('4000');
    await page.getByLabel('Callback retries', { exact: true }).fill('1');
    await page.getByLabel('Maximum call duration (s)', { exact: true }).fill('600');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await statusText().filter({ hasText: 'Settings saved.' }).waitFor();
    const api = new ApiClient(stack.apiUrl);
    api.apiKey = apiKey;
    const tenant = (await api.call('GET', '/v1/tenant')).json;
    assert.equal(tenant.callbackUrl, hook.url);
    assert.equal(tenant.callbackTimeoutMs, 4000);
    assert.equal(tenant.callbackRetries, 1);
    assert.equal(tenant.maxCallDurationSec, 600);
    // The browser's own validation is bypassed so the API's answer is what is shown.
    await page.evaluate("document.querySelector('form').setAttribute('novalidate', '')");
    await page.getByLabel('Callback timeout (ms)', { exact: true }).fill('50');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await alertText()
      .filter({ hasText: /Error validation_failed: .*callbackTimeoutMs/ })
      .waitFor();
    await page.getByLabel('Callback timeout (ms)', { exact: true }).fill('4000');
    // Rotation and keys.
    await page.getByRole('button', { name: 'Rotate signing secret' }).click();
    await statusText().filter({ hasText: 'New signing secret created.' }).waitFor();
    await page.getByLabel('New key name', { exact: true }).fill('ci');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await statusText().filter({ hasText: 'Key ci created.' }).waitFor();
    const keys = (await api.call('GET', '/v1/api-keys')).json.apiKeys as { name: string; prefix: string }[];
    assert.equal(keys.length, 2);
    const ci = keys.find((k) => k.name === 'ci')!;
    await page.getByRole('button', { name: `Revoke key ci (${ci.prefix})` }).click();
    await statusText().filter({ hasText: 'Key ci revoked.' }).waitFor();
    assert.equal((await api.call('GET', '/v1/api-keys')).json.apiKeys.length, 1);
    await shot(page, 'settings');
  });

  test('numbers: claim, see listed, an invalid one shows the API error, release', async () => {
    await go('#/numbers', 'Numbers');
    assert.deepEqual(await unlabelledControls(page), []);
    for (const n of [NUMBER, '+4930999']) {
      await page.getByLabel('Number', { exact: true }).fill(n);
      await page.getByRole('button', { name: 'Claim number' }).click();
      await page.getByRole('cell', { name: n, exact: true }).waitFor();
    }
    await page.getByLabel('Number', { exact: true }).fill('no spaces allowed');
    await page.getByRole('button', { name: 'Claim number' }).click();
    await alertText()
      .filter({ hasText: /^Error validation_failed/ })
      .waitFor();
    await page.getByRole('button', { name: 'Release +4930999' }).click();
    await statusText().filter({ hasText: '+4930999 released.' }).waitFor();
    await page.getByRole('cell', { name: '+4930999', exact: true }).waitFor({ state: 'detached' });
    await shot(page, 'numbers');
  });

  test('prompts: upload a WAV, see it listed, play it in an <audio> element from its download URL, delete', async () => {
    await go('#/prompts', 'Prompts');
    assert.deepEqual(await unlabelledControls(page), []);
    for (const [name, ms] of [
      ['hello', 2000],
      ['long', 8000],
      ['scrap', 500],
    ] as const) {
      await page
        .getByLabel('WAV or MP3 file', { exact: true })
        .setInputFiles({ name: `${name}.wav`, mimeType: 'audio/wav', buffer: toneWav(ms, 600) });
      await page.getByLabel('Prompt name', { exact: true }).fill(name);
      await page.getByRole('button', { name: 'Upload prompt' }).click();
      await statusText()
        .filter({ hasText: `${name} uploaded.` })
        .waitFor();
      await page.getByRole('cell', { name, exact: true }).waitFor();
    }
    await page.getByRole('button', { name: 'Play hello' }).click();
    // Polled from outside: waitForFunction would eval in the page, which the console's CSP rightly refuses.
    for (let i = 0; i < 50; i++) {
      if (
        await page.evaluate(
          "(() => { const a = document.querySelector('audio'); return a.readyState >= 1 && Number.isFinite(a.duration); })()",
        )
      )
        break;
      await page.waitForTimeout(100);
    }
    const played = await page.evaluate<{ src: string; duration: number; error?: number }>(
      "(() => { const a = document.querySelector('audio'); return { src: a.src, duration: a.duration, error: a.error?.code }; })()",
    );
    assert.match(played.src, /\/_objects\//, 'played from the download URL, not with the API key');
    assert.ok(Math.abs(played.duration - 2) < 0.1, `the browser decoded ${played.duration} s of the 2 s prompt`);
    assert.equal(played.error, undefined);
    await page.getByRole('button', { name: 'Delete scrap' }).click();
    await statusText().filter({ hasText: 'scrap deleted.' }).waitFor();
    await page.getByRole('cell', { name: 'scrap', exact: true }).waitFor({ state: 'detached' });
    await shot(page, 'prompts');
  });

  let ivrCall: CallResult;
  test('a real call to an IVR: the calls list shows it; its ladder shows newCall, getIvrCommand with the digits, sessionCompleted', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.dtmfParams) {
        return {
          body: {
            phrases: [{ format: 'file', fileName: 'hello' }],
            dtmf: { maxDigits: 5, terminationKey: '#', firstDigitTimeoutMs: 8000 },
          },
        };
      }
      return { body: { phrases: [{ format: 'file', fileName: 'hello' }], hangup: true } };
    };
    ivrCall = await placeCall({
      target: NUMBER,
      server,
      dtmf: [{ atMs: 2600, digits: '42#' }],
      hangupAfterMs: 20_000,
      api: { url: stack.apiUrl, apiKey },
    });
    assert.equal(ivrCall.answered, true, ivrCall.reason);
    assert.equal(ivrCall.endedBy, 'remote');
    assert.ok(ivrCall.sessionId, ivrCall.journalError);
    const sessionId = ivrCall.sessionId!;

    await go('#/calls', 'Calls');
    assert.deepEqual(await unlabelledControls(page), []);
    await page.getByLabel('SIP Call-ID', { exact: true }).fill(ivrCall.sipCallId);
    await page.getByRole('button', { name: 'Search calls' }).click();
    await statusText().filter({ hasText: 'Page 1: 1 call(s).' }).waitFor();
    await shot(page, 'calls');
    await page.getByRole('link', { name: sessionId }).click();
    await page.getByRole('heading', { level: 1, name: `Call ${sessionId}` }).waitFor();
    const labels = await page.locator('.ladder .arrow-label').allTextContents();
    const has = (re: RegExp) => labels.some((l) => re.test(l));
    assert.ok(has(/^POST \/newCall .*1 attempt/), `newCall in ${labels.join(' | ')}`);
    assert.ok(has(/^200 action=ivr$/), 'newCall reply');
    assert.ok(has(/^POST \/getIvrCommand digits=42 \(terminationKey\)/), 'getIvrCommand with the digits');
    assert.ok(has(/^DTMF 42#$/), 'the keys on the caller lane');
    assert.ok(has(/^200 phrases\+hangup$/), 'the last command');
    assert.ok(has(/^POST \/sessionCompleted/), 'sessionCompleted');
    // The leg's SIP messages, each a row between the caller and the media node.
    assert.ok(has(/^INVITE$/), 'the INVITE');
    assert.ok(has(/^200 OK \(INVITE\)$/), 'its 200 OK');
    assert.ok(has(/^BYE$/), 'the BYE');
    assert.ok(has(/^200 OK \(BYE\)$/), 'the BYE answered');
    // The raw JSON is a click (or Enter) away.
    const row = page.locator('.ladder-row', { hasText: 'POST /getIvrCommand digits=42' }).first();
    await row.locator('summary').focus();
    await page.keyboard.press('Enter');
    const raw = JSON.parse((await row.locator('pre.raw').textContent()) ?? '{}');
    assert.equal(raw.kind, 'callback');
    assert.equal(raw.callback, 'getIvrCommand');
    assert.equal(raw.request.dtmfParams.digits, '42');
    await shot(page, 'call-ladder');
  });

  test('usage by day: an SVG bar chart with a table of the same numbers', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const row = page.getByRole('row', { name: new RegExp(`^${today}`) });
    // The node writes a call's attempt when it starts and its seconds when it ends, each with the next usage
    // batch (once a second): the page may be read between the two, so it is read again until both show.
    let cells: string[] = [];
    await go('#/usage', 'Usage');
    for (let i = 0; i < 20; i++) {
      // A reload fetches the usage again (going to the URL the page is already on changes nothing).
      if (i > 0) {
        await page.reload();
        await page.getByRole('heading', { level: 1, name: 'Usage' }).waitFor();
      }
      await row.waitFor();
      cells = await row.locator('td').allTextContents();
      if (Number(cells[0]) >= 1 && Number(cells[2]) >= 1) break;
      await page.waitForTimeout(500);
    }
    assert.deepEqual(await unlabelledControls(page), []);
    assert.ok(Number(cells[0]) >= 1, `callAttempts ${cells[0]}`);
    assert.ok(Number(cells[2]) >= 1, `callSeconds ${cells[2]}`);
    assert.ok((await page.locator('svg.chart rect.bar').count()) >= 1);
    assert.equal(
      await page.locator('svg.chart').getAttribute('aria-hidden'),
      'true',
      'the table is what screen readers read',
    );
    await page.getByLabel('Chart', { exact: true }).selectOption('callSeconds');
    assert.match((await page.locator('svg.chart rect.bar title').first().textContent()) ?? '', /callSeconds/);
    await shot(page, 'usage');
  });

  test('live calls: a call in progress is listed; interrupt, start and stop recording, hang up from the page', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'file', fileName: 'long' }] } };
      return undefined;
    };
    hook.received.length = 0;
    const call = placeCall({ target: NUMBER, server, hangupAfterMs: 60_000 });
    await hook.waitFor('getIvrCommand');
    await go('#/live', 'Live calls');
    const card = page.locator('article.card');
    for (let i = 0; i < 20 && (await card.count()) === 0; i++) {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(250);
    }
    assert.equal(await card.count(), 1, 'one live call');
    await shot(page, 'live-calls');
    const before = hook.named('getIvrCommand').length;
    await card.getByRole('button', { name: 'Interrupt IVR command' }).click();
    await statusText().filter({ hasText: 'Interrupt: done.' }).waitFor();
    // Interrupting the running prompt asks the webhook for the next command.
    await hook.waitFor('getIvrCommand', () => hook.named('getIvrCommand').length > before);
    await card.getByRole('button', { name: 'Start recording' }).click();
    await statusText().filter({ hasText: 'Start recording: done.' }).waitFor();
    await card.getByRole('button', { name: 'Stop recording' }).click();
    await statusText().filter({ hasText: 'Stop recording: done.' }).waitFor();
    await card.getByRole('button', { name: 'Hang up' }).click();
    await statusText().filter({ hasText: 'Hang up: done.' }).waitFor();
    const result = await call;
    assert.equal(result.answered, true);
    assert.equal(result.endedBy, 'remote', 'the platform hung up');
    assert.ok(result.durationMs < 30_000);
    await hook.waitFor('sessionCompleted');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByText('No live calls.').waitFor();
  });

  test('calls: paging with nextCursor forwards and back, and the number filter', async () => {
    await go('#/calls', 'Calls');
    await page.getByLabel('Per page', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Search calls' }).click();
    await statusText().filter({ hasText: 'Page 1: 1 call(s).' }).waitFor();
    const first = await page.locator('tbody a').first().textContent();
    // Newest first: the live call placed last is on page 1, the IVR call on page 2.
    assert.notEqual(first, ivrCall.sessionId);
    await page.getByRole('button', { name: 'Next page' }).click();
    await statusText().filter({ hasText: 'Page 2: 1 call(s).' }).waitFor();
    assert.equal(await page.locator('tbody a').first().textContent(), ivrCall.sessionId);
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true, 'the last page');
    await page.getByRole('button', { name: 'Previous page' }).click();
    await statusText().filter({ hasText: 'Page 1: 1 call(s).' }).waitFor();
    assert.equal(await page.locator('tbody a').first().textContent(), first);
    await page.getByLabel('Per page', { exact: true }).fill('20');
    await page.getByLabel('Number', { exact: true }).fill('no-such-number');
    await page.getByRole('button', { name: 'Search calls' }).click();
    await page.getByRole('cell', { name: 'No calls on this page.' }).waitFor();
    await page.getByLabel('Number', { exact: true }).fill(NUMBER);
    await page.getByRole('button', { name: 'Search calls' }).click();
    await statusText().filter({ hasText: 'Page 1: 2 call(s).' }).waitFor();
  });

  test('keyboard: every page’s main controls are reachable with Tab and show a visible focus outline', async () => {
    const expect: Record<string, [string, string[]]> = {
      '#/settings': [
        'Settings',
        ['input:Callback URL', 'button:Save settings', 'button:Rotate signing secret', 'button:Create API key'],
      ],
      '#/numbers': ['Numbers', ['input:Number', 'button:Claim number', `button:Release ${NUMBER}`]],
      '#/prompts': [
        'Prompts',
        ['input:WAV or MP3 file', 'button:Upload prompt', 'button:Play hello', 'button:Delete hello'],
      ],
      '#/usage': ['Usage', ['input:From (UTC day)', 'select:Chart', 'button:Show usage']],
      '#/calls': ['Calls', ['input:SIP Call-ID', 'button:Search calls', `a:${ivrCall.sessionId}`]],
      '#/live': ['Live calls', ['button:Refresh']],
    };
    for (const [hash, [heading, controls]] of Object.entries(expect)) {
      await go(hash, heading);
      const stops = await tabStops(page);
      const names = stops.map((s) => s.name);
      for (const c of ['a:Skip to content', 'a:Settings', 'a:Live calls', 'button:Sign out', ...controls]) {
        assert.ok(names.includes(c), `${hash}: Tab does not reach ${c}; it reaches ${names.join(', ')}`);
      }
      for (const s of stops) assert.doesNotMatch(s.outline, /^none|0px$/, `${hash}: ${s.name} has no visible focus`);
    }
    // The ladder's rows are keyboard-reachable too (they open with Enter).
    await go(`#/calls/${encodeURIComponent(ivrCall.sessionId!)}`, /^Call /);
    const stops = (await tabStops(page, 200)).map((s) => s.name);
    assert.ok(stops.some((s) => s.startsWith('summary:') && /getIvrCommand/.test(s)));
  });

  test('contrast of text and controls is at least 4.5:1; landmarks and headings are there; no console errors', async () => {
    await go('#/prompts', 'Prompts');
    for (const sel of ['main p, main td', 'nav a', 'button:not(.danger)', 'button.danger', '.field small', 'th']) {
      const ratio = await contrast(page, sel);
      assert.ok(ratio >= 4.5, `${sel}: contrast ${ratio.toFixed(2)}`);
    }
    await go('#/numbers', 'Numbers');
    await page.getByLabel('Number', { exact: true }).fill('bad number');
    await page.getByRole('button', { name: 'Claim number' }).click();
    await alertText().filter({ hasText: 'Error' }).waitFor();
    assert.ok((await contrast(page, '[role=alert]')) >= 4.5);
    assert.equal(await page.getByRole('main').count(), 1);
    assert.equal(await page.getByRole('navigation', { name: 'Console' }).count(), 1);
    assert.equal(await page.getByRole('banner').count(), 1);
    const snapshot = await page.getByRole('main').ariaSnapshot();
    assert.match(snapshot, /heading "Numbers" \[level=1\]/);
    assert.match(snapshot, /textbox "Number"/);
    assert.deepEqual(
      consoleErrors.filter((e) => !/status of (400|401|404)/.test(e)),
      [],
    );
  });
});
