import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '@sipms/shared/signing';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { RtpCapture } from '../src/rtp-capture.js';
import { renderScenario, runSipp } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// Real parts only: the stack started as `npm start` does (dynalite, local bus, dispatcher, media node,
// rtpengine), a real HTTP webhook, SIPp as the caller, tcpdump counting RTP at the caller's port.
const RTP_MIN = 31000;
const RTP_MAX = 31199;
const PROMPT_MS = 2000;

describe('walking skeleton: one real SIP call through the whole stack', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let tenant: { tenantId: string; domain: string; signingSecret: string };
  const number = '+4930123456';

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('Walking Skeleton GmbH');
    const patch = await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
    assert.equal(patch.status, 200, JSON.stringify(patch.json));
    const claim = await api.call('PUT', `/v1/numbers/${encodeURIComponent(number)}`);
    assert.equal(claim.status, 201, JSON.stringify(claim.json));
    const upload = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/welcome`, toneWav(PROMPT_MS));
    assert.equal(upload.status, 200, JSON.stringify(upload.json));
    assert.deepEqual(upload.json, { success: true });
  });

  after(async () => {
    await hook?.close();
    const code = await stack?.stop();
    assert.equal(code, 0, 'the stack stops cleanly on SIGINT');
    hook?.assertContract();
  });

  test('IVR call: newCall → ivr → prompt + DTMF → dtmfParams → TTS goodbye → BYE → sessionCompleted', async () => {
    const seen: string[] = [];
    hook.responder = (cb) => {
      seen.push(cb.name);
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams) {
        return {
          body: { phrases: [{ format: 'file', fileName: 'welcome' }], dtmf: { maxDigits: 2, terminationKey: '#' } },
        };
      }
      if (cb.name === 'getIvrCommand') return { body: { phrases: [{ format: 'tts', text: 'Goodbye' }], hangup: true } };
      return undefined;
    };
    const mediaPort = await freeSippMediaPort();
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${mediaPort}`);
    await capture.ready();
    const xml = await renderScenario('uac-ivr-dtmf.xml', {
      wait: PROMPT_MS + 500,
      digit1: 'dtmf_2833_1.pcap',
      digit2: 'dtmf_2833_2.pcap',
    });
    const sipp = await runSipp([
      '-sf',
      xml,
      '-s',
      number,
      '-m',
      '1',
      '-mp',
      String(mediaPort),
      '-timeout',
      '40s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    const completed = await hook.waitFor('sessionCompleted');
    await new Promise((r) => setTimeout(r, 300));
    await capture.stop();
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${sipp.stderr}\n${stack.logs.slice(-15).join('\n')}`);

    const newCall = hook.named('newCall')[0]!;
    assert.equal(newCall.body.to && (newCall.body.to as { user: string }).user, number);
    assert.equal((newCall.body.from as { user: string }).user, 'caller');
    assert.equal((newCall.body.from as { displayName: string }).displayName, 'Integ Caller');
    assert.equal(newCall.body.transport, 'udp');
    assert.equal(newCall.body.sourceAddress, '127.0.0.1');
    assert.deepEqual(newCall.body.headers, { 'X-Customer-Ref': 'integ-42' });
    for (const field of ['sessionId', 'participantId', 'replyId', 'sipCallId', 'requestUri', 'timestamp']) {
      assert.equal(typeof newCall.body[field], 'string', `newCall.${field}`);
    }

    const commands = hook.named('getIvrCommand');
    assert.equal(commands.length, 2);
    assert.equal(commands[0]!.body.dtmfParams, undefined);
    assert.deepEqual(commands[1]!.body.dtmfParams, { digits: '12', terminationKey: '', reason: 'maxDigits' });

    assert.equal(typeof completed.body.sessionDuration, 'number');
    assert.ok((completed.body.sessionDuration as number) > PROMPT_MS / 1000);
    assert.equal(completed.body.reason, 'hangup');

    // One session, increasing seq, every callback signed with the tenant's secret.
    const sessionCallbacks = hook.received.filter((r) => r.body.sessionId === newCall.body.sessionId);
    const seqs = sessionCallbacks.map((r) => r.body.seq as number).sort((a, b) => a - b);
    assert.deepEqual(seqs, [...new Set(seqs)], 'seq values are unique');
    assert.ok(sessionCallbacks.some((r) => r.name === 'callAnswered'));
    for (const cb of sessionCallbacks) {
      const v = verifySignature(cb.headers['x-mediaserver-signature'], cb.rawBody, tenant.signingSecret);
      assert.ok(v.ok, `${cb.name} signature: ${JSON.stringify(v)}`);
      assert.ok(cb.headers['x-mediaserver-event-id'], 'event id header');
      assert.equal(cb.headers['x-mediaserver-attempt'], '1');
    }
    assert.ok(!verifySignature(newCall.headers['x-mediaserver-signature'], newCall.rawBody, 'whsec_wrong').ok);

    // The prompt (2 s at 20 ms) and the goodbye reached the caller's media port.
    const rtp = capture.packets();
    assert.ok(rtp.length >= (PROMPT_MS / 20) * 0.9, `RTP packets at the caller: ${rtp.length}`);
    assert.deepEqual(
      seen.filter((n) => n !== 'callAnswered' && n !== 'callNotify'),
      ['newCall', 'getIvrCommand', 'getIvrCommand', 'sessionCompleted'],
    );
    // Usage metering: what an operator bills on, recorded by the media node.
    // The node writes usage summed per tenant once a second (docs/table-design.md): it shows within that.
    const today = new Date().toISOString().slice(0, 10);
    let usage = await api.call('GET', `/v1/usage?from=${today}&to=${today}`);
    const written = (t: { answeredCalls?: number; callSeconds?: number; ttsCharacters?: number } | undefined) =>
      t?.answeredCalls === 1 && (t.callSeconds ?? 0) >= 2 && t.ttsCharacters === 'Goodbye'.length;
    for (let i = 0; i < 30 && !written(usage.json.totals); i++) {
      await new Promise((r) => setTimeout(r, 100));
      usage = await api.call('GET', `/v1/usage?from=${today}&to=${today}`);
    }
    assert.equal(usage.status, 200);
    assert.equal(usage.json.totals.callAttempts, 1);
    assert.equal(usage.json.totals.answeredCalls, 1);
    assert.ok(usage.json.totals.callSeconds >= 2, `callSeconds ${usage.json.totals.callSeconds}`);
    assert.equal(usage.json.totals.ttsCharacters, 'Goodbye'.length);
    // The prompt's packets, then the goodbye's: about PROMPT_MS of audio plus the TTS.
    console.log(`# RTP packets at the caller: ${rtp.length}`);
  });

  test('a call to an unknown number gets 404 and no callback', async () => {
    const before = hook.received.length;
    const sipp = await runSipp([
      '-sf',
      await renderScenario('uac-expect-status.xml', { status: 404 }),
      '-s',
      '+4999999999',
      '-m',
      '1',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.received.length, before, 'no callback for an unknown target');
  });

  test('a webhook answering {"action":"drop"} gets the caller a 603', async () => {
    hook.responder = (cb) => (cb.name === 'newCall' ? { body: { action: 'drop' } } : undefined);
    const sipp = await runSipp([
      '-sf',
      await renderScenario('uac-expect-status.xml', { status: 603 }),
      '-s',
      number,
      '-m',
      '1',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${stack.logs.slice(-10).join('\n')}`);
    const completed = await hook.waitFor('sessionCompleted', (cb) => cb.body.reason === 'dropped');
    assert.equal(typeof completed.body.sessionDuration, 'number');
  });
});
