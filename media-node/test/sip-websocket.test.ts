// SIP over WebSocket (RFC 7118) on the built-in stack: the real BuiltinSignaling and a real WebSocket client
// (the `ws` package, as a browser's SIP stack would speak). The credential check is a fake authorizer (a map of
// tokens): the real one, SipCredentialStore.verify against the table, is tested in shared/test and end to end
// by integ-tests/test/softphone.test.ts.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { InboundCall, SourcePrincipal } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import type { ParsedMessage, ParsedRequest, ParsedResponse } from '../src/sip/builtin/message.js';
import { parseMessage } from '../src/sip/builtin/parser.js';
import { randomId, TEST_SDP } from './helpers/sip-test-client.js';
import { selfSignedCert } from './helpers/sip-tls-cert.js';

const GOOD: SourcePrincipal = { tenantId: 't-1', credentialId: 'sc_one', expiresAtMs: Date.now() + 600_000 };
const TOKENS = new Map<string, SourcePrincipal>([
  ['good-token', GOOD],
  ['expired-token', { ...GOOD, credentialId: 'sc_old', expiresAtMs: Date.now() - 1 }],
]);

/** A browser-like SIP client on one WebSocket: collects parsed messages, sends text frames. */
class WsSipClient {
  readonly messages: ParsedMessage[] = [];
  private wake: (() => void) | undefined;
  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false, 'SIP goes out in text frames');
      this.messages.push(parseMessage(data));
      this.wake?.();
    });
  }

  static open(port: number, token = 'good-token', protocol: string | undefined = 'sip'): Promise<WsSipClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=${encodeURIComponent(token)}`, protocol ? [protocol] : []);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsSipClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.send(text);
  }

  async waitFor<T extends ParsedMessage>(match: (m: ParsedMessage) => boolean, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0] as T;
      if (Date.now() > deadline) throw new Error('timed out waiting for a SIP message over the WebSocket');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** The refusal an upgrade gets: the HTTP status, or 101 when the WebSocket opened. */
async function upgradeStatus(port: number, token: string | undefined, protocol: string | undefined = 'sip') {
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`, protocol ? [protocol] : []);
  return new Promise<number>((resolve) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

function invite(callId: string, branch: string, fromTag: string, user = '+15550001'): string {
  const body = TEST_SDP;
  return [
    `INVITE sip:${user}@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=${branch}`,
    'Max-Forwards: 69',
    `From: <sip:softphone-sc_one@tenant.example>;tag=${fromTag}`,
    `To: <sip:${user}@127.0.0.1>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    'Contact: <sip:abc@df7jal23ls0d.invalid;transport=ws;ob>',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** The ACK of our 200 OK to `invite()`, sent as a browser would (its Via host is `.invalid`). */
function ackFor(ok: ParsedResponse, target: string): string {
  return [
    `ACK ${target} SIP/2.0`,
    `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK${randomId()}`,
    'Max-Forwards: 69',
    `From: ${ok.headers.get('from')}`,
    `To: ${ok.headers.get('to')}`,
    `Call-ID: ${ok.callId}`,
    'CSeq: 1 ACK',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('SIP over WebSocket (RFC 7118): admission, limits and a whole call', () => {
  let stack: BuiltinSignaling;
  let port: number;
  const calls: InboundCall[] = [];
  let wake: (() => void) | undefined;

  before(async () => {
    stack = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      transports: ['udp'],
      maxConnectionsPerAddress: 3,
      webSocket: { port: 0, secure: false, authorize: async (token) => TOKENS.get(token) },
    });
    await stack.start((call) => {
      calls.push(call);
      wake?.();
    });
    port = stack.localOf('ws')!.port;
  });

  after(async () => {
    await stack.stop();
  });

  async function nextCall(): Promise<InboundCall> {
    const deadline = Date.now() + 3000;
    while (calls.length === 0) {
      if (Date.now() > deadline) throw new Error('no INVITE reached the application');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    return calls.shift()!;
  }

  test('an upgrade needs the "sip" subprotocol and a valid, unexpired credential; plain HTTP gets 426', async () => {
    assert.equal(await upgradeStatus(port, undefined), 401, 'no token');
    assert.equal(await upgradeStatus(port, 'not-a-token'), 401, 'unknown token');
    assert.equal(await upgradeStatus(port, 'expired-token'), 401, 'expired credential');
    assert.equal(await upgradeStatus(port, 'good-token', 'chat'), 400, 'wrong subprotocol');
    assert.equal(await upgradeStatus(port, 'good-token'), 101);
    const status = await new Promise<number>((resolve) =>
      httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).end(),
    );
    assert.equal(status, 426);
  });

  test('a whole call: INVITE with the principal, 200 and ACK over the socket, our BYE over the same socket', async () => {
    const client = await WsSipClient.open(port);
    const callId = `${randomId()}@df7jal23ls0d.invalid`;
    const fromTag = randomId();
    client.send(invite(callId, `z9hG4bK${randomId()}`, fromTag));
    const call = await nextCall();
    assert.equal(call.source.transport, 'ws');
    assert.deepEqual(call.source.principal, GOOD, 'the connection speaks for its credential');
    assert.equal(call.requestUser, '+15550001');
    const answered = call.answer(TEST_SDP);
    const ok = await client.waitFor<ParsedResponse>((m) => m.type === 'response' && m.status === 200);
    assert.equal(ok.callId, callId);
    const contact = ok.headers.get('contact') ?? '';
    assert.match(contact, /;transport=ws>/, 'our Contact names the WebSocket transport');
    assert.match(contact, new RegExp(`:${port};`), 'and the WebSocket port');
    client.send(ackFor(ok, /<([^>]+)>/.exec(contact)?.[1] ?? ''));
    const dialog = await answered;
    const ended = dialog.ended;
    void dialog.hangup();
    const bye = await client.waitFor<ParsedRequest>((m) => m.type === 'request' && m.method === 'BYE');
    assert.match(bye.headers.get('via') ?? '', /^SIP\/2\.0\/WS /, 'our Via names the WebSocket transport');
    client.send(
      [
        'SIP/2.0 200 OK',
        `Via: ${bye.headers.get('via')}`,
        `From: ${bye.headers.get('from')}`,
        `To: ${bye.headers.get('to')}`,
        `Call-ID: ${callId}`,
        `CSeq: ${bye.headers.get('cseq')}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(await ended, 'local-bye');
    client.close();
  });

  test('a request to a browser whose socket closed fails cleanly (it cannot be reached any other way)', async () => {
    const client = await WsSipClient.open(port);
    const callId = `${randomId()}@df7jal23ls0d.invalid`;
    const fromTag = randomId();
    client.send(invite(callId, `z9hG4bK${randomId()}`, fromTag));
    const call = await nextCall();
    const answered = call.answer(TEST_SDP);
    const ok = await client.waitFor<ParsedResponse>((m) => m.type === 'response' && m.status === 200);
    client.send(ackFor(ok, `sip:127.0.0.1:${port};transport=ws`));
    const dialog = await answered;
    const ended = dialog.ended;
    client.socket.terminate();
    await new Promise((r) => setTimeout(r, 100));
    await dialog.hangup();
    assert.ok(['local-bye', 'transport-error'].includes(await ended));
  });

  test('connections per address are capped (503), and an address that keeps failing is refused unheard (429)', async () => {
    // Earlier tests' sockets have closed (the server counts them down when their close arrives).
    await new Promise((r) => setTimeout(r, 200));
    const open: WsSipClient[] = [];
    for (let i = 0; i < 3; i++) open.push(await WsSipClient.open(port));
    assert.equal(await upgradeStatus(port, 'good-token'), 503, 'the fourth connection from one address');
    for (const c of open) c.close();
    await new Promise((r) => setTimeout(r, 100));
    // 20 failures a minute (the default), then even a good token is not looked at. The minute is a fixed window
    // on the clock: the first test's 3 failures count in it unless the minute turned since, and the burst
    // below must not straddle a turn (it takes well under a second).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_100 - intoMinute));
    let statuses: number[] = [];
    for (let i = 0; i < 25 && statuses.at(-1) !== 429; i++) statuses.push(await upgradeStatus(port, `wrong-${i}`));
    const refusedUnheard = statuses.indexOf(429);
    assert.ok(refusedUnheard >= 17 && refusedUnheard <= 20, `401s before the first 429: ${statuses.join(',')}`);
    assert.deepEqual(statuses, [...Array(refusedUnheard).fill(401), 429]);
    statuses = [await upgradeStatus(port, 'good-token'), await upgradeStatus(port, 'wrong')];
    assert.deepEqual(statuses, [429, 429]);
  });
});

describe('SIP over WebSocket: message size', () => {
  test('a message over the size limit closes the socket with 1009 and the node carries on', async () => {
    const stack = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      transports: ['udp'],
      maxMessageSize: 4096,
      webSocket: { port: 0, secure: false, authorize: async (token) => TOKENS.get(token) },
    });
    await stack.start(() => undefined);
    try {
      const port = stack.localOf('ws')!.port;
      const client = await WsSipClient.open(port);
      const code = await new Promise<number>((resolve) => {
        client.socket.once('close', (c) => resolve(c));
        client.send(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nX-Pad: ${'a'.repeat(8000)}\r\n\r\n`);
      });
      assert.equal(code, 1009);
      const again = await WsSipClient.open(port);
      again.close();
    } finally {
      await stack.stop();
    }
  });
});

describe('SIP over secure WebSocket (WSS, as on AWS)', () => {
  const material = selfSignedCert();
  const skip = 'error' in material ? `no certificate for the test: ${material.error}` : false;
  if (skip) console.log(`# SKIP WSS test: ${skip}`);

  test('WSS serves with the SIP TLS certificate, admits a credential and carries SIP', { skip }, async () => {
    assert.ok(!('error' in material));
    const stack = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      transports: ['udp'],
      tls: { ...material, port: 0 },
      webSocket: { port: 0, secure: true, authorize: async (token) => TOKENS.get(token) },
    });
    let inbound: InboundCall | undefined;
    await stack.start((call) => {
      inbound = call;
      call.reject(486, 'Busy Here');
    });
    try {
      assert.equal(stack.localOf('ws'), undefined, 'no plain WS listener');
      const port = stack.localOf('wss')!.port;
      // The test's certificate is self-signed: the client does not verify it.
      const ws = new WebSocket(`wss://127.0.0.1:${port}/?token=good-token`, ['sip'], { rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const client = new WsSipClient(ws);
      client.send(
        invite(`${randomId()}@x.invalid`, `z9hG4bK${randomId()}`, randomId()).replace('SIP/2.0/WS ', 'SIP/2.0/WSS '),
      );
      const busy = await client.waitFor<ParsedResponse>((m) => m.type === 'response' && m.status === 486);
      assert.match(busy.headers.get('via') ?? '', /^SIP\/2\.0\/WSS /);
      assert.equal(inbound?.source.transport, 'wss');
      client.close();
    } finally {
      await stack.stop();
    }
  });
});
