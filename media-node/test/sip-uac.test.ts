/**
 * The UAC side of the built-in stack: placeCall against a second built-in instance (UAS) over UDP
 * and TCP, re-INVITE from both sides and glare, CANCEL on ring timeout and abort, rejection, and
 * digest authentication against a raw challenging peer.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallDialog, InboundCall, OutboundDialog, SignalingError } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import { chooseChallenge, digestAuthorization, parseDigestChallenge } from '../src/sip/builtin/digest.js';
import type { ParsedRequest } from '../src/sip/builtin/message.js';
import { SipTestClient, TEST_SDP } from './helpers/sip-test-client.js';

const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };
const ANSWER_SDP = TEST_SDP.replace('40000', '41000');

describe('placeCall between two built-in stacks', () => {
  let caller: BuiltinSignaling;
  let callee: BuiltinSignaling;
  let behaviour: (call: InboundCall) => void = () => {};
  const calleeDialogs: CallDialog[] = [];

  before(async () => {
    caller = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    callee = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await caller.start((call) => call.reject(603));
    await callee.start((call) => behaviour(call));
  });

  after(async () => {
    await caller.stop();
    await callee.stop();
  });

  const answer = (call: InboundCall): void => {
    call.progress(180);
    call.answer(ANSWER_SDP).then(
      (d) => calleeDialogs.push(d),
      () => {},
    );
  };

  const target = (user = 'bob', params = ''): string => `sip:${user}@127.0.0.1:${callee.advertised.port}${params}`;

  for (const transport of ['udp', 'tcp'] as const) {
    test(`${transport}: answered call, progress seen, caller hangs up`, async () => {
      behaviour = answer;
      const progress: number[] = [];
      const dialog = await caller.placeCall({
        target: target(),
        from: { uri: 'sip:alice@example.com', displayName: 'Alice' },
        sdp: TEST_SDP,
        transport,
        headers: { 'X-Tenant': 't1' },
        onProgress: (p) => progress.push(p.status),
      });
      assert.equal(dialog.remoteSdp, ANSWER_SDP);
      assert.deepEqual(progress, [180]);
      const uas = await waitFor(() => calleeDialogs.find((d) => d.callId === dialog.callId));
      await dialog.hangup();
      assert.equal(await dialog.ended, 'local-bye');
      assert.equal(await uas.ended, 'remote-bye');
    });
  }

  test('the callee hangs up a call we placed', async () => {
    behaviour = answer;
    const dialog = await caller.placeCall({ target: target(), from: { uri: 'sip:alice@example.com' }, sdp: TEST_SDP });
    const uas = await waitFor(() => calleeDialogs.find((d) => d.callId === dialog.callId));
    await uas.hangup();
    assert.equal(await dialog.ended, 'remote-bye');
  });

  test('re-INVITE from both sides (hold/unhold) and glare', async () => {
    behaviour = answer;
    const dialog = await caller.placeCall({ target: target(), from: { uri: 'sip:alice@example.com' }, sdp: TEST_SDP });
    const uas = await waitFor(() => calleeDialogs.find((d) => d.callId === dialog.callId));
    const offers: string[] = [];
    uas.onReoffer(async (sdp) => {
      offers.push(sdp);
      return ANSWER_SDP.replace('a=rtpmap', 'a=recvonly\r\na=rtpmap');
    });
    const held = await dialog.reinvite(`${TEST_SDP}a=sendonly\r\n`);
    assert.match(held, /a=recvonly/);
    assert.match(offers[0]!, /a=sendonly/);
    // And from the UAS side towards the UAC.
    let slowAnswer: () => void = () => {};
    dialog.onReoffer(
      (sdp) =>
        new Promise((resolve) => {
          slowAnswer = () => resolve(sdp.replace('40000', '42000'));
        }),
    );
    // §14.1: no new INVITE while one is in progress in either direction: the UAS waits for our ACK.
    await new Promise((r) => setTimeout(r, 50));
    const fromUas = uas.reinvite(TEST_SDP);
    // While the UAS's re-INVITE waits for our answer, our own re-INVITE is glare: 491.
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(dialog.reinvite(TEST_SDP), (err: SignalingError) => err.status === 491);
    slowAnswer();
    assert.match(await fromUas, /42000/);
    await dialog.hangup();
  });

  test('rejection surfaces the status', async () => {
    behaviour = (call) => call.reject(486);
    await assert.rejects(
      caller.placeCall({ target: target(), from: { uri: 'sip:alice@example.com' }, sdp: TEST_SDP }),
      (err: SignalingError) => err.code === 'rejected' && err.status === 486,
    );
  });

  test('ring timeout sends CANCEL; abort sends CANCEL', async () => {
    const cancelled: InboundCall[] = [];
    behaviour = (call) => {
      call.progress(180);
      cancelled.push(call);
    };
    await assert.rejects(
      caller.placeCall({ target: target(), from: { uri: 'sip:a@example.com' }, sdp: TEST_SDP, ringTimeoutMs: 200 }),
      (err: SignalingError) => err.code === 'no-answer',
    );
    await waitFor(() => (cancelled[0]?.cancelled.aborted ? true : undefined));
    const abort = new AbortController();
    const pending = caller.placeCall({
      target: target(),
      from: { uri: 'sip:a@example.com' },
      sdp: TEST_SDP,
      signal: abort.signal,
    });
    await waitFor(() => cancelled[1]);
    abort.abort();
    await assert.rejects(pending, (err: SignalingError) => err.code === 'cancelled');
    await waitFor(() => (cancelled[1]?.cancelled.aborted ? true : undefined));
  });

  test('an unresolvable target is a transport-error', async () => {
    await assert.rejects(
      caller.placeCall({ target: 'sip:x@nonexistent.invalid', from: { uri: 'sip:a@example.com' }, sdp: TEST_SDP }),
      (err: SignalingError) => err.code === 'transport-error',
    );
  });
});

describe('placeCall with digest authentication (raw UAS)', () => {
  let caller: BuiltinSignaling;
  let peer: SipTestClient;

  before(async () => {
    caller = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await caller.start(() => {});
    peer = await SipTestClient.open(caller.advertised.port);
  });
  after(async () => {
    peer.close();
    await caller.stop();
  });

  for (const [status, header, algorithm] of [
    [401, 'WWW-Authenticate', 'MD5'],
    [407, 'Proxy-Authenticate', 'SHA-256'],
  ] as const) {
    test(`${status} ${algorithm}: retried with a correct ${status === 401 ? 'Authorization' : 'Proxy-Authorization'}`, async () => {
      const call = caller.placeCall({
        target: `sip:bob@127.0.0.1:${peer.port}`,
        from: { uri: 'sip:alice@example.com' },
        sdp: TEST_SDP,
        credentials: { username: 'alice', password: 's3cret' },
      });
      const first = await peer.waitFor<ParsedRequest>((m) => m.type === 'request' && m.method === 'INVITE');
      const challenge = `Digest realm="sipms", nonce="n${status}", qop="auth", algorithm=${algorithm}, opaque="op"`;
      peer.send(responseTo(first, status, [`${header}: ${challenge}`]));
      await peer.waitFor((m) => m.type === 'request' && m.method === 'ACK' && m.callId === first.callId);
      const second = await peer.waitFor<ParsedRequest>(
        (m) => m.type === 'request' && m.method === 'INVITE' && m.cseq.seq === first.cseq.seq + 1,
      );
      assert.equal(second.callId, first.callId);
      assert.equal(second.from.tag, first.from.tag);
      const auth = second.headers.get(status === 401 ? 'authorization' : 'proxy-authorization')!;
      const cnonce = /cnonce="([^"]+)"/.exec(auth)![1]!;
      const expected = digestAuthorization(parseDigestChallenge(challenge)!, {
        method: 'INVITE',
        uri: second.uri,
        username: 'alice',
        password: 's3cret',
        nc: 1,
        cnonce,
      });
      assert.equal(auth, expected);
      peer.send(responseTo(second, 486, []));
      await assert.rejects(call, (err: SignalingError) => err.status === 486);
    });
  }
});

describe('digest', () => {
  test('RFC 7616 §3.9.1 example (SHA-256 and MD5 responses)', () => {
    // The RFC's HTTP example: same arithmetic as SIP (method and digest-uri differ only).
    const base =
      'realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
    const input = {
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle of Life',
      nc: 1,
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    };
    const sha = digestAuthorization(parseDigestChallenge(`Digest ${base}, algorithm=SHA-256`)!, input);
    assert.match(sha, /response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"/);
    const md5 = digestAuthorization(parseDigestChallenge(`Digest ${base}, algorithm=MD5`)!, input);
    assert.match(md5, /response="8ca523f5e9506fed4657c9700eebdbec"/);
  });

  test('SHA-256 is preferred over MD5; auth-int-only is refused', () => {
    const chosen = chooseChallenge(['Digest realm="r", nonce="1"', 'Digest realm="r", nonce="2", algorithm=SHA-256']);
    assert.equal(chosen?.algorithm, 'SHA-256');
    assert.equal(chooseChallenge(['Digest realm="r", nonce="1", qop="auth-int"']), undefined);
  });
});

function responseTo(request: ParsedRequest, status: number, extra: string[]): string {
  return [
    `SIP/2.0 ${status} Whatever`,
    ...request.headers.lines('via').map((v) => `Via: ${v}`),
    `From: ${request.headers.get('from')}`,
    `To: ${request.headers.get('to')};tag=uas1`,
    `Call-ID: ${request.callId}`,
    `CSeq: ${request.headers.get('cseq')}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export type { OutboundDialog };
