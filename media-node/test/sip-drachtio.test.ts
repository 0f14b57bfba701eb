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
import type { CallDialog, DtmfFromSignaling, InboundCall, SignalingError } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import { createSignaling, signalingOptionsFromConfig } from '../src/sip/create-signaling.js';
import { DrachtioSignaling } from '../src/sip/drachtio/drachtio-signaling.js';
import { FakeDialog, FakeSipError, FakeSrf } from './helpers/sip-fake-srf.js';

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

  test('placeCall: progress, headers, proxy and auth passed; failures mapped; ring timeout and abort cancel', async () => {
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
    assert.deepEqual(sent.opts.auth, { username: 'u', password: 'p' });
    assert.equal(sent.opts.headers?.['From'], '"Node" <sip:+4940@node.example>');
    assert.equal(sent.opts.headers?.['X-Call'], '1');

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

describe('createSignaling', () => {
  test('builds the adapter named by kind', () => {
    assert.ok(createSignaling({ kind: 'builtin', port: 0 }) instanceof BuiltinSignaling);
    assert.ok(
      createSignaling({ kind: 'drachtio', address: '127.0.0.1:9022', secret: 's' }) instanceof DrachtioSignaling,
    );
  });

  // The options come from the media node's configuration, parsed once (config.ts checks the values).
  const BASE_ENV = { TABLE_NAME: 'sipms', PROMPT_STORE: 'dir:/tmp/p', CACHE_DIR: '/tmp/c', RUN_DIR: '/tmp/r' };
  const optionsFor = (env: Record<string, string>) =>
    signalingOptionsFromConfig(loadMediaNodeConfig({ ...BASE_ENV, ...env }));

  test('configuration mapping', () => {
    assert.deepEqual(optionsFor({ SIGNALING: 'drachtio', DRACHTIO_ADDRESS: 'd:9022', DRACHTIO_SECRET: 'x' }), {
      kind: 'drachtio',
      address: 'd:9022',
      secret: 'x',
    });
    assert.deepEqual(
      optionsFor({
        SIGNALING: 'drachtio',
        DRACHTIO_ADDRESS: 'd:9022',
        DRACHTIO_SECRET: 'x',
        SIP_ADVERTISED_HOST: '203.0.113.1',
        SIP_ADVERTISED_PORT: '5080',
      }),
      { kind: 'drachtio', address: 'd:9022', secret: 'x', advertised: { host: '203.0.113.1', port: 5080 } },
    );
    assert.throws(() => optionsFor({ SIGNALING: 'drachtio' }), /DRACHTIO_ADDRESS.*DRACHTIO_SECRET/);
    assert.deepEqual(optionsFor({ SIP_PORT: '5070', SIP_TRANSPORTS: 'udp', SIP_ADVERTISED_HOST: '203.0.113.1' }), {
      kind: 'builtin',
      bindHost: '127.0.0.1',
      port: 5070,
      transports: ['udp'],
      advertisedHost: '203.0.113.1',
    });
    assert.deepEqual(optionsFor({}), {
      kind: 'builtin',
      bindHost: '127.0.0.1',
      port: 5060,
      transports: ['udp', 'tcp'],
    });
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
