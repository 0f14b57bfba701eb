import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { RtpStream, rtpPcap } from '../src/rtp-pcap.js';
import { runSipp, scenario, startSippCallee } from '../src/sipp.js';
import { assertUsageGrew, usageTotals } from '../src/usage.js';
import { type ReceivedCallback, WebhookServer } from '../src/webhook-server.js';

// RFC 4733 key presses that are the caller's first RTP (no audio before them), SSRC changes, a re-INVITE
// before the first key, and the media timeout (MEDIA_TIMEOUT_SEC). SIPp plays pcaps built here. RTP
// range: 39000-39199 (no other file uses it).
const RTP_MIN = 39000;
const RTP_MAX = 39199;
const NUMBER = 'dtmf-first';
const MEDIA_TIMEOUT_SEC = 3;
/**
 * The caller's first key, after its ACK: a key is collected only once the first IVR command runs (two callback
 * round trips after the answer, ~110 ms on an idle machine, several times that on a loaded one); a key before
 * that is not this file's subject.
 */
const FIRST_KEY_AFTER_MS = 1000;

const pause = (ms: number) => `<pause milliseconds="${ms}"/>`;
const play = (pcap: string) => `<nop><action><exec play_pcap_audio="${pcap}"/></action></nop>`;

/** A re-INVITE from the caller (same media address and codecs), answered and acknowledged. */
const REINVITE = `
  <send retrans="500">
    <![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Integ Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Integ Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>`;

describe('DTMF: the first RFC 4733 key press counts; a silent caller times out (real rtpengine, SIPp)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'dtmf-first-'));
    stack = await startLocalStack({
      rtpPortMin: RTP_MIN,
      rtpPortMax: RTP_MAX,
      env: { MEDIA_TIMEOUT_SEC: String(MEDIA_TIMEOUT_SEC) },
    });
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    const tenant = await api.signup('DTMF First GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
    for (const [name, ms] of [
      ['two-seconds', 2000],
      ['long', 8000],
    ] as const) {
      const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/${name}`, toneWav(ms));
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

  let pcaps = 0;
  async function pcapOf(...streams: RtpStream[]): Promise<string> {
    const file = join(scratch, `caller-${++pcaps}.pcap`);
    await writeFile(file, rtpPcap(...streams));
    return file;
  }

  async function call(steps: string[], opts: { byeTimeoutMs?: number } = {}) {
    let xml = await readFile(scenario('ivr/uac-steps.xml'), 'utf8');
    xml = xml
      .replaceAll('{{steps}}', steps.join('\n  '))
      .replaceAll('{{byeTimeout}}', String(opts.byeTimeoutMs ?? 20_000));
    const file = join(scratch, `scenario-${++pcaps}.xml`);
    await writeFile(file, xml);
    const before = hook.named('newCall').length;
    const sipp = await runSipp([
      '-sf',
      file,
      '-s',
      NUMBER,
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '45s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    const newCall = hook.named('newCall')[before];
    assert.ok(newCall, `no newCall; SIPp:\n${sipp.errors}`);
    const sessionId = newCall.body.sessionId;
    const completed = await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId, 20_000);
    const ofSession = (name: string): ReceivedCallback[] =>
      hook.named(name).filter((c) => c.body.sessionId === sessionId);
    // Every call ends exactly once, with sessionCompleted as its last callback.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ofSession('sessionCompleted').length, 1, 'one sessionCompleted');
    const last = hook.received.filter((c) => c.body.sessionId === sessionId).at(-1);
    assert.equal(last?.name, 'sessionCompleted', 'sessionCompleted is the last callback');
    const logs = () => stack.logs.slice(-15).join('\n');
    return { sipp, ofSession, completed, logs };
  }

  /** The dtmfParams of each getIvrCommand after the first, in order. */
  const collected = (ofSession: (n: string) => ReceivedCallback[]) =>
    ofSession('getIvrCommand')
      .slice(1)
      .map((c) => c.body.dtmfParams);

  test('keys 1, 2 during a prompt and 3, 4, # after it, no audio before them: maxDigits 3 gives "123"', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { phrases: [{ format: 'file', fileName: 'two-seconds' }], dtmf: { maxDigits: 3 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    // A phone whose RTP timestamps start at 0, and the key is its first packet: rtpengine's log lost it.
    const s = new RtpStream(0x1a2b3c4d, { ts0: 0 }).key('1', 0).key('2', 0.5).key('3', 2.2).key('4', 2.7).key('#', 3.2);
    const { sipp, ofSession, logs } = await call([pause(FIRST_KEY_AFTER_MS), play(await pcapOf(s))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '123', terminationKey: '', reason: 'maxDigits' });
  });

  test('a caller that sends only telephone-events (no audio at all): every key counts', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { dtmf: { maxDigits: 10, terminationKey: '#', firstDigitTimeoutMs: 5000 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const s = new RtpStream(0x0badcafe, { seq0: 65_530, ts0: 0 })
      .key('9', 0)
      .key('8', 0.4)
      .key('8', 0.8, 60) // the same key again: a new event (new timestamp)
      .key('*', 1.2)
      .key('0', 1.6)
      .key('#', 2.0);
    const usage0 = await usageTotals(api);
    const { sipp, ofSession, completed, logs } = await call([pause(FIRST_KEY_AFTER_MS), play(await pcapOf(s))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '988*0', terminationKey: '#', reason: 'terminationKey' });
    await assertUsageGrew(api, usage0, 1, [completed.body.sessionDuration as number], 1);
  });

  test('a single key meant as barge-in stops the prompt and is the digit', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return {
          body: { phrases: [{ format: 'file', fileName: 'long' }], bargeIn: 'all', dtmf: { maxDigits: 1 } },
        };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const t0 = Date.now();
    const s = new RtpStream(0x55667788, { ts0: 0 }).key('5', 0);
    const { sipp, ofSession, logs } = await call([pause(FIRST_KEY_AFTER_MS), play(await pcapOf(s))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '5', terminationKey: '', reason: 'maxDigits' });
    assert.ok(Date.now() - t0 < 6000, 'the 8 s prompt was stopped by the key');
  });

  test('keys across a timestamp wrap: every key counts', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { dtmf: { maxDigits: 10, terminationKey: '#', firstDigitTimeoutMs: 5000 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const s = new RtpStream(0x0badf00d, { seq0: 65_533, ts0: 0xffff_f000 }).key('4', 0).key('2', 0.4).key('#', 0.8);
    const { sipp, ofSession, logs } = await call([pause(FIRST_KEY_AFTER_MS), play(await pcapOf(s))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '42', terminationKey: '#', reason: 'terminationKey' });
  });

  test('the SSRC changes between keys: the first key of each SSRC counts', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { dtmf: { maxDigits: 10, terminationKey: '#', firstDigitTimeoutMs: 5000 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    // Each new stream starts where rtpengine's last event was (its duplicate check is per media, not SSRC).
    const a = new RtpStream(0x11111111, { ts0: 0, seq0: 100 }).key('1', 0).key('2', 0.4); // '2' at ts 3200
    const b = new RtpStream(0x22222222, { ts0: 3200 - 0.9 * 8000, seq0: 100 }).key('3', 0.9).key('4', 1.3);
    const c = new RtpStream(0x33333333, { ts0: 6400 - 1.8 * 8000, seq0: 40_000 }).key('5', 1.8).key('#', 2.2);
    const { sipp, ofSession, logs } = await call([pause(FIRST_KEY_AFTER_MS), play(await pcapOf(a, b, c))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '12345', terminationKey: '#', reason: 'terminationKey' });
  });

  test('a re-INVITE before the first key: the first key counts, also when the stream restarts at timestamp 0', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { dtmf: { maxDigits: 4, firstDigitTimeoutMs: 8000 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const first = new RtpStream(0x77777777, { ts0: 0 }).key('7', 0);
    // After the re-INVITE the phone restarts its stream (same SSRC) at timestamp 0.
    const again = new RtpStream(0x77777777, { ts0: 0, seq0: 2000 }).key('0', 0).key('7', 0.4).key('1', 0.8);
    const { sipp, ofSession, logs } = await call([
      pause(FIRST_KEY_AFTER_MS),
      play(await pcapOf(first)),
      pause(800),
      REINVITE,
      pause(300),
      play(await pcapOf(again)),
    ]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.deepEqual(collected(ofSession)[0], { digits: '7071', terminationKey: '', reason: 'maxDigits' });
  });

  test('a caller in IVR that sends no RTP and no BYE: hung up after MEDIA_TIMEOUT_SEC with reason mediaTimeout', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: {} }; // no action: wait in silence
      return undefined;
    };
    const usage0 = await usageTotals(api);
    const t0 = Date.now();
    const { sipp, ofSession, completed, logs } = await call([], { byeTimeoutMs: 15_000 });
    const took = (Date.now() - t0) / 1000;
    assert.equal(sipp.code, 0, `SIPp did not get its BYE:\n${sipp.errors}\n${logs()}`);
    assert.equal(completed.body.reason, 'mediaTimeout');
    // Billed for the time it was connected, no more: the media timeout ended the call.
    await assertUsageGrew(api, usage0, 1, [completed.body.sessionDuration as number], MEDIA_TIMEOUT_SEC - 1);
    assert.ok(took >= MEDIA_TIMEOUT_SEC && took < MEDIA_TIMEOUT_SEC + 6, `BYE after ${took} s`);
    const notify = ofSession('callNotify').find((c) => c.body.event === 'mediaTimeout');
    assert.ok(notify, `callNotify mediaTimeout; got ${JSON.stringify(ofSession('callNotify').map((c) => c.body))}`);
    const event = ofSession('callEvent').find((c) => c.body.event === 'ivrFailed');
    assert.match(String(event?.body.reason), /media timeout/);
  });

  test('a caller that keeps sending RTP in IVR does not time out', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams)
        return { body: { dtmf: { maxDigits: 1, firstDigitTimeoutMs: 9000 } } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    // Audio for 2 MEDIA_TIMEOUT_SEC, then a key.
    const s = new RtpStream(0x31415926).audio(0, 2 * MEDIA_TIMEOUT_SEC + 0.5).key('8', 2 * MEDIA_TIMEOUT_SEC + 0.6);
    const { sipp, completed, ofSession, logs } = await call([pause(200), play(await pcapOf(s))]);
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${logs()}`);
    assert.equal(completed.body.reason, 'hangup');
    assert.deepEqual(collected(ofSession)[0], { digits: '8', terminationKey: '', reason: 'maxDigits' });
  });

  test('bridged to a callee, a caller that goes silent without BYE: both hung up, mediaTimeout', async () => {
    const callee = await startSippCallee({ timeoutSec: 40 });
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'call', destination: callee.uri() } };
      return undefined;
    };
    const t0 = Date.now();
    const { sipp, ofSession, completed, logs } = await call([], { byeTimeoutMs: 20_000 });
    const took = (Date.now() - t0) / 1000;
    const calleeResult = await callee.run;
    assert.equal(sipp.code, 0, `the caller did not get its BYE:\n${sipp.errors}\n${logs()}`);
    assert.equal(calleeResult.code, 0, `the callee did not get its BYE:\n${calleeResult.errors}\n${logs()}`);
    assert.equal(completed.body.reason, 'mediaTimeout');
    assert.ok(took < MEDIA_TIMEOUT_SEC + 8, `BYE after ${took} s`);
    assert.ok(ofSession('callNotify').some((c) => c.body.event === 'mediaTimeout'));
    assert.ok(
      ofSession('callEvent').some((c) => c.body.event === 'ivrFailed' && /media timeout/.test(String(c.body.reason))),
    );
  });
});
