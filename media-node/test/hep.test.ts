/**
 * HEP v3 capture (media-node/src/observability/hep.ts): packets are decoded here by a parser of this
 * file's own, written from the chunk table (vendor 0x0000, type, length incl. the 6-byte header), so the
 * encoder is checked against the format and not against itself. Then the sender on a loopback socket,
 * and the built-in stack's capture tap on UDP and TCP.
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Logger } from '@sipms/shared/util/logger';
import { loadMediaNodeConfig } from '../src/config.js';
import { encodeHep3, HepSender, parseHostPort, sipCallId } from '../src/observability/hep.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import type { CapturedMessage } from '../src/sip/builtin/transport.js';

interface Decoded {
  totalLength: number;
  /** Chunk type → payload; a repeated type fails the decode. */
  chunks: Map<number, Buffer>;
}

/** HEP v3 from its definition: "HEP3", u16 total length, then chunks until the end. */
function decodeHep(packet: Buffer): Decoded {
  assert.equal(packet.subarray(0, 4).toString('latin1'), 'HEP3', 'magic');
  const totalLength = packet.readUInt16BE(4);
  assert.equal(totalLength, packet.length, 'total length covers the whole packet');
  const chunks = new Map<number, Buffer>();
  let offset = 6;
  while (offset < packet.length) {
    assert.ok(offset + 6 <= packet.length, 'a whole chunk header');
    const vendor = packet.readUInt16BE(offset);
    const type = packet.readUInt16BE(offset + 2);
    const length = packet.readUInt16BE(offset + 4);
    assert.equal(vendor, 0, 'generic chunks (vendor 0x0000)');
    assert.ok(length >= 6 && offset + length <= packet.length, `chunk 0x${type.toString(16)} fits`);
    assert.ok(!chunks.has(type), `chunk 0x${type.toString(16)} once`);
    chunks.set(type, packet.subarray(offset + 6, offset + length));
    offset += length;
  }
  return { totalLength, chunks };
}

/** The fields a Homer collector reads, from the decoded chunks. */
function fields(d: Decoded) {
  const chunk = (type: number) => d.chunks.get(type);
  const u8 = (type: number) => chunk(type)?.readUInt8(0);
  const u16 = (type: number) => chunk(type)?.readUInt16BE(0);
  const u32 = (type: number) => chunk(type)?.readUInt32BE(0);
  const v4 = (b: Buffer | undefined) => (b ? [...b].join('.') : undefined);
  const v6 = (b: Buffer | undefined) => b?.toString('hex');
  return {
    family: u8(0x0001),
    protocol: u8(0x0002),
    src4: v4(chunk(0x0003)),
    dst4: v4(chunk(0x0004)),
    src6: v6(chunk(0x0005)),
    dst6: v6(chunk(0x0006)),
    srcPort: u16(0x0007),
    dstPort: u16(0x0008),
    seconds: u32(0x0009),
    micros: u32(0x000a),
    protocolType: u8(0x000b),
    captureId: u32(0x000c),
    authKey: chunk(0x000e)?.toString('utf8'),
    payload: chunk(0x000f),
    correlation: chunk(0x0011)?.toString('latin1'),
  };
}

const INVITE = Buffer.concat([
  Buffer.from(
    [
      'INVITE sip:svc@198.51.100.1 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1',
      'From: <sip:alice@example.com>;tag=a1',
      'To: <sip:svc@198.51.100.1>',
      'Call-ID: 8f3c2a@192.0.2.10',
      'CSeq: 1 INVITE',
      'Content-Type: application/octet-stream',
      'Content-Length: 6',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  ),
  Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0xc3, 0xa9]), // a body that is not text: must arrive byte for byte
]);

describe('HEP v3 encoder', () => {
  test('IPv4 over UDP: every chunk, the payload byte-exact, no auth key when none is set', () => {
    const packet = encodeHep3({
      transport: 'udp',
      source: { address: '192.0.2.10', port: 5070 },
      destination: { address: '198.51.100.1', port: 5060 },
      seconds: 1_764_460_800,
      microseconds: 123_456,
      captureId: 2001,
      payload: INVITE,
      correlationId: '8f3c2a@192.0.2.10',
    });
    assert.ok(packet);
    const d = decodeHep(packet);
    const f = fields(d);
    assert.deepEqual(
      { ...f, payload: undefined },
      {
        family: 2,
        protocol: 17,
        src4: '192.0.2.10',
        dst4: '198.51.100.1',
        src6: undefined,
        dst6: undefined,
        srcPort: 5070,
        dstPort: 5060,
        seconds: 1_764_460_800,
        micros: 123_456,
        protocolType: 1,
        captureId: 2001,
        authKey: undefined,
        payload: undefined,
        correlation: '8f3c2a@192.0.2.10',
      },
    );
    assert.ok(f.payload?.equals(INVITE), 'payload byte-exact');
    assert.ok(!d.chunks.has(0x000e), 'no auth key chunk');
  });

  test('IPv6 over TCP, TLS reported as TCP, the auth key when set', () => {
    for (const transport of ['tcp', 'tls'] as const) {
      const packet = encodeHep3({
        transport,
        source: { address: '2001:db8::10', port: 40123 },
        destination: { address: 'fe80::1:2%eth0', port: 5061 },
        seconds: 1,
        microseconds: 999_999,
        captureId: 0xffff_ffff,
        authKey: 's3cr€t',
        payload: INVITE,
      });
      assert.ok(packet);
      const f = fields(decodeHep(packet));
      assert.equal(f.family, 10);
      assert.equal(f.protocol, 6);
      assert.equal(f.src6, '20010db8000000000000000000000010');
      assert.equal(f.dst6, 'fe800000000000000000000000010002');
      assert.equal(f.src4, undefined);
      assert.equal(f.srcPort, 40123);
      assert.equal(f.dstPort, 5061);
      assert.equal(f.captureId, 0xffff_ffff);
      assert.equal(f.authKey, 's3cr€t');
      assert.equal(f.correlation, undefined, 'no correlation chunk without a Call-ID');
      assert.ok(f.payload?.equals(INVITE));
    }
  });

  test('one IPv4 and one IPv6 end: both sent as IPv6, the IPv4 one mapped', () => {
    const packet = encodeHep3({
      transport: 'udp',
      source: { address: '127.0.0.1', port: 1 },
      destination: { address: '::1', port: 2 },
      seconds: 0,
      microseconds: 0,
      captureId: 1,
      payload: INVITE,
    });
    const f = fields(decodeHep(packet!));
    assert.equal(f.family, 10);
    assert.equal(f.src6, '00000000000000000000ffff7f000001');
    assert.equal(f.dst6, '00000000000000000000000000000001');
  });

  test('a packet larger than one UDP datagram is not encoded', () => {
    const base = {
      transport: 'udp' as const,
      source: { address: '127.0.0.1', port: 1 },
      destination: { address: '127.0.0.1', port: 2 },
      seconds: 0,
      microseconds: 0,
      captureId: 1,
    };
    assert.equal(encodeHep3({ ...base, payload: Buffer.alloc(65_507) }), undefined);
    const fits = encodeHep3({ ...base, payload: Buffer.alloc(65_000) });
    assert.ok(fits && fits.length <= 65_507);
  });
});

describe('Call-ID scan', () => {
  test('long and compact form, any case, only in the header section', () => {
    assert.equal(sipCallId(INVITE), '8f3c2a@192.0.2.10');
    const compact = Buffer.from('BYE sip:a@b SIP/2.0\r\nVia: x\r\ni:   abc-123 \r\nCSeq: 2 BYE\r\n\r\n');
    assert.equal(sipCallId(compact), 'abc-123');
    assert.equal(sipCallId(Buffer.from('SIP/2.0 200 OK\r\nCALL-ID:xyz\r\n\r\n')), 'xyz');
    const inBody = Buffer.from('SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\nCall-ID: not-a-header\r\n');
    assert.equal(sipCallId(inBody), undefined);
    assert.equal(sipCallId(Buffer.from('OPTIONS sip:a SIP/2.0\r\nIf-Match: x\r\n\r\n')), undefined);
  });

  test('HEP_ADDRESS syntax', () => {
    assert.deepEqual(parseHostPort('homer.example.com:9060'), { host: 'homer.example.com', port: 9060 });
    assert.deepEqual(parseHostPort('10.0.0.5:9060'), { host: '10.0.0.5', port: 9060 });
    assert.deepEqual(parseHostPort('[2001:db8::5]:9060'), { host: '2001:db8::5', port: 9060 });
    for (const bad of ['homer', 'homer:', ':9060', 'homer:0', 'homer:70000', '2001:db8::5:9060', '[nope]:9060']) {
      assert.throws(() => parseHostPort(bad), Error, bad);
    }
  });
});

/** A logger that keeps warn lines. */
function recordingLogger(): Logger & { warnings: { fields: Record<string, unknown>; msg: string }[] } {
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  const noop = () => undefined;
  const logger = {
    warnings,
    debug: noop,
    info: noop,
    error: noop,
    warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }),
    child: () => logger,
  };
  return logger;
}

/** A UDP socket standing in for heplify-server. */
async function collector(): Promise<{
  socket: Socket;
  port: number;
  packets: Buffer[];
  next(n: number): Promise<Buffer[]>;
}> {
  const socket = createSocket('udp4');
  const packets: Buffer[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (m) => {
    packets.push(m);
    wake?.();
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    socket,
    port: socket.address().port,
    packets,
    async next(n) {
      const deadline = Date.now() + 3000;
      while (packets.length < n && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      assert.ok(packets.length >= n, `${n} HEP packets expected, got ${packets.length}`);
      return packets.splice(0, n);
    },
  };
}

describe('settings', () => {
  const env = {
    TABLE_NAME: 'sipms',
    PROMPT_STORE: 'dir:/tmp/hep-prompts',
    CACHE_DIR: '/tmp/hep-cache',
    RUN_DIR: '/tmp/hep-run',
  };

  test('HEP_ADDRESS parsed, HEP_CAPTURE_ID defaults to 2001; a bad value stops start-up naming the setting', () => {
    const on = loadMediaNodeConfig({ ...env, HEP_ADDRESS: '127.0.0.1:9060', HEP_PASSWORD: 'pw' });
    assert.deepEqual(on.HEP_ADDRESS, { host: '127.0.0.1', port: 9060 });
    assert.equal(on.HEP_CAPTURE_ID, 2001);
    assert.equal(on.HEP_PASSWORD, 'pw');
    assert.equal(loadMediaNodeConfig(env).HEP_ADDRESS, undefined);
    assert.throws(() => loadMediaNodeConfig({ ...env, HEP_ADDRESS: 'homer' }), /HEP_ADDRESS: .*host:port/);
    assert.throws(() => loadMediaNodeConfig({ ...env, HEP_CAPTURE_ID: 'x' }), /HEP_CAPTURE_ID/);
  });

  test('with SIGNALING=drachtio, HEP_ADDRESS is refused: drachtio-server has its own HEP option', () => {
    const drachtio = { ...env, SIGNALING: 'drachtio', DRACHTIO_ADDRESS: '127.0.0.1:9022', DRACHTIO_SECRET: 's' };
    assert.ok(loadMediaNodeConfig(drachtio));
    assert.throws(
      () => loadMediaNodeConfig({ ...drachtio, HEP_ADDRESS: '127.0.0.1:9060' }),
      /HEP_ADDRESS: .*drachtio-server.*--homer/,
    );
  });
});

describe('HepSender', () => {
  test('sends one packet per message with the right direction; skips keepalives and oversized messages', async () => {
    const hep = await collector();
    const logger = recordingLogger();
    const sender = await HepSender.open({
      collector: { host: '127.0.0.1', port: hep.port },
      captureId: 2002,
      password: 'pw',
      logger,
    });
    const local = { address: '127.0.0.1', port: 5060 };
    const remote = { address: '127.0.0.1', port: 5070 };
    const at = 1_764_460_800_123.5;
    sender.capture({ direction: 'in', transport: 'udp', local, remote, bytes: INVITE, at });
    sender.capture({ direction: 'in', transport: 'udp', local, remote, bytes: Buffer.from('\r\n\r\n'), at });
    sender.capture({ direction: 'out', transport: 'tcp', local, remote, bytes: INVITE, at });
    const huge = Buffer.alloc(65_535, 0x41);
    sender.capture({ direction: 'out', transport: 'udp', local, remote, bytes: huge, at });
    sender.capture({ direction: 'out', transport: 'udp', local, remote, bytes: huge, at });
    const [first, second] = await hep.next(2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hep.packets.length, 0, 'nothing else sent: no keepalive, no oversized message');
    const inbound = fields(decodeHep(first!));
    assert.deepEqual(
      [inbound.src4, inbound.srcPort, inbound.dst4, inbound.dstPort],
      ['127.0.0.1', 5070, '127.0.0.1', 5060],
    );
    assert.equal(inbound.protocol, 17);
    assert.equal(inbound.captureId, 2002);
    assert.equal(inbound.authKey, 'pw');
    assert.equal(inbound.correlation, '8f3c2a@192.0.2.10');
    assert.equal(inbound.seconds, 1_764_460_800);
    assert.equal(inbound.micros, 123_500);
    const outbound = fields(decodeHep(second!));
    assert.deepEqual([outbound.srcPort, outbound.dstPort, outbound.protocol], [5060, 5070, 6]);
    // The same instant twice: the second gets the next microsecond, so a collector keeps the order.
    assert.equal(outbound.micros, 123_501);
    assert.equal(logger.warnings.length, 1, 'one warning for two oversized messages (once a minute)');
    assert.match(logger.warnings[0]!.msg, /too large/);
    await sender.close();
    sender.capture({ direction: 'in', transport: 'udp', local, remote, bytes: INVITE, at }); // after close: ignored
    hep.socket.close();
  });

  test('a collector that is not listening: one warning for many failed sends, nothing thrown', async () => {
    const closedPort = await (async () => {
      const probe = await collector();
      probe.socket.close();
      return probe.port;
    })();
    const logger = recordingLogger();
    const sender = await HepSender.open({ collector: { host: '127.0.0.1', port: closedPort }, captureId: 1, logger });
    const message: CapturedMessage = {
      direction: 'in',
      transport: 'udp',
      local: { address: '0.0.0.0', port: 5060 },
      remote: { address: '127.0.0.1', port: 5070 },
      bytes: INVITE,
      at: Date.now(),
    };
    for (let i = 0; i < 10; i++) {
      sender.capture(message);
      await new Promise((r) => setTimeout(r, 10));
    }
    await sender.close();
    assert.equal(logger.warnings.length, 1, JSON.stringify(logger.warnings));
    assert.match(logger.warnings[0]!.msg, /send failed/);
  });

  test('a collector name that does not resolve fails open()', async () => {
    await assert.rejects(
      HepSender.open({
        collector: { host: 'no-such-host.invalid', port: 9060 },
        captureId: 1,
        logger: recordingLogger(),
      }),
    );
  });
});

describe('the built-in stack captures every message in and out', () => {
  let signaling: BuiltinSignaling;
  const seen: CapturedMessage[] = [];

  before(async () => {
    signaling = new BuiltinSignaling({
      bindHost: '127.0.0.1',
      port: 0,
      transports: ['udp', 'tcp'],
      capture: (m) => seen.push(m),
    });
    await signaling.start(() => undefined);
  });
  after(() => signaling.stop());

  const options = (transport: 'UDP' | 'TCP', port: number, callId: string) =>
    [
      `OPTIONS sip:svc@127.0.0.1:${signaling.local.port} SIP/2.0`,
      `Via: SIP/2.0/${transport} 127.0.0.1:${port};branch=z9hG4bK-${callId}`,
      'Max-Forwards: 70',
      'From: <sip:probe@127.0.0.1>;tag=p1',
      `To: <sip:svc@127.0.0.1:${signaling.local.port}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');

  const waitFor = async (pred: (m: CapturedMessage) => boolean): Promise<CapturedMessage> => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const found = seen.find(pred);
      if (found) return found;
      assert.ok(Date.now() < deadline, 'captured in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('UDP: the request in and the response out, with both ends', async () => {
    const peer = createSocket('udp4');
    peer.bind(0, '127.0.0.1');
    await once(peer, 'listening');
    const port = peer.address().port;
    const request = Buffer.from(options('UDP', port, 'udp-tap-1'));
    peer.send(request, signaling.local.port, '127.0.0.1');
    const [reply] = await once(peer, 'message');
    peer.close();
    const inbound = await waitFor((m) => m.direction === 'in' && sipCallId(m.bytes) === 'udp-tap-1');
    const outbound = await waitFor((m) => m.direction === 'out' && sipCallId(m.bytes) === 'udp-tap-1');
    assert.ok(inbound.bytes.equals(request));
    assert.ok(outbound.bytes.equals(reply as Buffer), 'the response as it was sent');
    for (const m of [inbound, outbound]) {
      assert.equal(m.transport, 'udp');
      assert.deepEqual(m.local, { address: '127.0.0.1', port: signaling.local.port });
      assert.deepEqual(m.remote, { address: '127.0.0.1', port });
    }
    assert.ok(inbound.at <= outbound.at);
  });

  test('TCP: the connection’s own addresses', async () => {
    const socket = netConnect({ host: '127.0.0.1', port: signaling.local.port });
    await once(socket, 'connect');
    const port = socket.localPort!;
    socket.write(options('TCP', port, 'tcp-tap-1'));
    await once(socket, 'data');
    socket.destroy();
    const inbound = await waitFor((m) => m.direction === 'in' && sipCallId(m.bytes) === 'tcp-tap-1');
    const outbound = await waitFor((m) => m.direction === 'out' && sipCallId(m.bytes) === 'tcp-tap-1');
    for (const m of [inbound, outbound]) {
      assert.equal(m.transport, 'tcp');
      assert.deepEqual(m.local, { address: '127.0.0.1', port: signaling.local.port });
      assert.deepEqual(m.remote, { address: '127.0.0.1', port });
    }
    assert.match(outbound.bytes.toString('latin1'), /^SIP\/2\.0 200 /);
  });
});
