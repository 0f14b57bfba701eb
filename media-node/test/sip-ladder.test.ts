import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SipLadder, summarize } from '../src/observability/sip-ladder.js';
import type { CapturedMessage } from '../src/sip/builtin/transport.js';

function msg(text: string, over: Partial<CapturedMessage> = {}): CapturedMessage {
  return {
    direction: 'in',
    transport: 'udp',
    local: { address: '127.0.0.1', port: 5060 },
    remote: { address: '192.0.2.7', port: 5070 },
    bytes: Buffer.from(text.replaceAll('\n', '\r\n'), 'latin1'),
    at: Date.parse('2026-11-30T01:00:00.123Z'),
    ...over,
  };
}

const INVITE = `INVITE sip:ivr@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0
f: <sip:alice@example.com>;tag=a1
t: <sip:ivr@example.com>
i: call-1@192.0.2.7
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.7:5070>
X-Secret: not kept
Content-Type: application/sdp
Content-Length: 4

v=0
`;

describe('SIP ladder', () => {
  test('a message is summarised: first line, Call-ID (compact too), the headers that matter, the first Via', () => {
    const { callId, summary } = summarize(msg(INVITE));
    assert.equal(callId, 'call-1@192.0.2.7');
    assert.deepEqual(summary, {
      at: '2026-11-30T01:00:00.123Z',
      direction: 'in',
      transport: 'udp',
      peer: '192.0.2.7:5070',
      firstLine: 'INVITE sip:ivr@example.com SIP/2.0',
      headers: {
        Via: 'SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1',
        From: '<sip:alice@example.com>;tag=a1',
        To: '<sip:ivr@example.com>',
        CSeq: '1 INVITE',
        Contact: '<sip:alice@192.0.2.7:5070>',
        'Content-Type': 'application/sdp',
      },
    });
    const v6 = summarize(msg(INVITE, { remote: { address: '2001:db8::7', port: 5070 } })).summary;
    assert.equal(v6.peer, '[2001:db8::7]:5070');
  });

  test('messages are kept per Call-ID in order and handed over once', () => {
    const ladder = new SipLadder();
    ladder.record(msg(INVITE));
    ladder.record(msg('SIP/2.0 100 Trying\nCall-ID: call-1@192.0.2.7\nCSeq: 1 INVITE\n\n', { direction: 'out' }));
    ladder.record(msg('SIP/2.0 200 OK\nCall-ID: other\nCSeq: 1 INVITE\n\n', { direction: 'out' }));
    ladder.record(msg('\r\n\r\n')); // a keepalive: no Call-ID, not kept
    const taken = ladder.take('call-1@192.0.2.7');
    assert.deepEqual(
      taken?.messages.map((m) => [m.direction, m.firstLine]),
      [
        ['in', 'INVITE sip:ivr@example.com SIP/2.0'],
        ['out', 'SIP/2.0 100 Trying'],
      ],
    );
    assert.equal(taken?.omitted, 0);
    assert.equal(ladder.take('call-1@192.0.2.7'), undefined, 'handed over once');
    assert.equal(ladder.size, 1);
  });

  test('bounded: messages per call are counted past the cap, the oldest call goes first, idle calls are swept', () => {
    const ladder = new SipLadder({ maxMessagesPerCall: 2, maxCalls: 2, idleMs: 1000 });
    for (let i = 0; i < 5; i++)
      ladder.record(msg(`OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: ${i} OPTIONS\n\n`, { at: 0 }));
    assert.deepEqual(
      ladder.take('a')?.messages.map((m) => m.headers.CSeq),
      ['0 OPTIONS', '1 OPTIONS'],
    );
    ladder.record(msg('OPTIONS sip:x SIP/2.0\nCall-ID: b\n\n', { at: 0 }));
    ladder.record(msg('OPTIONS sip:x SIP/2.0\nCall-ID: c\n\n', { at: 500 }));
    ladder.record(msg('OPTIONS sip:x SIP/2.0\nCall-ID: d\n\n', { at: 900 }));
    assert.equal(ladder.take('b'), undefined, 'evicted at the cap');
    assert.equal(ladder.sweep(1600), 1, 'c is idle for 1100 ms, d for 700 ms');
    assert.ok(ladder.take('d'));
  });

  test('long values are cut; a message without a header section still has its first line', () => {
    const long = 'x'.repeat(1000);
    const { summary } = summarize(msg(`BYE sip:${long} SIP/2.0\nCall-ID: z\nReason: ${long}`));
    assert.equal(summary.firstLine.length, 200);
    assert.equal(summary.headers.Reason?.length, 200);
  });
});
