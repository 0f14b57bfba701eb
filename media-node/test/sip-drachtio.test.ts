/**
 * The drachtio adapter against a fake Srf that follows drachtio-srf's documented API (see
 * helpers/sip-fake-srf.ts). The SIPp conformance suite runs against a real drachtio-server when
 * DRACHTIO_ADDRESS is set (integ-tests/test/sip-conformance.test.ts).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadMediaNodeConfig } from '../src/config.js';
import type {
  CallDialog,
  DtmfFromSignaling,
  InboundCall,
  OutboundCallRequest,
  SignalingError,
} from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import { digestAuthorization, parseDigestChallenge } from '../src/sip/builtin/digest.js';
import { createSignaling, signalingOptionsFromConfig } from '../src/sip/create-signaling.js';
import { DrachtioSignaling } from '../src/sip/drachtio/drachtio-signaling.js';
import { FakeDialog, FakeRequest, FakeResponse, FakeSipError, FakeSrf } from './helpers/sip-fake-srf.js';
import { INJECTION, malformedCorpus } from './helpers/sip-malformed.js';

const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
const INVITE_HEADERS = {
  'Call-ID': 'abc@192.0.2.10',
  From: '"Alice" <sip:+4930111@carrier.example>;tag=f1',
  To: '<sip:+4930222@node.example>',
  'Content-Type': 'application/sdp',
  'X-Tenant-Hint': 'acme',
};

async function started(
  onInvite: (call: InboundCall) => void = () => {},
  extra: Partial<ConstructorParameters<typeof DrachtioSignaling>[0]> = {},
) {
  const srf = new FakeSrf();
  const signaling = new DrachtioSignaling({
    address: '10.0.0.9:9022',
    secret: 'cymru',
    srf,
    ackTimeoutMs: 100,
    ...extra,
  });
  await signaling.start(onInvite);
  return { srf, signaling };
}

describe('DrachtioSignaling (fake Srf)', () => {
  test('connects with address and secret; advertised from the server hostport; OPTIONS answered', async () => {
    const { srf, signaling } = await started();
    assert.deepEqual(srf.connectedWith, { host: '10.0.0.9', port: 9022, secret: 'cymru' });
    assert.deepEqual(signaling.advertised, { host: '198.51.100.20', port: 5060 });
    const options = srf.receiveOptions();
    assert.equal(options.sent[0]?.status, 200);
    assert.match(options.sent[0]?.headers?.['Allow'] ?? '', /INVITE/);
    await signaling.stop();
    assert.equal(srf.disconnected, true);
  });

  test('a refused connection rejects start()', async () => {
    const srf = new FakeSrf();
    srf.refuse = true;
    const signaling = new DrachtioSignaling({ address: '10.0.0.9', secret: 'wrong', srf });
    await assert.rejects(
      signaling.start(() => {}),
      /refused/,
    );
  });

  test('inbound call: fields, progress, answer waits for the ACK, INFO DTMF, far-end BYE', async () => {
    let call: InboundCall | undefined;
    const { srf, signaling } = await started((c) => {
      call = c;
    });
    const { res } = srf.receiveInvite({
      uri: 'sip:+4930222@node.example;user=phone',
      headers: INVITE_HEADERS,
      body: SDP,
    });
    assert.ok(call);
    assert.equal(call.callId, 'abc@192.0.2.10');
    assert.equal(call.from.user, '+4930111');
    assert.equal(call.from.displayName, 'Alice');
    assert.equal(call.requestUser, '+4930222');
    assert.equal(call.requestHost, 'node.example');
    assert.deepEqual(call.xHeaders, { 'x-tenant-hint': 'acme' });
    assert.equal(call.sdp, SDP);
    call.progress(180);
    assert.equal(res.sent[0]?.status, 180);
    let dialog: CallDialog | undefined;
    const answering = call.answer(SDP).then((d) => {
      dialog = d;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(res.sent[1]?.status, 200);
    assert.equal(dialog, undefined, 'answer() resolves on the ACK, not on the 200');
    const srfDialog = await lastDialog(srf, signaling);
    srfDialog.farEndAck();
    await answering;
    const digits: DtmfFromSignaling[] = [];
    dialog!.onDtmf((d) => digits.push(d));
    assert.equal(srfDialog.farEndInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160').sent[0]?.status, 200);
    assert.deepEqual(digits, [{ digit: '5', durationMs: 160, via: 'info' }]);
    srfDialog.farEndBye();
    assert.equal(await dialog!.ended, 'remote-bye');
    await signaling.stop();
  });

  test('no ACK → BYE and ack-timeout; CANCEL → 487 and cancelled; reject and redirect', async () => {
    const calls: InboundCall[] = [];
    const { srf, signaling } = await started((c) => calls.push(c));
    srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, body: SDP });
    const answering = calls[0]!.answer(SDP);
    const srfDialog = await lastDialog(srf, signaling);
    await assert.rejects(answering, (err: SignalingError) => err.code === 'ack-timeout');
    assert.equal(srfDialog.destroyed, true);

    const { req, res } = srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, body: SDP });
    srf.cancelInvite(req);
    assert.equal(calls[1]!.cancelled.aborted, true);
    assert.equal(res.sent[0]?.status, 487);
    await assert.rejects(calls[1]!.answer(SDP), (err: SignalingError) => err.code === 'cancelled');

    const rejected = srf.receiveInvite({ uri: 'sip:unknown@node.example', headers: INVITE_HEADERS });
    calls[2]!.reject(404, 'Not Found');
    assert.deepEqual(rejected.res.sent[0], { status: 404, reason: 'Not Found', headers: {} });
    const redirected = srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS });
    calls[3]!.redirect(['sip:b@other.example']);
    assert.equal(redirected.res.sent[0]?.headers?.['Contact'], '<sip:b@other.example>');
    await signaling.stop();
  });

  test('re-INVITE both ways: onReoffer answers through Dialog#modify; reinvite() maps SipError status', async () => {
    const calls: InboundCall[] = [];
    const { srf, signaling } = await started((c) => calls.push(c));
    srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, body: SDP });
    const answering = calls[0]!.answer(SDP);
    const srfDialog = await lastDialog(srf, signaling);
    srfDialog.farEndAck();
    const dialog = await answering;
    // Without a listener drachtio-srf itself answers with the local SDP.
    assert.equal(srfDialog.farEndReinvite(`${SDP}a=sendonly\r\n`).sent[0]?.body, SDP);
    dialog.onReoffer(async (offer) => offer.replace('sendonly', 'recvonly'));
    const res = srfDialog.farEndReinvite(`${SDP}a=sendonly\r\n`);
    await new Promise((r) => setImmediate(r));
    assert.match(res.sent[0]?.body ?? '', /a=recvonly/);
    srfDialog.modifyAnswer = async () => 'answer-sdp';
    assert.equal(await dialog.reinvite(SDP), 'answer-sdp');
    srfDialog.modifyAnswer = async () => {
      throw new FakeSipError(491, 'Request Pending');
    };
    await assert.rejects(dialog.reinvite(SDP), (err: SignalingError) => err.code === 'rejected' && err.status === 491);
    await dialog.hangup();
    assert.equal(srfDialog.destroyed, true);
    assert.equal(await dialog.ended, 'local-bye');
    await signaling.stop();
  });

  test('placeCall: progress, headers and proxy passed, auth not (answered by the adapter); failures mapped; ring timeout and abort cancel', async () => {
    const { srf, signaling } = await started();
    srf.uacScript = async ({ provisional, request }) => {
      provisional(183, 'Session Progress', SDP);
      return new FakeDialog(request.callId, SDP, 'remote-answer');
    };
    const progress: { status: number; sdp?: string }[] = [];
    const dialog = await signaling.placeCall({
      target: 'sip:+4930@trunk.example',
      from: { uri: 'sip:+4940@node.example', displayName: 'Node' },
      sdp: SDP,
      headers: { 'X-Call': '1' },
      credentials: { username: 'u', password: 'p' },
      outboundProxy: '203.0.113.5:5080',
      transport: 'tcp',
      onProgress: (p) => progress.push(p),
    });
    assert.equal(dialog.remoteSdp, 'remote-answer');
    assert.deepEqual(progress, [{ status: 183, reason: 'Session Progress', sdp: SDP }]);
    const sent = srf.uacCalls[0]!;
    assert.equal(sent.uri, 'sip:+4930@trunk.example;transport=tcp');
    assert.equal(sent.opts.proxy, 'sip:203.0.113.5:5080;transport=tcp');
    assert.equal(sent.opts.auth, undefined, "drachtio-srf's MD5-only digest client is not used");
    assert.equal(sent.opts.headers?.['From'], '"Node" <sip:+4940@node.example>');
    assert.equal(sent.opts.headers?.['X-Call'], '1');
    assert.equal(sent.opts.headers?.['Max-Forwards'], '70');

    srf.uacScript = async () => {
      throw new FakeSipError(486, 'Busy Here');
    };
    await assert.rejects(
      signaling.placeCall({ target: 'sip:b@x', from: { uri: 'sip:a@x' }, sdp: SDP }),
      (err: SignalingError) => err.code === 'rejected' && err.status === 486,
    );

    srf.uacScript = () => new Promise(() => {}); // rings forever
    await assert.rejects(
      signaling.placeCall({ target: 'sip:b@x', from: { uri: 'sip:a@x' }, sdp: SDP, ringTimeoutMs: 30 }),
      (err: SignalingError) => err.code === 'no-answer',
    );
    assert.equal(srf.uacCalls.at(-1)!.request.cancelled, true);
    const abort = new AbortController();
    const pending = signaling.placeCall({
      target: 'sip:b@x',
      from: { uri: 'sip:a@x' },
      sdp: SDP,
      signal: abort.signal,
    });
    await new Promise((r) => setImmediate(r));
    abort.abort();
    await assert.rejects(pending, (err: SignalingError) => err.code === 'cancelled');
    assert.equal(srf.uacCalls.at(-1)!.request.cancelled, true);
    await signaling.stop();
  });
});

describe('DrachtioSignaling: digest answered with the built-in code (MD5 and SHA-256)', () => {
  const challenged = (
    status: 401 | 407,
    challenges: string[],
    then: (second: FakeRequest) => Promise<FakeDialog>,
  ): FakeSrf['uacScript'] => {
    let n = 0;
    return async ({ request }) => {
      n += 1;
      if (n === 1) {
        const header = status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
        const res = FakeResponse.final(
          request,
          status,
          status === 401 ? 'Unauthorized' : 'Proxy Authentication Required',
          challenges.map((c) => [header, c]),
        );
        throw new FakeSipError(status, res.reason, res);
      }
      return then(request);
    };
  };

  for (const [status, algorithm] of [
    [401, 'SHA-256'],
    [407, 'MD5'],
  ] as const) {
    test(`${status} ${algorithm}: resent with CSeq+1, the same Call-ID and From tag, and a correct ${status === 401 ? 'Authorization' : 'Proxy-Authorization'}`, async () => {
      const { srf, signaling } = await started();
      const challenge = `Digest realm="carrier", nonce="n-${status}", qop="auth", algorithm=${algorithm}, opaque="op"`;
      srf.uacScript = challenged(status, [challenge], async (second) => new FakeDialog(second.callId, SDP, 'answer'));
      const dialog = await signaling.placeCall({
        target: 'sip:+4930@trunk.example',
        from: { uri: 'sip:+4940@node.example' },
        sdp: SDP,
        credentials: { username: 'tenant', password: 's3cret' },
        maxForwards: 42,
      });
      assert.equal(dialog.remoteSdp, 'answer');
      const [first, second] = srf.uacCalls.map((c) => c.request);
      assert.ok(first && second);
      assert.equal(second.get('call-id'), first.get('call-id'));
      assert.equal(second.get('from'), first.get('from'));
      assert.match(first.get('from') ?? '', /;tag=/);
      assert.equal(second.get('cseq'), '2 INVITE');
      assert.equal(second.get('max-forwards'), '42');
      const auth = second.get(status === 401 ? 'authorization' : 'proxy-authorization') ?? '';
      assert.match(auth, new RegExp(`algorithm=${algorithm}`));
      const cnonce = /cnonce="([^"]+)"/.exec(auth)?.[1];
      assert.ok(cnonce);
      const expected = digestAuthorization(parseDigestChallenge(challenge)!, {
        method: 'INVITE',
        uri: second.uri,
        username: 'tenant',
        password: 's3cret',
        nc: 1,
        cnonce,
      });
      assert.equal(auth, expected);
      await signaling.stop();
    });
  }

  test('of several challenges (separate header lines) the SHA-256 one is answered', async () => {
    const { srf, signaling } = await started();
    srf.uacScript = challenged(
      401,
      [
        'Digest realm="carrier", nonce="md5-nonce", qop="auth", algorithm=MD5',
        'Digest realm="carrier", nonce="sha-nonce", qop="auth", algorithm=SHA-256',
      ],
      async (second) => new FakeDialog(second.callId, SDP, 'answer'),
    );
    await signaling.placeCall({
      target: 'sip:b@trunk.example',
      from: { uri: 'sip:a@node.example' },
      sdp: SDP,
      credentials: { username: 'u', password: 'p' },
    });
    const auth = srf.uacCalls[1]?.request.get('authorization') ?? '';
    assert.match(auth, /nonce="sha-nonce"/);
    assert.match(auth, /algorithm=SHA-256/);
    await signaling.stop();
  });

  test('no credentials, or a second challenge that is not stale: rejected with the status', async () => {
    const { srf, signaling } = await started();
    const challenge = 'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256';
    srf.uacScript = challenged(401, [challenge], async () => {
      throw new FakeSipError(401, 'Unauthorized');
    });
    await assert.rejects(
      signaling.placeCall({ target: 'sip:b@x.example', from: { uri: 'sip:a@x.example' }, sdp: SDP }),
      (err: SignalingError) => err.code === 'rejected' && err.status === 401,
    );
    assert.equal(srf.uacCalls.length, 1, 'no credentials: not resent');
    srf.uacScript = challenged(401, [challenge], async ({ uri }) => {
      const res = FakeResponse.final(new FakeRequest({ uri, headers: {} }), 401, 'Unauthorized', [
        ['WWW-Authenticate', challenge],
      ]);
      throw new FakeSipError(401, 'Unauthorized', res);
    });
    await assert.rejects(
      signaling.placeCall({
        target: 'sip:b@x.example',
        from: { uri: 'sip:a@x.example' },
        sdp: SDP,
        credentials: { username: 'u', password: 'wrong' },
      }),
      (err: SignalingError) => err.code === 'rejected' && err.status === 401,
    );
    assert.equal(srf.uacCalls.length, 3, 'one retry per challenge');
    await signaling.stop();
  });
});

describe('DrachtioSignaling: the built-in validation on what drachtio-server passes on', () => {
  test('truncated after headers, OPTIONS sip:@@ and the header bomb get 400 naming the fault, not 200', async () => {
    const { srf, signaling } = await started();
    const corpus = malformedCorpus({ port: 5060 });
    const named = (name: string) => corpus.find((c) => c.name === name)!.data.toString('utf8');
    for (const [name, reason] of [
      ['no empty line after the headers', 'Missing Empty Line'],
      ['bad Request-URI', 'Bad Request-URI'],
      ['header bomb', 'Too Many Headers'],
    ] as const) {
      const delivered = srf.receiveRaw(named(name));
      assert.ok(delivered, `${name}: drachtio-srf's parser lets it through`);
      assert.deepEqual(delivered.res.sent, [{ status: 400, reason }], name);
    }
    await signaling.stop();
  });

  for (const method of ['OPTIONS', 'INVITE']) {
    test(`${method}: every malformed request drachtio-srf hands over is answered as the built-in stack answers it`, async () => {
      const seen: InboundCall[] = [];
      const { srf, signaling } = await started((c) => seen.push(c));
      for (const c of malformedCorpus({ port: 5060, method })) {
        const delivered = srf.receiveRaw(c.data.toString('utf8'));
        if (!delivered) continue; // drachtio-srf's own parser drops it
        const sent = delivered.res.sent;
        assert.equal(sent.length, 1, `${method} ${c.name}: answered once`);
        if (c.answer) assert.deepEqual([sent[0]?.status, sent[0]?.reason], [c.answer.status, c.answer.reason], c.name);
        else assert.ok(sent[0]!.status >= 400 && sent[0]!.reason, `${method} ${c.name}: a fault named`);
      }
      assert.equal(seen.length, 0, 'no malformed INVITE reaches the application');
      const good = srf.receiveRaw(
        malformedCorpus({ port: 5060, method })[0]!.data.toString('utf8').replace('SIP/7.0', 'SIP/2.0'),
      );
      if (method === 'OPTIONS') assert.equal(good?.res.sent[0]?.status, 200, 'a well-formed OPTIONS is answered 200');
      else assert.equal(seen.length, 1, 'a well-formed INVITE reaches the application');
      await signaling.stop();
    });
  }
});

describe('DrachtioSignaling: text from the call core, Max-Forwards, per-source rate', () => {
  const invalidInput = (err: unknown): boolean => (err as SignalingError).code === 'invalid-input';

  test('reject() and redirect() refuse the injection string before anything is sent; clean ones go out', async () => {
    const calls: InboundCall[] = [];
    const { srf, signaling } = await started((c) => calls.push(c));
    const { res } = srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, body: SDP });
    const call = calls[0]!;
    assert.throws(() => call.reject(486, INJECTION), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { 'X-Reason': INJECTION }), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { [`X-A: b\r\n${INJECTION}`]: 'v' }), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { 'Call-ID': 'other' }), invalidInput);
    assert.throws(() => call.redirect([`sip:b@x.example\r\n${INJECTION}`]), invalidInput);
    assert.throws(() => call.redirect([]), invalidInput);
    assert.deepEqual(res.sent, [], 'nothing reached drachtio-server');
    call.reject(486, 'Busy Here', { 'X-Reason': 'busy' });
    assert.deepEqual(res.sent, [{ status: 486, reason: 'Busy Here', headers: { 'X-Reason': 'busy' } }]);
    await signaling.stop();
  });

  test('placeCall() refuses the injection string in headers, From and target, and a bad maxForwards', async () => {
    const { srf, signaling } = await started();
    const base = { target: 'sip:b@trunk.example', from: { uri: 'sip:a@node.example' }, sdp: SDP };
    const changes: Partial<OutboundCallRequest>[] = [
      { headers: { 'X-Tenant': INJECTION } },
      { headers: { Via: 'SIP/2.0/UDP evil' } },
      { from: { uri: 'sip:a@node.example', displayName: INJECTION } },
      { target: `sip:b@trunk.example\r\n${INJECTION}` },
      { maxForwards: 300 },
    ];
    for (const change of changes) {
      await assert.rejects(signaling.placeCall({ ...base, ...change }), invalidInput, JSON.stringify(change));
    }
    assert.equal(srf.uacCalls.length, 0);
    await signaling.stop();
  });

  test('InboundCall.maxForwards as received (70 when absent); Max-Forwards 0 → 483 before the app', async () => {
    const calls: InboundCall[] = [];
    const { srf, signaling } = await started((c) => calls.push(c));
    srf.receiveInvite({ uri: 'sip:a@node.example', headers: { ...INVITE_HEADERS, 'Max-Forwards': '12' } });
    srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS });
    assert.deepEqual(
      calls.map((c) => c.maxForwards),
      [12, 70],
    );
    const { res } = srf.receiveInvite({
      uri: 'sip:a@node.example',
      headers: { ...INVITE_HEADERS, 'Max-Forwards': '0' },
    });
    assert.equal(res.sent[0]?.status, 483);
    assert.equal(calls.length, 2);
    await signaling.stop();
  });

  test('per-source INVITE rate: over it 503 with Retry-After; another source still reaches the app', async () => {
    const calls: InboundCall[] = [];
    const { srf, signaling } = await started((c) => calls.push(c), { inviteRateLimit: { perSecond: 2, burst: 2 } });
    const flood = Array.from({ length: 5 }, () =>
      srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, source_address: '203.0.113.66' }),
    );
    srf.receiveInvite({ uri: 'sip:a@node.example', headers: INVITE_HEADERS, source_address: '203.0.113.7' });
    assert.deepEqual(
      calls.map((c) => c.source.address),
      ['203.0.113.66', '203.0.113.66', '203.0.113.7'],
    );
    const refused = flood.slice(2).map(({ res }) => res.sent[0]);
    for (const r of refused) {
      assert.equal(r?.status, 503);
      assert.match(r?.headers?.['Retry-After'] ?? '', /^\d+$/);
    }
    await signaling.stop();
  });
});

describe('createSignaling', () => {
  test('builds the adapter named by kind', () => {
    assert.ok(createSignaling({ kind: 'builtin', port: 0 }) instanceof BuiltinSignaling);
    assert.ok(
      createSignaling({ kind: 'drachtio', address: '127.0.0.1:9022', secret: 's' }) instanceof DrachtioSignaling,
    );
  });

  // The options come from the media node's configuration, parsed once (config.ts checks the values).
  const BASE_ENV = { TABLE_NAME: 'sipms', PROMPT_STORE: 'dir:/tmp/p', CACHE_DIR: '/tmp/c', RUN_DIR: '/tmp/r' };
  /** The options without the address-policy function (checked on its own below). */
  const optionsFor = (env: Record<string, string>) => {
    const options = signalingOptionsFromConfig(loadMediaNodeConfig({ ...BASE_ENV, ...env }));
    if (options.kind === 'drachtio') return options;
    const { destinationPolicy: _policy, ...rest } = options;
    return rest;
  };

  test('the built-in stack gets the outbound address policy of the configuration', () => {
    const options = signalingOptionsFromConfig(
      loadMediaNodeConfig({ ...BASE_ENV, CALLBACK_URL_POLICY: 'public-https', OUTBOUND_ALLOW_CIDRS: '10.9.0.0/16' }),
    );
    assert.equal(options.kind, 'builtin');
    const policy = options.kind === 'builtin' ? options.destinationPolicy : undefined;
    assert.match(policy?.('169.254.169.254') ?? '', /link-local/);
    assert.equal(policy?.('10.9.1.1'), undefined, 'an operator-allowed range');
    assert.equal(policy?.('8.8.8.8'), undefined);
  });

  test('configuration mapping', () => {
    const rate = { inviteRateLimit: { perSecond: 50, burst: 100 } };
    assert.deepEqual(optionsFor({ SIGNALING: 'drachtio', DRACHTIO_ADDRESS: 'd:9022', DRACHTIO_SECRET: 'x' }), {
      kind: 'drachtio',
      address: 'd:9022',
      secret: 'x',
      ...rate,
    });
    assert.deepEqual(
      optionsFor({
        SIGNALING: 'drachtio',
        DRACHTIO_ADDRESS: 'd:9022',
        DRACHTIO_SECRET: 'x',
        SIP_ADVERTISED_HOST: '203.0.113.1',
        SIP_ADVERTISED_PORT: '5080',
      }),
      { kind: 'drachtio', address: 'd:9022', secret: 'x', advertised: { host: '203.0.113.1', port: 5080 }, ...rate },
    );
    assert.throws(() => optionsFor({ SIGNALING: 'drachtio' }), /DRACHTIO_ADDRESS.*DRACHTIO_SECRET/);
    assert.deepEqual(optionsFor({ SIP_PORT: '5070', SIP_TRANSPORTS: 'udp', SIP_ADVERTISED_HOST: '203.0.113.1' }), {
      kind: 'builtin',
      bindHost: '127.0.0.1',
      port: 5070,
      transports: ['udp'],
      advertisedHost: '203.0.113.1',
      ...rate,
      maxConnectionsPerAddress: 64,
      sessionExpiresSec: 1800,
      sessionMinSeSec: 90,
    });
    assert.deepEqual(optionsFor({}), {
      kind: 'builtin',
      bindHost: '127.0.0.1',
      port: 5060,
      transports: ['udp', 'tcp'],
      ...rate,
      maxConnectionsPerAddress: 64,
      sessionExpiresSec: 1800,
      sessionMinSeSec: 90,
    });
    const limited = optionsFor({
      SIP_INVITE_RATE_PER_SOURCE: '20',
      SIP_INVITE_BURST_PER_SOURCE: '30',
      SIP_MAX_CONNECTIONS_PER_ADDRESS: '8',
    });
    assert.deepEqual(limited.kind === 'builtin' && limited.inviteRateLimit, { perSecond: 20, burst: 30 });
    assert.equal(limited.kind === 'builtin' && limited.maxConnectionsPerAddress, 8);
    const timers = optionsFor({ SESSION_EXPIRES_SEC: '4', SESSION_MIN_SE_SEC: '2' });
    assert.deepEqual(timers.kind === 'builtin' && [timers.sessionExpiresSec, timers.sessionMinSeSec], [4, 2]);
    assert.throws(() => optionsFor({ SESSION_EXPIRES_SEC: '1' }), /SESSION_EXPIRES_SEC/);
    assert.throws(() => optionsFor({ SESSION_EXPIRES_SEC: '60' }), /SESSION_MIN_SE_SEC must not exceed/);
    const off = optionsFor({ SIP_INVITE_RATE_PER_SOURCE: '0' });
    assert.equal('inviteRateLimit' in off, false, 'rate 0: no limit');
    assert.throws(() => optionsFor({ SIP_INVITE_RATE_PER_SOURCE: '-1' }), /SIP_INVITE_RATE_PER_SOURCE/);
    assert.throws(() => optionsFor({ SIP_INVITE_BURST_PER_SOURCE: '0' }), /SIP_INVITE_BURST_PER_SOURCE/);
    assert.throws(() => optionsFor({ SIP_INVITE_BURST_PER_SOURCE: 'many' }), /SIP_INVITE_BURST_PER_SOURCE/);
    assert.throws(() => optionsFor({ SIP_MAX_CONNECTIONS_PER_ADDRESS: '0' }), /SIP_MAX_CONNECTIONS_PER_ADDRESS/);
    assert.throws(() => optionsFor({ SIP_TRANSPORTS: 'udp,tls' }), /SIP_TLS_CERT: TLS needs both/);
    assert.throws(() => optionsFor({ SIP_TRANSPORTS: 'udp,sctp' }), /SIP_TRANSPORTS/);
    assert.throws(() => optionsFor({ SIP_ADVERTISED_PORT: '70000' }), /SIP_ADVERTISED_PORT/);
    assert.throws(() => optionsFor({ SIGNALING: 'kamailio' }), /SIGNALING/);
  });

  test('TLS: the certificate and key files are read once, by the configuration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sip-tls-config-'));
    try {
      writeFileSync(join(dir, 'cert.pem'), 'CERT');
      writeFileSync(join(dir, 'key.pem'), 'KEY');
      const files = { SIP_TLS_CERT: join(dir, 'cert.pem'), SIP_TLS_KEY: join(dir, 'key.pem') };
      const config = loadMediaNodeConfig({ ...BASE_ENV, ...files, SIP_TLS_PORT: '5062' });
      assert.deepEqual(config.sipTransports, ['udp', 'tcp', 'tls'], 'a certificate turns TLS on by default');
      rmSync(dir, { recursive: true, force: true });
      const options = signalingOptionsFromConfig(config);
      assert.equal(options.kind, 'builtin');
      assert.deepEqual(options.kind === 'builtin' ? options.tls : undefined, {
        cert: Buffer.from('CERT'),
        key: Buffer.from('KEY'),
        port: 5062,
      });
      assert.deepEqual(options.kind === 'builtin' ? options.transports : undefined, ['udp', 'tcp']);
      assert.throws(() => loadMediaNodeConfig({ ...BASE_ENV, ...files }), /SIP_TLS_CERT: cannot read .*cert\.pem/);
      assert.equal(
        loadMediaNodeConfig({ ...BASE_ENV, ...files, SIP_TRANSPORTS: 'udp,tcp' }).sipTls,
        undefined,
        'not listed: not read',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The FakeDialog the adapter got from createUAS (the adapter tracks it through DrachtioDialog). */
async function lastDialog(srf: FakeSrf, _signaling: DrachtioSignaling): Promise<FakeDialog> {
  for (let i = 0; i < 50; i++) {
    const dialog = srf.uasDialogs.at(-1);
    if (dialog) return dialog;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('no dialog created');
}
