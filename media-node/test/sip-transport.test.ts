/**
 * Stream transports and target resolution: Content-Length framing, TCP on the UDP port with
 * connection reuse and hostile input, TLS with a Node tls client, the §18.1.1 UDP→TCP fallback,
 * RFC 3263 resolution with a fake DNS, the safety timer for unanswered INVITEs, and the
 * advertised address on every transport.
 */

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { InboundCall } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import type { ParsedMessage, ParsedResponse } from '../src/sip/builtin/message.js';
import { parseMessage } from '../src/sip/builtin/parser.js';
import { type DnsClient, resolveSipUri } from '../src/sip/builtin/resolver.js';
import { StreamFramer } from '../src/sip/builtin/stream-framer.js';
import { randomId, TEST_SDP } from './helpers/sip-test-client.js';
import { selfSignedCert } from './helpers/sip-tls-cert.js';

const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };

function request(
  method: string,
  opts: {
    transport: string;
    port: number;
    callId?: string;
    fromTag?: string;
    body?: string;
    extra?: string[];
    toTag?: string;
    cseq?: number;
  },
): string {
  const body = opts.body ?? '';
  return [
    `${method} sip:svc@127.0.0.1:${opts.port} SIP/2.0`,
    `Via: SIP/2.0/${opts.transport} 127.0.0.1:5999;branch=z9hG4bK${randomId()};rport`,
    'Max-Forwards: 70',
    `From: <sip:a@127.0.0.1>;tag=${opts.fromTag ?? 'caller'}`,
    `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${opts.callId ?? randomId()}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    `Contact: <sip:a@127.0.0.1:5999;transport=${opts.transport.toLowerCase()}>`,
    ...(opts.extra ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** Reads framed SIP messages from a stream socket. */
class StreamReader {
  private readonly framer = new StreamFramer({ maxMessageBytes: 65535 });
  private readonly messages: ParsedMessage[] = [];
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.framer.push(chunk)) {
        try {
          if (frame.kind === 'message') this.messages.push(parseMessage(frame.data));
        } catch {
          // only well-formed replies matter here
        }
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }
  async next(predicate: (m: ParsedMessage) => boolean, timeoutMs = 2000): Promise<ParsedMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(predicate);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error('no matching message on the stream');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

const isStatus = (status: number, method?: string) => (m: ParsedMessage) =>
  m.type === 'response' && m.status === status && (method === undefined || m.cseq.method === method);

describe('StreamFramer', () => {
  test('frames split and coalesced messages by Content-Length; CRLF keep-alives', () => {
    const framer = new StreamFramer({ maxMessageBytes: 4096 });
    const a = request('OPTIONS', { transport: 'TCP', port: 1 });
    const b = request('INVITE', { transport: 'TCP', port: 1, body: TEST_SDP });
    const bytes = Buffer.from(`\r\n\r\n${a}${b}`);
    const frames = [
      ...framer.push(bytes.subarray(0, 37)),
      ...framer.push(bytes.subarray(37, 500)),
      ...framer.push(bytes.subarray(500)),
    ];
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['keepalive', 'message', 'message'],
    );
    const last = frames[2]!;
    assert.ok(last.kind === 'message' && last.data.toString().endsWith(TEST_SDP));
  });

  test('missing or bad Content-Length and oversized heads break the stream', () => {
    const noLength = request('OPTIONS', { transport: 'TCP', port: 1 }).replace(/Content-Length: 0\r\n/, '');
    assert.equal(new StreamFramer({ maxMessageBytes: 4096 }).push(Buffer.from(noLength))[0]?.kind, 'broken');
    const bad = request('OPTIONS', { transport: 'TCP', port: 1 }).replace('Content-Length: 0', 'Content-Length: -1');
    assert.equal(new StreamFramer({ maxMessageBytes: 4096 }).push(Buffer.from(bad))[0]?.kind, 'broken');
    const huge = new StreamFramer({ maxMessageBytes: 1024 }).push(Buffer.alloc(2048, 'a'));
    assert.equal(huge[0]?.kind, 'broken');
    const bigBody = request('OPTIONS', { transport: 'TCP', port: 1 }).replace(
      'Content-Length: 0',
      'Content-Length: 999999',
    );
    assert.equal(new StreamFramer({ maxMessageBytes: 4096 }).push(Buffer.from(bigBody))[0]?.kind, 'broken');
  });
});

describe('BuiltinSignaling over TCP and TLS', () => {
  let signaling: BuiltinSignaling;
  const tlsMaterial = selfSignedCert();
  let onInvite: (call: InboundCall) => void = (call) => call.answer(TEST_SDP).catch(() => {});

  before(async () => {
    signaling = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      timers: TIMERS,
      advertisedHost: '203.0.113.7',
      ...('cert' in tlsMaterial ? { tls: { ...tlsMaterial, port: 0, ca: tlsMaterial.cert } } : {}),
    });
    await signaling.start((call) => onInvite(call));
  });
  after(() => signaling.stop());

  async function tcpSocket(): Promise<Socket> {
    const socket = netConnect({ host: '127.0.0.1', port: signaling.local.port });
    await new Promise((r) => socket.once('connect', r));
    return socket;
  }

  test('TCP listens on the UDP port; a call works on one connection; Contact/Via use the advertised host', async () => {
    assert.equal(signaling.localOf('tcp')?.port, signaling.local.port);
    const socket = await tcpSocket();
    const reader = new StreamReader(socket);
    const callId = randomId();
    socket.write(request('INVITE', { transport: 'TCP', port: signaling.local.port, callId, body: TEST_SDP }));
    const ok = (await reader.next(isStatus(200, 'INVITE'))) as ParsedResponse;
    assert.match(ok.headers.get('contact')!, /^<sip:svc@203\.0\.113\.7:\d+;transport=tcp>$/);
    socket.write(request('ACK', { transport: 'TCP', port: signaling.local.port, callId, toTag: ok.to.tag! }));
    // A BYE from us comes back over the same connection.
    socket.write(request('BYE', { transport: 'TCP', port: signaling.local.port, callId, toTag: ok.to.tag!, cseq: 2 }));
    await reader.next(isStatus(200, 'BYE'));
    socket.destroy();
  });

  test("the app hangs up: our BYE reuses the caller's connection with a TCP Via", async () => {
    const dialogs: Promise<unknown>[] = [];
    onInvite = (call) => {
      dialogs.push(call.answer(TEST_SDP).then((d) => d.hangup()));
    };
    const socket = await tcpSocket();
    const reader = new StreamReader(socket);
    const callId = randomId();
    socket.write(request('INVITE', { transport: 'TCP', port: signaling.local.port, callId, body: TEST_SDP }));
    const ok = (await reader.next(isStatus(200, 'INVITE'))) as ParsedResponse;
    socket.write(request('ACK', { transport: 'TCP', port: signaling.local.port, callId, toTag: ok.to.tag! }));
    const bye = await reader.next((m) => m.type === 'request' && m.method === 'BYE');
    assert.match(bye.headers.get('via')!, /^SIP\/2\.0\/TCP 203\.0\.113\.7:/);
    const response = `SIP/2.0 200 OK\r\n${bye.headers
      .lines('via')
      .map((v) => `Via: ${v}`)
      .join(
        '\r\n',
      )}\r\nFrom: ${bye.headers.get('from')}\r\nTo: ${bye.headers.get('to')}\r\nCall-ID: ${bye.callId}\r\nCSeq: ${bye.headers.get('cseq')}\r\nContent-Length: 0\r\n\r\n`;
    socket.write(response);
    await Promise.all(dialogs);
    socket.destroy();
    onInvite = (call) => call.answer(TEST_SDP).catch(() => {});
  });

  test('hostile TCP input: bad Content-Length → 400 and close; the listener keeps serving', async () => {
    const socket = await tcpSocket();
    const reader = new StreamReader(socket);
    socket.write(
      request('OPTIONS', { transport: 'TCP', port: signaling.local.port }).replace(
        'Content-Length: 0',
        'Content-Length: abc',
      ),
    );
    await reader.next(isStatus(400, 'OPTIONS'));
    await waitUntil(() => reader.closed);
    const garbage = await tcpSocket();
    const garbageReader = new StreamReader(garbage);
    garbage.write(Buffer.alloc(70_000, 0xff));
    await waitUntil(() => garbageReader.closed);
    const healthy = await tcpSocket();
    const healthyReader = new StreamReader(healthy);
    healthy.write(request('OPTIONS', { transport: 'TCP', port: signaling.local.port }));
    const ok = await healthyReader.next(isStatus(200, 'OPTIONS'));
    assert.match(ok.headers.get('allow')!, /INVITE/);
    healthy.destroy();
  });

  test('TLS: a Node tls client gets OPTIONS answered and a call set up', async (t) => {
    if (!('cert' in tlsMaterial)) {
      console.log(`SKIP TLS test: ${tlsMaterial.error}`);
      t.skip(tlsMaterial.error);
      return;
    }
    const port = signaling.localOf('tls')!.port;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: tlsMaterial.cert, servername: 'localhost' });
    await new Promise((r) => socket.once('secureConnect', r));
    assert.equal(socket.authorized, true);
    const reader = new StreamReader(socket);
    socket.write(request('OPTIONS', { transport: 'TLS', port }));
    await reader.next(isStatus(200, 'OPTIONS'));
    const callId = randomId();
    socket.write(request('INVITE', { transport: 'TLS', port, callId, body: TEST_SDP }));
    const ok = (await reader.next(isStatus(200, 'INVITE'))) as ParsedResponse;
    assert.match(ok.headers.get('contact')!, new RegExp(`203\\.0\\.113\\.7:${port};transport=tls`));
    socket.write(request('ACK', { transport: 'TLS', port, callId, toTag: ok.to.tag! }));
    socket.write(request('BYE', { transport: 'TLS', port, callId, toTag: ok.to.tag!, cseq: 2 }));
    await reader.next(isStatus(200, 'BYE'));
    socket.destroy();
  });

  test('placeCall over TLS to ourselves', async (t) => {
    if (!('cert' in tlsMaterial)) {
      t.skip(tlsMaterial.error);
      return;
    }
    const port = signaling.localOf('tls')!.port;
    // The advertised host is fictitious, so answer via a caller-side instance that advertises 127.0.0.1.
    const caller = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      timers: TIMERS,
      tls: { ...tlsMaterial, port: 0, ca: tlsMaterial.cert },
    });
    await caller.start(() => {});
    try {
      const dialog = await caller.placeCall({
        target: `sip:svc@localhost:${port};transport=tls`,
        outboundProxy: `127.0.0.1:${port};transport=tls`,
        from: { uri: 'sip:alice@example.com' },
        sdp: TEST_SDP,
      });
      assert.equal(dialog.remoteSdp, TEST_SDP);
    } finally {
      await caller.stop();
    }
  });

  test('§18.1.1: a request larger than 1300 bytes leaves UDP for TCP', async () => {
    let sawTcp = false;
    onInvite = (call) => {
      sawTcp = call.source.transport === 'tcp';
      call.reject(486);
    };
    const caller = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await caller.start(() => {});
    try {
      await assert.rejects(
        caller.placeCall({
          target: `sip:svc@127.0.0.1:${signaling.local.port}`,
          from: { uri: 'sip:alice@example.com' },
          sdp: TEST_SDP + 'a=x-padding:'.padEnd(1500, 'x') + '\r\n',
        }),
        (err: { status?: number }) => err.status === 486,
      );
      assert.equal(sawTcp, true);
    } finally {
      await caller.stop();
      onInvite = (call) => call.answer(TEST_SDP).catch(() => {});
    }
  });
});

describe('safety timer', () => {
  test('an INVITE the application never answers gets 500', async () => {
    const signaling = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      timers: TIMERS,
      inviteSafetyTimeoutMs: 200,
    });
    await signaling.start(() => {});
    const caller = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS });
    await caller.start(() => {});
    try {
      await assert.rejects(
        caller.placeCall({
          target: `sip:x@127.0.0.1:${signaling.local.port}`,
          from: { uri: 'sip:a@example.com' },
          sdp: TEST_SDP,
        }),
        (err: { status?: number }) => err.status === 500,
      );
    } finally {
      await caller.stop();
      await signaling.stop();
    }
  });
});

describe('RFC 3263 resolution', () => {
  const fakeDns = (records: {
    naptr?: Record<
      string,
      { flags: string; service: string; replacement: string; order: number; preference: number }[]
    >;
    srv?: Record<string, { name: string; port: number; priority: number; weight: number }[]>;
    a?: Record<string, string>;
  }): DnsClient & { queries: string[] } => {
    const queries: string[] = [];
    return {
      queries,
      resolveNaptr: async (name) => {
        queries.push(`NAPTR ${name}`);
        const r = records.naptr?.[name];
        if (!r) throw new Error('ENODATA');
        return r.map((x) => ({ ...x, regexp: '' }));
      },
      resolveSrv: async (name) => {
        queries.push(`SRV ${name}`);
        const r = records.srv?.[name];
        if (!r) throw new Error('ENODATA');
        return r;
      },
      lookup: async (host) => {
        queries.push(`A ${host}`);
        const a = records.a?.[host];
        if (!a) throw new Error('ENOTFOUND');
        return a;
      },
    };
  };
  const all = new Set(['udp', 'tcp', 'tls'] as const);

  test('numeric hosts and explicit ports skip NAPTR/SRV', async () => {
    const dns = fakeDns({ a: { 'pbx.example.com': '192.0.2.9' } });
    assert.deepEqual(await resolveSipUri('sip:1@192.0.2.1', { enabled: all, dns }), {
      address: '192.0.2.1',
      port: 5060,
      transport: 'udp',
      hostname: '192.0.2.1',
    });
    assert.deepEqual(await resolveSipUri('sips:1@192.0.2.1', { enabled: all, dns }), {
      address: '192.0.2.1',
      port: 5061,
      transport: 'tls',
      hostname: '192.0.2.1',
    });
    const d = await resolveSipUri('sip:1@pbx.example.com:5080;transport=tcp', { enabled: all, dns });
    assert.deepEqual(d, { address: '192.0.2.9', port: 5080, transport: 'tcp', hostname: 'pbx.example.com' });
    assert.deepEqual(dns.queries, ['A pbx.example.com']);
  });

  test('NAPTR picks the transport, SRV the port and host', async () => {
    const dns = fakeDns({
      naptr: {
        'trunk.example.net': [
          { flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.trunk.example.net', order: 20, preference: 1 },
          { flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.trunk.example.net', order: 10, preference: 1 },
        ],
      },
      srv: {
        '_sip._tcp.trunk.example.net': [
          { name: 'b.example.net', port: 5070, priority: 20, weight: 1 },
          { name: 'a.example.net', port: 5080, priority: 10, weight: 1 },
        ],
      },
      a: { 'a.example.net': '198.51.100.1', 'b.example.net': '198.51.100.2' },
    });
    assert.deepEqual(await resolveSipUri('sip:+4930@trunk.example.net', { enabled: all, dns }), {
      address: '198.51.100.1',
      port: 5080,
      transport: 'tcp',
      hostname: 'trunk.example.net',
    });
    // Without TCP enabled, the UDP record is used.
    const udpOnly = await resolveSipUri('sip:+4930@trunk.example.net', {
      enabled: new Set(['udp']),
      dns: {
        ...dns,
        resolveSrv: async (n) =>
          n.startsWith('_sip._udp') ? [{ name: 'b.example.net', port: 5090, priority: 1, weight: 1 }] : [],
      },
    });
    assert.equal(udpOnly.port, 5090);
  });

  test('without NAPTR: SRV per transport, then A with the default port', async () => {
    const dns = fakeDns({
      srv: { '_sip._udp.pbx.example.org': [{ name: 'sip1.example.org', port: 5062, priority: 0, weight: 0 }] },
      a: { 'sip1.example.org': '192.0.2.50', 'plain.example.org': '192.0.2.51' },
    });
    assert.deepEqual(await resolveSipUri('sip:x@pbx.example.org', { enabled: all, dns }), {
      address: '192.0.2.50',
      port: 5062,
      transport: 'udp',
      hostname: 'pbx.example.org',
    });
    assert.deepEqual(await resolveSipUri('sip:x@plain.example.org', { enabled: all, dns }), {
      address: '192.0.2.51',
      port: 5060,
      transport: 'udp',
      hostname: 'plain.example.org',
    });
  });
});

async function waitUntil(probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
