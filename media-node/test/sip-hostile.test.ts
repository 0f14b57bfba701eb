/**
 * One tenant cannot hurt another, at the SIP layer of the built-in stack: text from the call core
 * cannot inject headers or messages (reject, redirect, placeCall, over UDP and a shared TCP
 * connection); malformed requests are answered statelessly with a reason naming the fault, or
 * dropped; Max-Forwards is exposed and sent; new INVITEs are rate-limited per source IP and TCP
 * connections capped per address, while other sources keep being served.
 */

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { InboundCall, OutboundCallRequest } from '../src/ports/signaling.js';
import { SignalingError } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import type { ParsedMessage, ParsedRequest, SipMessage } from '../src/sip/builtin/message.js';
import { DEFAULT_PARSE_LIMITS, parseMessage } from '../src/sip/builtin/parser.js';
import { InviteRateLimiter, LogThrottle } from '../src/sip/builtin/source-limits.js';
import { StreamFramer } from '../src/sip/builtin/stream-framer.js';
import type { Transport } from '../src/sip/builtin/transport.js';
import { UserAgent } from '../src/sip/builtin/user-agent.js';
import { INJECTION, malformedCorpus } from './helpers/sip-malformed.js';
import { randomId, SipTestClient, TEST_SDP } from './helpers/sip-test-client.js';

const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const invalidInput = (err: unknown): boolean => err instanceof SignalingError && err.code === 'invalid-input';

/** The status lines of raw datagrams (of one call when `callId` is given). */
function statusLines(datagrams: Buffer[], callId?: string): string[] {
  return datagrams
    .filter((d) => callId === undefined || d.toString('latin1').includes(`\r\nCall-ID: ${callId}\r\n`))
    .map((d) => d.toString('latin1').split('\r\n')[0]!);
}

function assertNoInjection(datagrams: Buffer[]): void {
  for (const d of datagrams) {
    const text = d.toString('latin1');
    assert.doesNotMatch(text, /X-Injected/i, 'no injected header');
    assert.equal(text.match(/SIP\/2\.0 \d{3}/g)?.length ?? 0, text.startsWith('SIP/2.0') ? 1 : 0, 'one message');
  }
}

describe('BuiltinSignaling: text from the call core reaches the wire only when it is safe', () => {
  let signaling: BuiltinSignaling;
  let client: SipTestClient;
  let uas: SipTestClient;
  const calls: InboundCall[] = [];

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await signaling.start((call) => calls.push(call));
    client = await SipTestClient.open(signaling.advertised.port);
    uas = await SipTestClient.open(signaling.advertised.port);
  });
  after(async () => {
    client.close();
    uas.close();
    await signaling.stop();
  });

  async function invite(extra: string[] = []): Promise<{ call: InboundCall; callId: string; mark: number }> {
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, extra));
    await client.waitForResponse(100, 'INVITE', p.callId);
    const call = calls.at(-1)!;
    assert.equal(call.callId, p.callId);
    return { call, callId: p.callId, mark: client.raw.length };
  }

  test('reject(): the injection string as reason, header value or header name, or a stack-owned header, is refused and nothing is sent', async () => {
    const { call, callId, mark } = await invite();
    assert.throws(() => call.reject(486, INJECTION), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { 'X-Reason': INJECTION }), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { [`X-A: b\r\n${INJECTION}`]: 'v' }), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { 'X-Tab': 'a\tb' }), invalidInput, 'no control character at all');
    assert.throws(() => call.reject(486, 'Busy', { Via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx' }), invalidInput);
    assert.throws(() => call.reject(486, 'Busy', { 'call-id': 'another' }), invalidInput);
    assert.throws(() => call.reject(200), RangeError);
    await sleep(100);
    assert.deepEqual(
      statusLines(client.raw.slice(mark), callId),
      [],
      'nothing was sent: the INVITE is still unanswered',
    );
    call.reject(486, 'Busy Here', { 'X-Reason': 'busy', 'Retry-After': '5' });
    const busy = await client.waitForResponse(486, 'INVITE', callId);
    assert.equal(busy.reason, 'Busy Here');
    assert.equal(busy.headers.get('x-reason'), 'busy');
    assertNoInjection(client.raw.slice(mark));
  });

  test('redirect(): a contact with the injection string, not a SIP URI, or none at all is refused', async () => {
    const { call, callId, mark } = await invite();
    assert.throws(() => call.redirect([`sip:b@192.0.2.1\r\n${INJECTION}`]), invalidInput);
    assert.throws(() => call.redirect([`<sip:b@192.0.2.1>\r\n${INJECTION}`]), invalidInput);
    assert.throws(() => call.redirect([`"${INJECTION}" <sip:b@192.0.2.1>`]), invalidInput);
    assert.throws(() => call.redirect(['http://example.com/']), invalidInput);
    assert.throws(() => call.redirect([]), invalidInput);
    await sleep(100);
    assert.deepEqual(statusLines(client.raw.slice(mark), callId), []);
    call.redirect(['sip:b@192.0.2.1', '"B" <sip:b@192.0.2.2;transport=tcp>']);
    const moved = await client.waitForResponse(302, 'INVITE', callId);
    assert.deepEqual(moved.headers.getAll('contact'), ['<sip:b@192.0.2.1>', '"B" <sip:b@192.0.2.2;transport=tcp>']);
    assertNoInjection(client.raw.slice(mark));
  });

  test('placeCall(): the injection string in headers, From, target; a stack-owned header; Max-Forwards out of range', async () => {
    const base: OutboundCallRequest = {
      target: `sip:bob@127.0.0.1:${uas.port}`,
      from: { uri: 'sip:alice@example.com' },
      sdp: TEST_SDP,
      ringTimeoutMs: 2000,
    };
    const bad: Partial<OutboundCallRequest>[] = [
      { headers: { 'X-Tenant': INJECTION } },
      { headers: { [`X-A: b\r\n${INJECTION}`]: 'v' } },
      { headers: { 'Max-Forwards': '1' } },
      { headers: { Contact: '<sip:evil@192.0.2.1>' } },
      { from: { uri: 'sip:alice@example.com', displayName: INJECTION } },
      { from: { uri: `sip:alice@example.com\r\n${INJECTION}` } },
      { target: `sip:bob@127.0.0.1:${uas.port}\r\n${INJECTION}` },
      { target: 'tel:+4930123' },
      { maxForwards: 256 },
      { maxForwards: -1 },
      { maxForwards: 1.5 },
      { credentials: { username: `alice\r\n${INJECTION}`, password: 'x' } },
    ];
    for (const change of bad) {
      await assert.rejects(signaling.placeCall({ ...base, ...change }), invalidInput, JSON.stringify(change));
    }
    await sleep(100);
    assert.equal(uas.raw.length, 0, 'nothing reached the callee');
  });

  test('a shared TCP connection: each message is written whole, framed by its Content-Length', async () => {
    const socket = await tcpConnect(signaling.advertised.port);
    const messages = readFramed(socket);
    const callId = `${randomId()}@127.0.0.1`;
    socket.write(tcpInvite(signaling.advertised.port, callId, TEST_SDP));
    await until(() => calls.at(-1)?.callId === callId);
    const call = calls.at(-1)!;
    assert.throws(() => call.reject(486, INJECTION), invalidInput);
    call.reject(486, 'Busy Here');
    await until(() => messages.some((m) => m.type === 'response' && m.status === 486));
    socket.write(tcpInvite(signaling.advertised.port, `${randomId()}@127.0.0.1`, '', 'OPTIONS'));
    await until(() => messages.some((m) => m.type === 'response' && m.status === 200));
    assert.deepEqual(
      messages.map((m) => (m.type === 'response' ? m.status : m.method)),
      [100, 486, 200],
      'exactly the messages sent, each one framed',
    );
    for (const m of messages) assert.equal(m.headers.has('x-injected'), false);
    socket.destroy();
  });
});

describe('malformed requests: answered statelessly with the fault named, or dropped', () => {
  let signaling: BuiltinSignaling;
  let client: SipTestClient;
  const invites: InboundCall[] = [];

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await signaling.start((call) => invites.push(call));
    client = await SipTestClient.open(signaling.advertised.port);
  });
  after(async () => {
    client.close();
    await signaling.stop();
  });

  for (const method of ['OPTIONS', 'INVITE']) {
    test(`${method}: each malformed request gets its answer at the source port (rport), whatever the Via's port`, async () => {
      for (const c of malformedCorpus({ port: signaling.advertised.port, viaPort: 9, method })) {
        const mark = client.raw.length;
        client.send(c.data);
        await sleep(c.answer ? 0 : 80);
        if (c.answer) await until(() => client.raw.length > mark, 1000);
        const lines = statusLines(client.raw.slice(mark));
        assert.deepEqual(
          lines,
          c.answer ? [`SIP/2.0 ${c.answer.status} ${c.answer.reason}`] : [],
          `${method} ${c.name}`,
        );
      }
      assert.equal(invites.length, 0, 'no malformed INVITE reached the application');
    });
  }

  test('a retransmitted malformed request gets the same answer again, same To tag (§8.2.7)', async () => {
    const c = malformedCorpus({ port: signaling.advertised.port, method: 'INVITE' }).find(
      (m) => m.name === 'missing Call-ID',
    )!;
    const mark = client.raw.length;
    client.send(c.data);
    await until(() => client.raw.length > mark);
    client.send(c.data);
    await until(() => client.raw.length > mark + 1);
    const tags = client.raw.slice(mark).map((d) => /\r\nTo: [^\r]*;tag=([^;\r]+)/.exec(d.toString())?.[1]);
    assert.equal(tags.length, 2);
    assert.ok(tags[0]);
    assert.equal(tags[0], tags[1]);
    assert.doesNotMatch(client.raw.at(-1)!.toString(), /\r\nCall-ID:/, 'what was missing stays missing');
  });

  test('the UA core keeps no transaction for them, and the application never sees them', async () => {
    const sent: SipMessage[] = [];
    const transport: Transport = {
      protocol: 'udp',
      onMessage: () => {},
      local: { address: '127.0.0.1', port: 5060 },
      listen: async () => {},
      send: async (message) => {
        sent.push(message);
      },
      close: async () => {},
    };
    const ua = new UserAgent(transport, {
      advertised: { host: '127.0.0.1', port: 5060 },
      timers: TIMERS,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      limits: DEFAULT_PARSE_LIMITS,
    });
    let seen = 0;
    ua.start(() => seen++);
    const source = { address: '192.0.2.7', port: 5070, transport: 'udp' as const };
    let answerable = 0;
    for (const method of ['INVITE', 'OPTIONS']) {
      for (const c of malformedCorpus({ port: 5060, method })) {
        ua.receive(c.data, source);
        ua.receive(c.data, source); // and its retransmission
        if (c.answer) answerable += 2;
      }
    }
    assert.equal(sent.length, answerable);
    assert.equal(ua.serverTransactionCount, 0);
    assert.equal(ua.dialogCount, 0);
    assert.equal(seen, 0);
    await ua.shutdown(10);
  });
});

describe('Max-Forwards (RFC 3261 §16.3, §20.22)', () => {
  let signaling: BuiltinSignaling;
  let client: SipTestClient;
  const calls: InboundCall[] = [];

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await signaling.start((call) => {
      calls.push(call);
      call.reject(486);
    });
    client = await SipTestClient.open(signaling.advertised.port);
  });
  after(async () => {
    client.close();
    await signaling.stop();
  });

  test('InboundCall.maxForwards: as received, 70 when absent; 0 is answered 483 and never reaches the app', async () => {
    const send = async (maxForwards: string | undefined): Promise<string> => {
      const p = client.dialogParams();
      let text = client.request('INVITE', p);
      text =
        maxForwards === undefined
          ? text.replace('Max-Forwards: 70\r\n', '')
          : text.replace('Max-Forwards: 70', `Max-Forwards: ${maxForwards}`);
      client.send(text);
      return p.callId;
    };
    const five = await send('5');
    await client.waitForResponse(486, 'INVITE', five);
    assert.equal(calls.at(-1)?.maxForwards, 5);
    const none = await send(undefined);
    await client.waitForResponse(486, 'INVITE', none);
    assert.equal(calls.at(-1)?.maxForwards, 70);
    const before = calls.length;
    const zero = await send('0');
    const tooMany = await client.waitForResponse(483, 'INVITE', zero);
    assert.equal(tooMany.reason, 'Too Many Hops');
    assert.equal(calls.length, before);
  });

  test('placeCall sends maxForwards (default 70); the CANCEL carries the same', async () => {
    const peer = await SipTestClient.open(signaling.advertised.port);
    try {
      const base = { target: `sip:bob@127.0.0.1:${peer.port}`, from: { uri: 'sip:a@example.com' }, sdp: TEST_SDP };
      const first = signaling.placeCall(base);
      const inviteDefault = await peer.waitFor<ParsedRequest>((m) => m.type === 'request' && m.method === 'INVITE');
      assert.equal(inviteDefault.headers.get('max-forwards'), '70');
      peer.respondTo(inviteDefault, 486, 'Busy Here');
      await assert.rejects(first, (err: SignalingError) => err.status === 486);

      const abort = new AbortController();
      const second = signaling.placeCall({ ...base, maxForwards: 7, signal: abort.signal });
      const invite = await peer.waitFor<ParsedRequest>(
        (m) => m.type === 'request' && m.method === 'INVITE' && m.callId !== inviteDefault.callId,
      );
      assert.equal(invite.headers.get('max-forwards'), '7');
      peer.respondTo(invite, 180, 'Ringing');
      await sleep(50);
      abort.abort();
      await assert.rejects(second, (err: SignalingError) => err.code === 'cancelled');
      const cancel = await peer.waitForRequest('CANCEL', invite.callId);
      assert.equal(cancel.headers.get('max-forwards'), '7');
    } finally {
      peer.close();
    }
  });
});

describe('per-source INVITE rate limit', () => {
  test('token bucket: burst, then 503 with Retry-After up to the rate per second, then dropped; refills', () => {
    let now = 1_000_000;
    const limiter = new InviteRateLimiter({ perSecond: 5, burst: 5 }, 100, () => now);
    const verdicts = Array.from({ length: 12 }, () => limiter.take('192.0.2.1').kind);
    assert.deepEqual(verdicts, [...Array(5).fill('accept'), ...Array(5).fill('refuse'), ...Array(2).fill('drop')]);
    assert.equal(limiter.take('192.0.2.2').kind, 'accept', 'another source has its own bucket');
    now += 400; // 2 tokens back, same second: still over its refusals
    assert.deepEqual(
      Array.from({ length: 3 }, () => limiter.take('192.0.2.1').kind),
      ['accept', 'accept', 'drop'],
    );
    now += 600; // a new second, 3 tokens back
    assert.deepEqual(
      Array.from({ length: 3 }, () => limiter.take('192.0.2.1').kind),
      ['accept', 'accept', 'accept'],
    );
    const refused = limiter.take('192.0.2.1');
    assert.equal(refused.kind, 'refuse', 'a new second: refusals are answered again');
    assert.equal(refused.kind === 'refuse' && refused.retryAfterS, 1);
  });

  test('memory is bounded: refilled buckets are forgotten, and the table has a cap', () => {
    let now = 0;
    const limiter = new InviteRateLimiter({ perSecond: 10 }, 50, () => now);
    for (let i = 0; i < 500; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(limiter.size <= 50);
    now += 10_000;
    limiter.take('10.9.9.9');
    assert.equal(limiter.size, 1);
  });

  test('log throttle: one line per key and interval, counting what it left out', () => {
    let now = 0;
    const throttle = new LogThrottle(1000, 100, () => now);
    assert.deepEqual(throttle.hit('a'), { log: true, suppressed: 0 });
    for (let i = 0; i < 3; i++) assert.equal(throttle.hit('a').log, false);
    assert.equal(throttle.hit('b').log, true);
    now += 1000;
    assert.deepEqual(throttle.hit('a'), { log: true, suppressed: 3 });
  });

  test('a flood from one source gets 503 Retry-After, then silence, logged once; another source is served', async () => {
    const warnings: { obj: unknown; msg?: string }[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (obj: unknown, msg?: string) => warnings.push({ obj, msg }),
      error() {},
    };
    const signaling = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      timers: TIMERS,
      logger,
      inviteRateLimit: { perSecond: 5, burst: 5 },
    });
    const seen: string[] = [];
    await signaling.start((call) => {
      seen.push(call.source.address);
      if (call.source.address === '127.0.0.2') call.answer(TEST_SDP).catch(() => {});
      else call.reject(486);
    });
    const flood = await SipTestClient.open(signaling.advertised.port, '127.0.0.1');
    const other = await SipTestClient.open(signaling.advertised.port, '127.0.0.2');
    try {
      const callIds = Array.from({ length: 30 }, () => flood.dialogParams());
      for (const p of callIds) flood.send(flood.request('INVITE', p));
      const q = other.dialogParams();
      other.send(other.request('INVITE', q, ['Content-Type: application/sdp'], TEST_SDP));
      const ok = await other.waitForResponse(200, 'INVITE', q.callId);
      other.send(other.request('ACK', { ...q, branch: `z9hG4bK${randomId()}`, toTag: ok.to.tag! }));
      await sleep(300);
      const finals = new Map<string, number>();
      for (const d of flood.raw) {
        const m = parseMessage(d);
        if (m.type === 'response' && m.status >= 200) finals.set(m.callId, m.status);
      }
      const statuses = [...finals.values()];
      assert.equal(statuses.filter((s) => s === 486).length, 5, 'the burst was let through');
      assert.equal(statuses.filter((s) => s === 503).length, 5, 'one second of refusals (perSecond) answered');
      assert.equal(finals.size, 10, 'the rest dropped');
      const refusal = flood.raw.map((d) => parseMessage(d)).find((m) => m.type === 'response' && m.status === 503)!;
      assert.match(refusal.headers.get('retry-after') ?? '', /^\d+$/);
      assert.deepEqual(
        seen.filter((a) => a === '127.0.0.2'),
        ['127.0.0.2'],
      );
      const rateLines = warnings.filter((w) => /INVITE rate/.test(w.msg ?? ''));
      assert.equal(rateLines.length, 1, 'logged once per source and interval, not per INVITE');
      assert.equal(signaling.dialogCount, 1);
    } finally {
      flood.close();
      other.close();
      await signaling.stop();
    }
  });
});

describe('per-address TCP connection cap', () => {
  test('the cap closes further connections from that address; other addresses are served; a freed slot is reused', async () => {
    const signaling = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      timers: TIMERS,
      maxConnectionsPerAddress: 3,
    });
    await signaling.start(() => {});
    const port = signaling.advertised.port;
    const open: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const socket = await tcpConnect(port);
        open.push(socket);
        assert.equal(await options(socket, port), 200);
      }
      const refused = await tcpConnect(port);
      await until(() => refused.destroyed || refused.readableEnded, 2000);
      const elsewhere = await tcpConnect(port, '127.0.0.2');
      open.push(elsewhere);
      assert.equal(await options(elsewhere, port), 200, 'another address is not affected');
      open[0]!.destroy();
      await sleep(50);
      const again = await tcpConnect(port);
      open.push(again);
      assert.equal(await options(again, port), 200, 'a closed connection frees its slot');
    } finally {
      for (const s of open) s.destroy();
      await signaling.stop();
    }
  });
});

// ---- helpers ----

async function until(probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function tcpConnect(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
    socket.on('error', () => {});
  });
}

/** Every message the peer writes on `socket`, framed by Content-Length and parsed. */
function readFramed(socket: Socket): ParsedMessage[] {
  const framer = new StreamFramer({ maxMessageBytes: 65535 });
  const out: ParsedMessage[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const frame of framer.push(chunk)) {
      assert.equal(frame.kind === 'broken', false, 'the stream stays framed');
      if (frame.kind === 'message') out.push(parseMessage(frame.data));
    }
  });
  return out;
}

function tcpInvite(port: number, callId: string, body: string, method = 'INVITE'): string {
  return [
    `${method} sip:svc@127.0.0.1:${port};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK${randomId()};rport`,
    'Max-Forwards: 70',
    'From: <sip:a@127.0.0.1>;tag=tcp',
    'To: <sip:svc@127.0.0.1>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Contact: <sip:a@127.0.0.1:5999;transport=tcp>',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** Sends OPTIONS on `socket` and returns the status of the answer. */
async function options(socket: Socket, port: number): Promise<number> {
  const messages = readFramed(socket);
  socket.write(tcpInvite(port, `${randomId()}@127.0.0.1`, '', 'OPTIONS'));
  await until(() => messages.some((m) => m.type === 'response'));
  const response = messages.find((m) => m.type === 'response')!;
  return response.type === 'response' ? response.status : 0;
}
