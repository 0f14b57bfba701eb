import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { CallDialog, DtmfFromSignaling, InboundCall } from '../src/ports/signaling.js';
import { SignalingError } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import { DEFAULT_PARSE_LIMITS } from '../src/sip/builtin/parser.js';
import type { Transport } from '../src/sip/builtin/transport.js';
import { UserAgent } from '../src/sip/builtin/user-agent.js';
import { type CallParams, randomId, SipTestClient, TEST_SDP } from './helpers/sip-test-client.js';

const ANSWER_SDP = TEST_SDP.replace('40000', '41000');
// T1 = 50 ms: 64*T1 = 3.2 s, so the ACK-timeout test stays short.
const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };

type InviteBehaviour = (call: InboundCall) => void;

describe('BuiltinSignaling over UDP', () => {
  let signaling: BuiltinSignaling;
  let client: SipTestClient;
  let behaviour: InviteBehaviour;
  const calls: InboundCall[] = [];
  const answered: Promise<CallDialog>[] = [];

  const answerAlways: InviteBehaviour = (call) => {
    const dialog = call.answer(ANSWER_SDP);
    dialog.catch(() => {});
    answered.push(dialog);
  };

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await signaling.start((call) => {
      calls.push(call);
      behaviour(call);
    });
    client = await SipTestClient.open(signaling.advertised.port);
  });

  after(async () => {
    client.close();
    await signaling.stop();
  });

  /** INVITE → 100 → 200 → ACK; returns the dialog as both sides see it. */
  async function establishCall(): Promise<{ p: CallParams; toTag: string; dialog: CallDialog }> {
    behaviour = answerAlways;
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, ['Content-Type: application/sdp'], TEST_SDP));
    await client.waitForResponse(100, 'INVITE', p.callId);
    const ok = await client.waitForResponse(200, 'INVITE', p.callId);
    const toTag = ok.to.tag!;
    client.send(client.request('ACK', { ...p, branch: `z9hG4bK${randomId()}`, toTag }));
    const dialog = await answered.at(-1)!;
    return { p, toTag, dialog };
  }

  /** hangup() with the test client answering the BYE. */
  async function hangupAnswered(dialog: CallDialog): Promise<void> {
    const hangup = dialog.hangup();
    client.respondTo(await client.waitForRequest('BYE', dialog.callId));
    await hangup;
  }

  test('INVITE gets 100 Trying, then 200 with SDP and Contact; ACK resolves answer()', async () => {
    const { dialog, toTag } = await establishCall();
    assert.equal(dialog.localTag, toTag);
    const call = calls.at(-1)!;
    assert.equal(call.requestUser, 'service');
    assert.equal(call.from.displayName, 'Test Client');
    assert.equal(call.sdp, TEST_SDP);
    await hangupAnswered(dialog);
  });

  test('InboundCall exposes X- headers and the unescaped request user', async () => {
    behaviour = (call) => call.reject(486);
    const p = client.dialogParams();
    const uri = `sip:%2B4912345@127.0.0.1:${signaling.advertised.port}`;
    client.send(client.request('INVITE', { ...p, uri }, ['X-Tenant: acme', 'x-trace: 1']));
    const busy = await client.waitForResponse(486, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, uri, toTag: busy.to.tag! }));
    const call = calls.at(-1)!;
    assert.equal(call.requestUser, '+4912345');
    assert.deepEqual(call.xHeaders, { 'X-Tenant': 'acme', 'x-trace': '1' });
  });

  test('200 is retransmitted without ACK, then BYE after 64*T1 and answer() rejects', async () => {
    behaviour = answerAlways;
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, ['Content-Type: application/sdp'], TEST_SDP));
    await client.waitForResponse(100, 'INVITE', p.callId);
    const first = await client.waitForResponse(200, 'INVITE', p.callId);
    assert.equal(first.headers.get('content-type'), 'application/sdp');
    assert.match(first.headers.get('contact')!, /^<sip:service@127\.0\.0\.1:\d+>$/);
    assert.equal(first.body.toString(), ANSWER_SDP);
    const answer = answered.at(-1)!;
    const bye = await client.waitForRequest('BYE', p.callId, 5000);
    assert.equal(bye.callId, p.callId);
    assert.equal(bye.headers.get('max-forwards'), '70');
    assert.match(bye.headers.get('via')!, /;branch=z9hG4bK[^;]+;rport/);
    const retransmissions = client.count((m) => m.type === 'response' && m.status === 200 && m.callId === p.callId);
    assert.ok(retransmissions >= 5, `expected several 200 retransmissions, got ${retransmissions}`);
    client.respondTo(bye);
    await assert.rejects(answer, (err) => err instanceof SignalingError && err.code === 'ack-timeout');
  });

  test('CANCEL gets 200, the INVITE 487, and the call is cancelled', async () => {
    let cancelledCall: InboundCall | undefined;
    behaviour = (call) => {
      cancelledCall = call;
      call.progress(180);
    };
    const p = client.dialogParams();
    client.send(client.request('INVITE', p));
    const ringing = await client.waitForResponse(180, 'INVITE', p.callId);
    assert.ok(ringing.to.tag);
    client.send(client.request('CANCEL', p));
    await client.waitForResponse(200, 'CANCEL', p.callId);
    const terminated = await client.waitForResponse(487, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, toTag: terminated.to.tag! }));
    assert.equal(cancelledCall?.cancelled.aborted, true);
    await assert.rejects(
      cancelledCall!.answer(ANSWER_SDP),
      (err) => err instanceof SignalingError && err.code === 'cancelled',
    );
  });

  test('CANCEL matching nothing gets 481', async () => {
    const p = client.dialogParams();
    client.send(client.request('CANCEL', p));
    await client.waitForResponse(481, 'CANCEL', p.callId);
  });

  test('OPTIONS gets 200 with Allow and Accept', async () => {
    const p = client.dialogParams();
    client.send(client.request('OPTIONS', p));
    const ok = await client.waitForResponse(200, 'OPTIONS', p.callId);
    assert.equal(ok.headers.get('allow'), 'INVITE');
    assert.deepEqual(ok.headers.getAll('allow'), ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'UPDATE']);
    assert.deepEqual(ok.headers.getAll('supported'), ['timer']);
    assert.match(ok.headers.lines('accept')[0]!, /application\/dtmf-relay/);
  });

  test('BYE in an unknown dialog gets 481', async () => {
    const p = client.dialogParams();
    client.send(client.request('BYE', { ...p, toTag: 'nosuchtag' }));
    await client.waitForResponse(481, 'BYE', p.callId);
  });

  test('Max-Forwards: 0 gets 483, but OPTIONS is answered', async () => {
    const p = client.dialogParams();
    client.send(client.request('INVITE', p).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
    const tooMany = await client.waitForResponse(483, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, toTag: tooMany.to.tag! }));
    const q = client.dialogParams();
    client.send(client.request('OPTIONS', q).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
    await client.waitForResponse(200, 'OPTIONS', q.callId);
  });

  test('unsupported methods get 405 with Allow, unknown ones 501, Require 420', async () => {
    const register = client.dialogParams();
    client.send(client.request('REGISTER', register));
    const notAllowed = await client.waitForResponse(405, 'REGISTER', register.callId);
    assert.ok(notAllowed.headers.has('allow'));
    const foobar = client.dialogParams();
    client.send(client.request('FOOBAR', foobar));
    await client.waitForResponse(501, 'FOOBAR', foobar.callId);
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, ['Require: 100rel, timer']));
    const bad = await client.waitForResponse(420, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, toTag: bad.to.tag! }));
    assert.equal(bad.headers.lines('unsupported')[0], '100rel', 'timer is supported (RFC 4028)');
  });

  test('garbage is survived and answered with 400 when possible; the next call works', async () => {
    client.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a]));
    client.send('INVITE sip:x@y SIP/2.0\r\n\r\n');
    const p = client.dialogParams();
    client.send(client.request('INVITE', p).replace('Content-Length: 0', 'Content-Length: 20'));
    const bad = await client.waitForResponse(400, 'INVITE', p.callId);
    assert.equal(bad.reason, 'Content-Length Mismatch');
    const { dialog } = await establishCall();
    await hangupAnswered(dialog);
  });

  test('rport: responses go to the source port, with rport filled in', async () => {
    const p = client.dialogParams();
    const lying = client
      .request('OPTIONS', p)
      .replace(`127.0.0.1:${client.port};branch`, '127.0.0.1:9;branch')
      .replace('Max-Forwards: 70', 'Max-Forwards: 69');
    client.send(lying);
    const ok = await client.waitForResponse(200, 'OPTIONS', p.callId);
    assert.equal(ok.vias[0]!.rport, client.port);
    assert.equal(ok.vias[0]!.received, undefined);
  });

  test('INFO dtmf-relay and application/dtmf reach onDtmf; other INFO gets 200', async () => {
    const { p, toTag, dialog } = await establishCall();
    const digits: DtmfFromSignaling[] = [];
    dialog.onDtmf((d) => digits.push(d));
    const info = (cseq: number, type: string, body: string): string =>
      client.request('INFO', { ...p, cseq, toTag, branch: `z9hG4bK${randomId()}` }, [`Content-Type: ${type}`], body);
    client.send(info(2, 'application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'));
    await client.waitForResponse(200, 'INFO', p.callId);
    client.send(info(3, 'application/dtmf', '#'));
    await client.waitForResponse(200, 'INFO', p.callId);
    client.send(info(4, 'application/media_control+xml', '<x/>'));
    await client.waitForResponse(200, 'INFO', p.callId);
    assert.deepEqual(digits, [
      { digit: '5', durationMs: 160, via: 'info' },
      { digit: '#', durationMs: 100, via: 'info' },
    ]);
    // A lower CSeq than the last one is out of order (§12.2.2).
    client.send(info(3, 'application/dtmf', '1'));
    await client.waitForResponse(500, 'INFO', p.callId);
    await hangupAnswered(dialog);
  });

  test('re-INVITE with SDP is answered by the onReoffer listener, 488 when it throws', async () => {
    const { p, toTag, dialog } = await establishCall();
    const offers: string[] = [];
    dialog.onReoffer(async (sdp) => {
      offers.push(sdp);
      if (offers.length > 1) throw new Error('no');
      return ANSWER_SDP.replace('41000', '42000');
    });
    const reinvite = (cseq: number, branch: string): string =>
      client.request('INVITE', { ...p, cseq, toTag, branch }, ['Content-Type: application/sdp'], TEST_SDP);
    const branch = `z9hG4bK${randomId()}`;
    client.send(reinvite(2, branch));
    const ok = await client.waitForResponse(200, 'INVITE', p.callId);
    assert.match(ok.body.toString(), /m=audio 42000/);
    client.send(client.request('ACK', { ...p, cseq: 2, toTag, branch: `z9hG4bK${randomId()}` }));
    client.send(reinvite(3, `z9hG4bK${randomId()}`));
    const refused = await client.waitForResponse(488, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, cseq: 3, toTag, branch: refused.vias[0]!.branch! }));
    assert.equal(offers.length, 2);
    await hangupAnswered(dialog);
  });

  test('remote BYE ends the dialog with remote-bye', async () => {
    const { p, toTag, dialog } = await establishCall();
    client.send(client.request('BYE', { ...p, cseq: 2, toTag, branch: `z9hG4bK${randomId()}` }));
    await client.waitForResponse(200, 'BYE', p.callId);
    assert.equal(await dialog.ended, 'remote-bye');
  });

  test('hangup() sends BYE that the peer answers; ended is local-bye', async () => {
    const { p, dialog } = await establishCall();
    const hangup = dialog.hangup();
    const bye = await client.waitForRequest('BYE', p.callId);
    assert.equal(bye.callId, p.callId);
    assert.equal(bye.uri, `sip:alice@127.0.0.1:${client.port}`);
    assert.equal(bye.to.tag, p.fromTag);
    assert.equal(bye.from.tag, dialog.localTag);
    client.respondTo(bye);
    await hangup;
    assert.equal(await dialog.ended, 'local-bye');
  });

  test('start() names the address when the port is taken', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(0, '127.0.0.1', resolve));
    const port = blocker.address().port;
    const second = new BuiltinSignaling({ bindHost: '127.0.0.1', port });
    await assert.rejects(
      second.start(() => {}),
      new RegExp(`127\\.0\\.0\\.1:${port}.*in use`),
    );
    blocker.close();
  });
});

describe('BuiltinSignaling.stop()', () => {
  test('sends BYE on open dialogs, refuses unanswered INVITEs with 503, and closes', async () => {
    const signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    const dialogs: Promise<CallDialog>[] = [];
    await signaling.start((call) => {
      if (call.requestUser === 'service') dialogs.push(call.answer(ANSWER_SDP));
    });
    const client = await SipTestClient.open(signaling.advertised.port);
    try {
      const p = client.dialogParams();
      client.send(client.request('INVITE', p, ['Content-Type: application/sdp'], TEST_SDP));
      const ok = await client.waitForResponse(200, 'INVITE', p.callId);
      client.send(client.request('ACK', { ...p, branch: `z9hG4bK${randomId()}`, toTag: ok.to.tag! }));
      const dialog = await dialogs[0]!;
      const q = client.dialogParams();
      client.send(client.request('INVITE', { ...q, uri: `sip:other@127.0.0.1:${signaling.advertised.port}` }));
      await client.waitForResponse(100, 'INVITE', q.callId);

      const stopping = signaling.stop();
      client.respondTo(await client.waitForRequest('BYE', p.callId));
      await client.waitForResponse(503, 'INVITE', q.callId);
      await stopping;
      assert.equal(await dialog.ended, 'shutdown');
    } finally {
      client.close();
    }
  });
});

describe('UserAgent robustness', () => {
  test('mutated requests never raise an unexpected error inside the UA core', async () => {
    const errors: unknown[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (obj: unknown) => errors.push(obj) };
    let sent = 0;
    let live = { callId: 'fuzz@x', tag: 'tt' };
    const transport: Transport = {
      protocol: 'udp',
      onMessage: () => {},
      local: { address: '127.0.0.1', port: 5060 },
      listen: async () => {},
      send: async (message) => {
        sent++;
        // Learn the dialog of an answered INVITE so mutated in-dialog requests reach it.
        if (message.type === 'response' && message.status === 200 && /INVITE/.test(message.headers.get('cseq') ?? '')) {
          live = {
            callId: message.headers.get('call-id')!,
            tag: /tag=([^;>]+)$/.exec(message.headers.get('to')!)?.[1] ?? '',
          };
        }
      },
      close: async () => {},
    };
    const ua = new UserAgent(transport, {
      advertised: { host: '127.0.0.1', port: 5060 },
      timers: TIMERS,
      logger,
      limits: DEFAULT_PARSE_LIMITS,
      // Mutated hostnames must not reach the system resolver.
      lookupHost: async (host) => {
        throw new Error(`no DNS in this test (${host})`);
      },
    });
    let n = 0;
    ua.start((call) => {
      n++;
      if (n % 3 === 0) call.reject(486);
      else call.answer(ANSWER_SDP).catch(() => {});
    });
    let seed = 7;
    const random = (k: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % k;
    };
    const source = { address: '127.0.0.1', port: 5999, transport: 'udp' as const };
    /** A request; initial INVITEs open call `callId`, everything else targets the last answered dialog. */
    const request = (method: string, extra: string[], body = '', initial = false, callId = 'fuzz@x'): string =>
      [
        `${method} sip:svc@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK${random(1e9)};rport`,
        'From: "F" <sip:a@127.0.0.1:5999>;tag=ft',
        `To: <sip:svc@127.0.0.1>${initial ? '' : `;tag=${live.tag}`}`,
        `Call-ID: ${initial ? callId : live.callId}`,
        `CSeq: ${initial || method === 'ACK' ? 1 : 2 + random(3)} ${method}`,
        'Contact: <sip:a@127.0.0.1:5999>',
        'Record-Route: <sip:proxy.example.com;lr>, <sip:10.0.0.1>',
        ...extra,
        `Content-Length: ${body.length}`,
        '',
        body,
      ].join('\r\n');
    const seeds = (): string[] => [
      request('INVITE', ['Content-Type: application/sdp'], TEST_SDP, true),
      request('INVITE', ['Content-Type: application/sdp'], TEST_SDP),
      request('BYE', []),
      request('INFO', ['Content-Type: application/dtmf-relay'], 'Signal=5\r\nDuration=160'),
      request('INFO', ['Content-Type: application/dtmf'], '#'),
      request('CANCEL', [], '', true),
      request('ACK', []),
      request('OPTIONS', ['Require: foo']),
    ];
    for (let i = 0; i < 3000; i++) {
      if (i % 10 === 0) {
        // A valid call, so the mutated in-dialog requests have a live dialog to hit.
        ua.receive(Buffer.from(request('INVITE', [], '', true, `c${i}`)), source);
        ua.receive(Buffer.from(request('ACK', [])), source);
      }
      const all = seeds();
      const data = Buffer.from(all[random(all.length)]!);
      for (let m = 0; m < 1 + random(4); m++) {
        data[random(data.length)] = ':;,<>"@[]%= \r\n\0'.charCodeAt(random(15)) || random(256);
      }
      ua.receive(data, source);
    }
    await ua.shutdown(50);
    assert.deepEqual(errors, []);
    assert.ok(sent > 0);
  });
});
