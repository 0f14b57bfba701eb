// The test kit (sdk/src/testkit): it starts the real local deployment itself, records the callbacks of a scripted
// app, and collects what one real SIPp call produced (SIPp is the injected caller here; the CLI caller plugs in the
// same way).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { placeCall } from '@sipms/cli';
import { repoRoot } from '@sipms/integ-tests/local-stack';
import { freeSippMediaPort, freeTcpPort, freeUdpPort } from '@sipms/integ-tests/ports';
import { renderScenario, runSipp } from '@sipms/integ-tests/sipp';
import { SipmsClient } from '../src/client/client.js';
import { ivr } from '../src/ivr/builder.js';
import { signPayload } from '../src/signature.js';
import { callAndRecord, connectDeployment, type Deployment, startLocalDeployment } from '../src/testkit/index.js';
import { CallbackRecorder } from '../src/testkit/recorder.js';

// rtpengine ports of this file (the SDK's range is 32400-32999).
const RTP_MIN = 32900;
const RTP_MAX = 32999;

/** The app under test in the call tests: collect two keys, say them, hang up. */
const twoDigitIvr: Parameters<CallbackRecorder['use']>[0] = {
  newCall: () => ({ action: 'ivr' }),
  getIvrCommand: ({ dtmfParams }) =>
    dtmfParams
      ? ivr().say(`You pressed ${dtmfParams.digits}`).hangup()
      : ivr().silence(300).dtmf({ maxDigits: 2, firstDigitTimeoutMs: 8000 }),
};

describe('test kit: a real call against a deployment the kit started', () => {
  let deployment: Deployment;
  let client: SipmsClient;
  let recorder: CallbackRecorder;

  before(async () => {
    deployment = await startLocalDeployment({
      repoRoot,
      rtpPortMin: RTP_MIN,
      rtpPortMax: RTP_MAX,
      // This repository's port allocator (below the ephemeral range); the kit finds free ones itself otherwise.
      ports: { api: await freeTcpPort(), sip: await freeUdpPort(), rtpengineNg: await freeUdpPort() },
    });
    const tenant = await new SipmsClient({ baseUrl: deployment.apiUrl }).signup({ name: 'Testkit GmbH' });
    client = new SipmsClient({ baseUrl: deployment.apiUrl, apiKey: tenant.apiKey, domain: tenant.domain });
    recorder = new CallbackRecorder({ secrets: tenant.signingSecret });
    await client.tenant.update({ callbackUrl: await recorder.start() });
    await client.numbers.claim('kit');
  });

  after(async () => {
    await recorder?.close();
    const code = await deployment?.stop();
    assert.equal(code, 0, 'the deployment stops cleanly');
  });

  test('callAndRecord: the callbacks the app got, its replies, and the journal, for one SIPp call', async () => {
    recorder.use(twoDigitIvr);
    const result = await callAndRecord({
      deployment,
      client,
      recorder,
      number: 'kit',
      placeCall: async (target) => {
        const xml = await renderScenario('uac-ivr-dtmf.xml', {
          wait: 1500,
          digit1: 'dtmf_2833_1.pcap',
          digit2: 'dtmf_2833_2.pcap',
        });
        assert.equal(target.uri, `sip:kit@127.0.0.1:${deployment.sipPort}`);
        return runSipp([
          '-sf',
          xml,
          '-s',
          target.number,
          '-m',
          '1',
          '-mp',
          String(await freeSippMediaPort()),
          '-timeout',
          '40s',
          `${target.sipHost}:${target.sipPort}`,
        ]);
      },
    });
    assert.equal(result.caller.code, 0, `SIPp: ${result.caller.errors}\n${deployment.logs.slice(-10).join('\n')}`);
    const names = result.callbacks.map((c) => c.name).filter((n) => n !== 'callNotify' && n !== 'callAnswered');
    assert.deepEqual(names, ['newCall', 'getIvrCommand', 'getIvrCommand', 'sessionCompleted']);
    const second = result.callbacks.filter((c) => c.name === 'getIvrCommand')[1]!;
    assert.deepEqual(second.body.dtmfParams, { digits: '12', terminationKey: '', reason: 'maxDigits' });
    assert.deepEqual(second.reply, { phrases: [{ format: 'tts', text: 'You pressed 12' }], hangup: true });
    assert.ok(result.callbacks.every((c) => c.eventId && c.attempt === 1));
    const journaled = result.session.journal.filter((e) => e.kind === 'callback').map((e) => e.callback);
    assert.deepEqual(
      journaled.filter((n) => n !== 'callNotify' && n !== 'callAnswered'),
      names,
    );
    assert.equal(result.session.sessionId, result.sessionId);
  });

  test('callAndRecord with the CLI caller: its keys reach the app, its result comes back untouched', async () => {
    recorder.use(twoDigitIvr);
    const result = await callAndRecord({
      deployment,
      client,
      recorder,
      number: 'kit',
      placeCall: (target) =>
        placeCall({
          target: target.number,
          server: `${target.sipHost}:${target.sipPort}`,
          dtmf: [{ atMs: 1500, digits: '34' }],
          hangupAfterMs: 20_000,
        }),
    });
    assert.equal(result.caller.answered, true, `the CLI caller: ${JSON.stringify(result.caller)}`);
    assert.equal(result.caller.endedBy, 'remote', 'the app hung up after saying the digits');
    const second = result.callbacks.filter((c) => c.name === 'getIvrCommand')[1]!;
    assert.deepEqual(second.body.dtmfParams, { digits: '34', terminationKey: '', reason: 'maxDigits' });
    const newCall = result.callbacks.find((c) => c.name === 'newCall')!;
    assert.equal(newCall.body.sipCallId, result.caller.sipCallId, 'the session is the CLI call');
  });

  test('connectDeployment points at a running deployment', async () => {
    const same = connectDeployment({ apiUrl: deployment.apiUrl, sipHost: '127.0.0.1', sipPort: deployment.sipPort });
    assert.equal(await same.stop(), null, 'not ours to stop');
    const doc = await new SipmsClient({ baseUrl: same.apiUrl }).openApiDocument();
    assert.equal(doc.openapi, '3.1.0');
  });
});

describe('CallbackRecorder on its own', () => {
  test('records verified callbacks with their replies; a newCall without a function is 404 and not recorded', async () => {
    const recorder = new CallbackRecorder({ secrets: 'whsec_kit' });
    const url = await recorder.start();
    try {
      const body = {
        sessionId: 's',
        seq: 1,
        timestamp: new Date().toISOString(),
        participantId: 'p',
        event: 'ringing',
      };
      const post = (name: string, b: object, secret = 'whsec_kit') => {
        const raw = JSON.stringify(b);
        return fetch(`${url}/${name}`, {
          method: 'POST',
          headers: { 'x-mediaserver-signature': signPayload(raw, secret) },
          body: raw,
        });
      };
      assert.equal((await post('callNotify', body)).status, 200);
      assert.equal((await post('newCall', body)).status, 404);
      assert.equal((await post('callNotify', body, 'whsec_wrong')).status, 401);
      assert.deepEqual(
        recorder.received.map((c) => [c.name, c.reply]),
        [['callNotify', undefined]],
      );
      recorder.use({ newCall: () => ({ action: 'drop', sipStatus: 486 }) });
      const waiting = recorder.waitFor('newCall');
      assert.equal((await post('newCall', body)).status, 200);
      assert.deepEqual((await waiting).reply, { action: 'drop', sipStatus: 486 });
      await assert.rejects(
        recorder.waitFor('sessionCompleted', () => true, 50),
        /no sessionCompleted callback within 50 ms/,
      );
    } finally {
      await recorder.close();
    }
  });
});
