import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { Baresip, requireBaresip, soxStat } from '../src/baresip.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { WebhookServer } from '../src/webhook-server.js';

// baresip as a real softphone: what it hears is recorded, and sox says how long and how loud it was.
// RTP: rtpengine 34200-34399, baresip 34800-34899 (this range 34000-34999).
const RTP_MIN = 34200;
const RTP_MAX = 34399;
const NUMBER = 'ivr-baresip';
const PROMPT_MS = 1500;
const ECHO_SEC = 3;

requireBaresip();

describe('IVR engine heard by a real softphone (baresip)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let phone: Baresip;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    await hook.start();
    const api = new ApiClient(stack.apiUrl);
    const tenant = await api.signup('IVR baresip GmbH');
    await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
    await api.call('PUT', `/v1/numbers/${NUMBER}`);
    const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/hello`, toneWav(PROMPT_MS, 440, 0.5));
    assert.equal(up.status, 200);
    phone = new Baresip();
    // The phone's microphone: a steady 1 kHz tone, so the echo is loud when it comes back.
    await phone.start({ sourceWav: toneWav(40_000, 1000, 0.4), rtpPorts: [34800, 34899] });
  });

  after(async () => {
    await phone?.stop();
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  test('the prompt and the TTS are heard, typed digits reach dtmfParams, the echo comes back', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return {
          body: {
            phrases: [
              { format: 'file', fileName: 'hello' },
              { format: 'tts', text: 'Please enter your code, then press the hash key.' },
            ],
            dtmf: { maxDigits: 6, terminationKey: '#', firstDigitTimeoutMs: 10_000 },
          },
        };
      if (cb.name === 'getIvrCommand') return { body: { echo: { durationSec: ECHO_SEC }, hangup: true } };
      return undefined;
    };
    phone.dial(`sip:${NUMBER}@${stack.sipHost}:${stack.sipPort}`);
    await phone.waitFor('CALL_ESTABLISHED');
    const answeredAt = Date.now();
    // Wait for the phrases (1.5 s prompt + ~3 s of speech), then type.
    await hook.waitFor('getIvrCommand');
    await new Promise((r) => setTimeout(r, PROMPT_MS + 3500));
    await phone.type('42#');
    const second = await hook.waitFor('getIvrCommand', (c) => Boolean(c.body.dtmfParams));
    assert.deepEqual(second.body.dtmfParams, { digits: '42', terminationKey: '#', reason: 'terminationKey' });
    await phone.waitFor('CALL_CLOSED', 15_000);
    const callMs = Date.now() - answeredAt;
    await new Promise((r) => setTimeout(r, 300));

    const heard = await phone.heardFile();
    assert.ok(heard, `baresip recorded what it heard; output:\n${phone.output.slice(-10).join('\n')}`);
    const all = soxStat(heard);
    console.log(`# baresip heard ${all.seconds.toFixed(2)} s (call ${callMs} ms), RMS ${all.rms.toFixed(3)}`);
    // The decoder only writes what arrived: prompt + TTS + echo, with the silent waits left out.
    assert.ok(all.seconds >= PROMPT_MS / 1000 + 1 + ECHO_SEC - 0.5, `heard ${all.seconds} s`);
    assert.ok(all.seconds <= callMs / 1000 + 0.5, `heard ${all.seconds} s in a ${callMs} ms call`);
    // The prompt: the first 1.5 s are a loud 440 Hz tone.
    const prompt = soxStat(heard, { start: 0.2, length: 1.1 });
    // The TTS follows the prompt: speech, quieter than a tone but clearly not silence.
    const ttsSeconds = all.seconds - PROMPT_MS / 1000 - ECHO_SEC;
    const tts = soxStat(heard, { start: PROMPT_MS / 1000 + 0.1, length: Math.max(0.5, ttsSeconds - 0.2) });
    // The last seconds are the echo of the phone's own 1 kHz tone.
    const echo = soxStat(heard, { start: all.seconds - ECHO_SEC + 0.5, length: ECHO_SEC - 1 });
    console.log(`# prompt RMS ${prompt.rms}, TTS ${ttsSeconds.toFixed(2)} s RMS ${tts.rms}, echo RMS ${echo.rms}`);
    assert.ok(prompt.rms > 0.1, `prompt RMS ${prompt.rms}`);
    assert.ok(ttsSeconds > 1, `TTS length ${ttsSeconds} s`);
    assert.ok(tts.rms > 0.02, `TTS RMS ${tts.rms}`);
    assert.ok(echo.rms > 0.1, `echo RMS ${echo.rms}`);
  });
});
