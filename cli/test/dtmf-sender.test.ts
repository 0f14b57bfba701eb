import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { parseRtp, type RtpPacket } from '@sipms/media-node/media/pcap';
import { parseTelephoneEvent, Rfc4733Decoder } from '@sipms/media-node/media/rfc4733';
import { CallerMedia, callerOffer } from '../src/caller-media.js';
import { eventPayload, TelephoneEventSender } from '../src/dtmf-sender.js';

// The RFC 4733 sender, packet by packet (pure), then as CallerMedia paces it over a real UDP socket to a real
// receiving socket in this process, and decoded by the media node's own RFC 4733 decoder (not a fake).

/** Runs the sender for `ticks` ticks from audio timestamp `ts0`; undefined entries are audio ticks. */
function run(sender: TelephoneEventSender, ticks: number, ts0 = 1000) {
  return Array.from({ length: ticks }, (_, i) => {
    const p = sender.next(ts0 + i * 160);
    return p && { ...p, ev: parseTelephoneEvent(p.payload)!, tick: i };
  });
}

describe('RFC 4733 sender', () => {
  test('one key: marker on the first packet, one start timestamp, growing duration, three end packets', () => {
    const sender = new TelephoneEventSender({ payloadType: 101 });
    sender.send('5');
    const out = run(sender, 12);
    const events = out.filter((p) => p !== undefined);
    assert.equal(events.length, 7, '100 ms of key (5 ticks, the last one the first end packet) and 2 more end packets');
    assert.deepEqual(
      out.map((p) => (p ? 'E' : 'a')),
      ['E', 'E', 'E', 'E', 'E', 'E', 'E', 'a', 'a', 'a', 'a', 'a'],
      'consecutive ticks, then audio again',
    );
    assert.deepEqual(
      events.map((p) => p.marker),
      [true, false, false, false, false, false, false],
    );
    assert.ok(events.every((p) => p.timestamp === 1000 && p.payloadType === 101));
    assert.deepEqual(
      events.map((p) => p.ev.duration),
      [160, 320, 480, 640, 800, 800, 800],
    );
    assert.deepEqual(
      events.map((p) => p.ev.end),
      [false, false, false, false, true, true, true],
    );
    assert.ok(events.every((p) => p.ev.event === 5 && p.ev.volume === 10));
    assert.equal(sender.busy, false);
  });

  test('several keys: each a new event (new timestamp, marker) after a 100 ms pause; * # A-D codes', () => {
    const sender = new TelephoneEventSender({ payloadType: 96 });
    sender.send('1*#D');
    const out = run(sender, 4 * 12);
    const starts = out.filter((p) => p?.marker);
    assert.deepEqual(
      starts.map((p) => p!.ev.event),
      [1, 10, 11, 15],
    );
    // 7 event ticks + 5 pause ticks per key: starts 12 ticks (240 ms, 1920 samples) apart.
    assert.deepEqual(
      starts.map((p) => p!.tick),
      [0, 12, 24, 36],
    );
    assert.deepEqual(
      starts.map((p) => p!.timestamp - 1000),
      [0, 1920, 3840, 5760],
    );
    assert.deepEqual(sender.started.map((s) => s.digit).join(''), '1*#D');
  });

  test('keys queued while one is sent follow it; a long key keeps within one event', () => {
    const sender = new TelephoneEventSender({ payloadType: 101, toneMs: 400, pauseMs: 40 });
    sender.send('7');
    const first = run(sender, 3);
    sender.send('8');
    const rest = run(sender, 40, 1000 + 3 * 160);
    const all = [...first, ...rest].filter((p) => p !== undefined);
    const seven = all.filter((p) => p.ev.event === 7);
    assert.equal(seven.length, 20 + 2);
    assert.equal(seven.at(-1)!.ev.duration, 3200);
    assert.equal(all.filter((p) => p.ev.event === 8 && p.marker).length, 1);
  });

  test('the timestamp wraps at 2^32 like the audio clock', () => {
    const sender = new TelephoneEventSender({ payloadType: 101 });
    sender.send('9');
    assert.equal(sender.next(2 ** 32 + 5)!.timestamp, 5);
  });

  test('invalid keys are refused', () => {
    const sender = new TelephoneEventSender({ payloadType: 101 });
    assert.throws(() => sender.send('12x'), /"x" is not a DTMF key/);
    assert.throws(() => eventPayload('E', false, 10, 160), RangeError);
    assert.equal(sender.busy, false, 'nothing of a refused group is queued');
  });

  test("the media node's decoder reads the sender's packets as exactly those keys, 100 ms each", () => {
    const sender = new TelephoneEventSender({ payloadType: 101 });
    sender.send('2580#');
    const decoder = new Rfc4733Decoder();
    const keys: { digit: string; durationMs: number }[] = [];
    for (const [i, p] of run(sender, 80).entries()) {
      if (p) keys.push(...decoder.push({ ssrc: 42, timestamp: p.timestamp, payload: p.payload }, i * 20));
    }
    assert.deepEqual(keys.map((k) => k.digit).join(''), '2580#');
    assert.ok(keys.every((k) => k.durationMs === 100));
  });
});

describe('caller media over UDP (real sockets)', () => {
  test('20 ms PCMU pacing, continuous sequence and timestamps, the key at its time, the played audio', async () => {
    const far = createSocket('udp4');
    await new Promise<void>((r) => far.bind(0, '127.0.0.1', () => r()));
    const got: { at: number; p: RtpPacket }[] = [];
    far.on('message', (msg) => {
      const p = parseRtp(msg);
      if (p) got.push({ at: performance.now(), p: { ...p, payload: Buffer.from(p.payload) } });
    });
    const tone = new Int16Array(8000).map((_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 500 * i) / 8000)));
    const media = await CallerMedia.open('127.0.0.1', tone);
    const answer = callerOffer('127.0.0.1', (far.address() as AddressInfo).port, 101);
    const started = performance.now();
    media.start(answer, [{ atMs: 400, digits: '4' }]);
    await new Promise((r) => setTimeout(r, 1500));
    await media.stop();
    far.close();

    const audio = got.filter((g) => g.p.payloadType === 0);
    const events = got.filter((g) => g.p.payloadType === 101);
    const packets = got.length;
    assert.ok(packets >= 68 && packets <= 78, `about 75 packets in 1.5 s: ${packets}`);
    for (let i = 1; i < got.length; i++) {
      assert.equal((got[i]!.p.seq - got[i - 1]!.p.seq) & 0xffff, 1, 'one sequence, no gaps (loopback)');
    }
    for (let i = 1; i < audio.length; i++) {
      const step = (audio[i]!.p.timestamp - audio[i - 1]!.p.timestamp) >>> 0;
      assert.equal(step % 160, 0, 'audio timestamps advance in 20 ms steps');
    }
    assert.ok(audio[0]!.p.marker && audio.slice(1).every((a) => !a.p.marker), 'marker only on the first audio packet');
    assert.ok(audio.every((a) => a.p.payload.length === 160));
    // No drift: the n-th packet leaves at about n × 20 ms.
    const last = got.at(-1)!;
    const expected = (packets - 1) * 20;
    assert.ok(Math.abs(last.at - started - expected) < 60, `paced: packet ${packets} at ${last.at - started} ms`);
    // The key: 7 packets from 400 ms on, its timestamp the audio clock's at that tick.
    assert.equal(events.length, 7);
    const first = events[0]!;
    assert.ok(first.p.marker);
    assert.equal((first.p.timestamp - audio[0]!.p.timestamp) >>> 0, 20 * 160, 'the event starts at tick 20 (400 ms)');
    assert.ok(Math.abs(first.at - started - 400) < 60, `sent at ${first.at - started} ms`);
    assert.deepEqual(media.dtmfSent, [{ digit: '4', atMs: 400 }]);
    // The tone went out for its second, then silence (µ-law 0xff).
    assert.ok(audio.slice(2, 20).every((a) => a.p.payload.some((b) => b !== 0xff)));
    assert.ok(audio.slice(-10).every((a) => a.p.payload.every((b) => b === 0xff)));
  });

  test('an answer without telephone-event: the keys are not sent and a warning says so', async () => {
    const far = createSocket('udp4');
    await new Promise<void>((r) => far.bind(0, '127.0.0.1', () => r()));
    let events = 0;
    far.on('message', (msg) => {
      if (parseRtp(msg)?.payloadType !== 0) events += 1;
    });
    const media = await CallerMedia.open('127.0.0.1');
    const answer = callerOffer('127.0.0.1', (far.address() as AddressInfo).port)
      .split('\r\n')
      .filter((l) => !/101/.test(l) || l.startsWith('m='))
      .join('\r\n')
      .replace(' 0 101', ' 0');
    media.start(answer, [{ atMs: 40, digits: '1' }]);
    await new Promise((r) => setTimeout(r, 300));
    await media.stop();
    far.close();
    assert.equal(events, 0);
    assert.match(media.warnings.join(), /no telephone-event/);
  });
});
