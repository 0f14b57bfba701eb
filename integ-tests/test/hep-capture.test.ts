import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort, freeUdpPort } from '../src/ports.js';
import { renderScenario, runSipp } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// HEP v3 capture (docs/operations.md) with real parts: the stack as `npm start` runs it with HEP_ADDRESS
// pointing at a UDP socket of this test (standing in for heplify-server), one SIPp call, and the HEP packets
// decoded here. The second half starts a second stack without HEP_ADDRESS (after the first has stopped, on
// the same RTP ports) and checks that a call sends nothing. RTP range: 39400-39499, used by no other test.
const RTP_MIN = 39400;
const RTP_MAX = 39499;
const NUMBER = 'hep-capture';
const CAPTURE_ID = 4242;

interface Hep {
  family: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  micros: number;
  protocolType: number;
  captureId: number;
  authKey: string | undefined;
  payload: string;
  correlation: string | undefined;
}

/** A HEP v3 packet from its definition ("HEP3", u16 length, chunks of vendor/type/length incl. 6-byte header). */
function decodeHep(packet: Buffer): Hep {
  assert.equal(packet.toString('latin1', 0, 4), 'HEP3', 'HEP v3 magic');
  assert.equal(packet.readUInt16BE(4), packet.length, 'HEP total length');
  const chunks = new Map<number, Buffer>();
  for (let at = 6; at < packet.length; ) {
    const length = packet.readUInt16BE(at + 4);
    assert.equal(packet.readUInt16BE(at), 0, 'generic chunk (vendor 0)');
    assert.ok(length >= 6 && at + length <= packet.length, 'chunk inside the packet');
    chunks.set(packet.readUInt16BE(at + 2), packet.subarray(at + 6, at + length));
    at += length;
  }
  const get = (type: number): Buffer => {
    const chunk = chunks.get(type);
    assert.ok(chunk, `chunk 0x${type.toString(16)} present`);
    return chunk;
  };
  const family = get(0x01).readUInt8(0);
  const address = (v4: number, v6: number) => (family === 2 ? [...get(v4)].join('.') : get(v6).toString('hex'));
  return {
    family,
    protocol: get(0x02).readUInt8(0),
    src: address(0x03, 0x05),
    dst: address(0x04, 0x06),
    srcPort: get(0x07).readUInt16BE(0),
    dstPort: get(0x08).readUInt16BE(0),
    micros: get(0x09).readUInt32BE(0) * 1e6 + get(0x0a).readUInt32BE(0),
    protocolType: get(0x0b).readUInt8(0),
    captureId: get(0x0c).readUInt32BE(0),
    authKey: chunks.get(0x0e)?.toString('utf8'),
    payload: get(0x0f).toString('latin1'),
    correlation: chunks.get(0x11)?.toString('latin1'),
  };
}

describe('HEP capture: every SIP message of a call reaches the Homer collector', () => {
  let collector: Socket;
  let collectorPort = 0;
  const packets: Buffer[] = [];
  let hook: WebhookServer;
  let stack: LocalStack | undefined;

  before(async () => {
    collector = createSocket('udp4');
    collector.on('message', (m) => packets.push(m));
    collector.bind(0, '127.0.0.1');
    await once(collector, 'listening');
    collectorPort = collector.address().port;
    hook = new WebhookServer();
    await hook.start();
    // The caller waits in silence (`{}`) until it hangs up.
    hook.responder = (cb) => (cb.name === 'newCall' ? { body: { action: 'ivr' } } : undefined);
  });

  after(async () => {
    const code = await stack?.stop();
    await hook?.close();
    collector?.close();
    if (stack) assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  /** One answered SIPp call from a known port: the caller's Call-ID and port. */
  async function oneCall(on: LocalStack): Promise<{ callId: string; callerPort: number }> {
    const api = new ApiClient(on.apiUrl);
    await api.signup('HEP Capture GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
    const callerPort = await freeUdpPort();
    const since = Date.now();
    const sipp = await runSipp(
      [
        '-sf',
        await renderScenario('uac-hangup-after.xml', { holdMs: 500 }),
        '-s',
        NUMBER,
        '-i',
        '127.0.0.1',
        '-p',
        String(callerPort),
        '-m',
        '1',
        '-mp',
        String(await freeSippMediaPort()),
        '-timeout',
        '30s',
        `${on.sipHost}:${on.sipPort}`,
      ],
      { timeoutMs: 40_000 },
    );
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${on.logs.slice(-10).join('\n')}`);
    const callId = /^Call-ID:\s*(\S+)/im.exec(sipp.messages)?.[1];
    assert.ok(callId, 'the Call-ID SIPp sent');
    await hook.waitFor('sessionCompleted', (cb) => cb.at >= since, 15_000);
    return { callId, callerPort };
  }

  test('INVITE in and 200 OK out, with the SIPp side, the stack SIP port, SIP, the capture id and the Call-ID', async (t) => {
    stack = await startLocalStack({
      rtpPortMin: RTP_MIN,
      rtpPortMax: RTP_MAX,
      env: {
        HEP_ADDRESS: `127.0.0.1:${collectorPort}`,
        HEP_CAPTURE_ID: String(CAPTURE_ID),
        HEP_PASSWORD: 'integ-secret',
      },
    });
    const { callId, callerPort } = await oneCall(stack);
    await new Promise((r) => setTimeout(r, 500)); // the BYE's 200 OK is the last one sent
    const all = packets.map(decodeHep);
    const call = all.filter((p) => p.correlation === callId);
    const summary = () => all.map((p) => `${p.srcPort}->${p.dstPort} ${p.payload.split('\r\n')[0]}`).join('\n');
    t.diagnostic(`captured: ${summary().replaceAll('\n', ' | ')}`);
    const invite = call.find((p) => p.payload.startsWith('INVITE '));
    const ok = call.find((p) => p.payload.startsWith('SIP/2.0 200 ') && /^CSeq:\s*1 INVITE/im.test(p.payload));
    assert.ok(invite, `the INVITE was captured; captured:\n${summary()}`);
    assert.ok(ok, `the 200 OK to the INVITE was captured; captured:\n${summary()}`);
    for (const p of [invite, ok]) {
      assert.equal(p.family, 2, 'IPv4');
      assert.equal(p.protocol, 17, 'UDP');
      assert.equal(p.protocolType, 1, 'SIP');
      assert.equal(p.captureId, CAPTURE_ID);
      assert.equal(p.authKey, 'integ-secret');
      assert.equal(p.src, '127.0.0.1');
      assert.equal(p.dst, '127.0.0.1');
      assert.match(p.payload, new RegExp(`^Call-ID:\\s*${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r$`, 'im'));
    }
    assert.deepEqual([invite.srcPort, invite.dstPort], [callerPort, stack.sipPort], 'INVITE: SIPp → stack');
    assert.deepEqual([ok.srcPort, ok.dstPort], [stack.sipPort, callerPort], '200 OK: stack → SIPp');
    assert.ok(invite.micros <= ok.micros, 'the INVITE before its 200 OK');
    // The rest of the dialog too, both directions: ACK and BYE in, the BYE's 200 OK out.
    for (const method of ['ACK', 'BYE']) {
      assert.ok(
        call.some((p) => p.payload.startsWith(`${method} `) && p.srcPort === callerPort),
        `${method} captured; captured:\n${summary()}`,
      );
    }
    assert.ok(
      call.some((p) => /^CSeq:\s*2 BYE/im.test(p.payload) && p.srcPort === stack?.sipPort),
      `the BYE's 200 OK captured; captured:\n${summary()}`,
    );
    const code = await stack.stop();
    stack = undefined;
    assert.equal(code, 0, 'the stack stops cleanly');
  });

  test('without HEP_ADDRESS a call sends nothing to the collector', async () => {
    packets.length = 0;
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    await oneCall(stack);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(packets.length, 0, 'no HEP packet');
  });
});
