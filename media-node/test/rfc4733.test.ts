import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTelephoneEvent, QUIET_END_MS, Rfc4733Decoder } from '../src/media/rfc4733.js';
import { lastPacketMs } from '../src/media/rtpengine-media.js';
import { onHold } from '../src/media/sdp.js';

function payload(event: number, end: boolean, duration: number, volume = 10): Buffer {
  const b = Buffer.alloc(4);
  b[0] = event;
  b[1] = (end ? 0x80 : 0) | volume;
  b.writeUInt16BE(duration, 2);
  return b;
}

/** A key press as a phone sends it: growing duration every 20 ms, then the end packet three times. */
function press(d: Rfc4733Decoder, event: number, timestamp: number, t0: number, ssrc = 1, steps = 5) {
  const out = [];
  for (let i = 0; i < steps; i++)
    out.push(...d.push({ ssrc, timestamp, payload: payload(event, false, (i + 1) * 160) }, t0 + i * 20));
  for (let r = 0; r < 3; r++)
    out.push(...d.push({ ssrc, timestamp, payload: payload(event, true, steps * 160) }, t0 + steps * 20 + r));
  return out;
}

describe('RFC 4733 decoder', () => {
  test('payload fields (§2.3): event, E bit, volume, duration; short payloads refused', () => {
    assert.deepEqual(parseTelephoneEvent(payload(11, true, 800, 7)), {
      event: 11,
      end: true,
      volume: 7,
      duration: 800,
    });
    assert.equal(parseTelephoneEvent(Buffer.alloc(3)), undefined);
  });

  test('an event at timestamp 0 that is the first packet counts, once, with its duration', () => {
    const d = new Rfc4733Decoder();
    assert.deepEqual(press(d, 1, 0, 0), [{ digit: '1', durationMs: 100 }]);
    assert.equal(d.pending, false);
  });

  test('the three end packets count once; the same key again (new timestamp) counts again', () => {
    const d = new Rfc4733Decoder();
    const got = [...press(d, 8, 1000, 0), ...press(d, 8, 4000, 400), ...press(d, 11, 7200, 800)];
    assert.deepEqual(
      got.map((e) => e.digit),
      ['8', '8', '#'],
    );
  });

  test('an end packet arriving late (after the next event began) does not count again', () => {
    const d = new Rfc4733Decoder();
    press(d, 3, 1000, 0);
    press(d, 4, 4000, 300);
    assert.deepEqual(d.push({ ssrc: 1, timestamp: 1000, payload: payload(3, true, 800) }, 500), []);
  });

  test('a new SSRC is a new stream: its first key counts even with the last timestamp', () => {
    const d = new Rfc4733Decoder();
    const got = [...press(d, 1, 3200, 0, 0xaaaa), ...press(d, 2, 3200, 300, 0xbbbb)];
    assert.deepEqual(
      got.map((e) => e.digit),
      ['1', '2'],
    );
  });

  test('lost end packets: reported when the next event starts, or after QUIET_END_MS', () => {
    const d = new Rfc4733Decoder();
    d.push({ ssrc: 1, timestamp: 100, payload: payload(5, false, 160) }, 0);
    d.push({ ssrc: 1, timestamp: 100, payload: payload(5, false, 320) }, 20);
    assert.deepEqual(press(d, 6, 2000, 100), [
      { digit: '5', durationMs: 40 },
      { digit: '6', durationMs: 100 },
    ]);
    d.push({ ssrc: 1, timestamp: 9000, payload: payload(7, false, 160) }, 1000);
    assert.equal(d.pending, true);
    assert.deepEqual(d.flush(1000 + QUIET_END_MS - 1), []);
    assert.deepEqual(d.flush(1000 + QUIET_END_MS), [{ digit: '7', durationMs: 20 }]);
  });

  test('a long key press in segments (§2.5.1.3) is one key', () => {
    const d = new Rfc4733Decoder();
    assert.deepEqual(d.push({ ssrc: 1, timestamp: 0, payload: payload(9, false, 0xffff) }, 0), []);
    const got = d.push({ ssrc: 1, timestamp: 0xffff, payload: payload(9, true, 8000) }, 20);
    assert.deepEqual(got, [{ digit: '9', durationMs: Math.round(((0xffff + 8000) * 1000) / 8000) }]);
  });

  test('non-DTMF events (above 15) are not digits; timestamps wrap', () => {
    const d = new Rfc4733Decoder();
    assert.deepEqual(press(d, 32, 0xffff_ff00, 0), []);
    assert.deepEqual(
      press(d, 0, 0x100, 200).map((e) => e.digit),
      ['0'],
    );
  });

  test('reset (a new offer/answer): the same SSRC and timestamp count again', () => {
    const d = new Rfc4733Decoder();
    press(d, 7, 0, 0);
    d.reset();
    assert.deepEqual(
      press(d, 7, 0, 100).map((e) => e.digit),
      ['7'],
    );
    // Without a reset the same SSRC and timestamp count again once remembered entries expire (2 s).
    assert.deepEqual(press(d, 7, 0, 200), []);
    assert.deepEqual(
      press(d, 7, 0, 2500).map((e) => e.digit),
      ['7'],
    );
  });
});

describe('media timeout helpers', () => {
  const sdp = (extra: string[], conn = '127.0.0.1') =>
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      `c=IN IP4 ${conn}`,
      't=0 0',
      'm=audio 4000 RTP/AVP 0',
      ...extra,
      '',
    ].join('\r\n');

  test('hold: sendonly or inactive on the stream or the session, or c=0.0.0.0; not sendrecv/recvonly', () => {
    assert.equal(onHold(sdp(['a=sendonly'])), true);
    assert.equal(onHold(sdp(['a=inactive'])), true);
    assert.equal(onHold(sdp([], '0.0.0.0')), true);
    assert.equal(onHold(sdp(['a=sendrecv'])), false);
    assert.equal(onHold(sdp(['a=recvonly'])), false);
    assert.equal(onHold(sdp([])), false);
    assert.equal(onHold(sdp([]).replace('t=0 0', 't=0 0\r\na=inactive')), true);
    assert.equal(onHold(''), false);
  });

  test("rtpengine query: the latest 'last packet' of the party's streams (RTP and RTCP)", () => {
    const reply = {
      result: 'ok',
      tags: {
        caller: { medias: [{ streams: [{ 'last packet': 1000 }, { 'last packet': 1003 }] }] },
        ivr: { medias: [{ streams: [{ 'last packet': 2000 }] }] },
      },
    };
    assert.equal(lastPacketMs(reply, 'caller'), 1003 * 1000 + 999);
    assert.equal(lastPacketMs(reply, 'nobody'), undefined);
  });
});
