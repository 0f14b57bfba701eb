import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { decodeAlaw, decodeUlaw, encodeUlaw } from '../../src/audio/index.js';
import { StreamCodec } from '../../src/streams/stream-codec.js';
import { BotProtocolError, parseBotMessage, StreamMessages } from '../../src/streams/stream-messages.js';

// The stream command's contract and the Twilio Media Streams wire format, without a socket.

describe('the stream command', () => {
  test('defaults, and what it refuses before anything runs', () => {
    const ok = IvrCommand.parse({ stream: { url: 'wss://bot.example.com/media' } });
    assert.deepEqual(ok.stream, {
      url: 'wss://bot.example.com/media',
      bidirectional: false,
      track: 'inbound',
      encoding: 'mulaw',
      maxDurationSec: 3600,
    });
    const refused = (cmd: unknown) => !IvrCommand.safeParse(cmd).success;
    assert.ok(refused({ stream: { url: 'https://bot.example.com' } }), 'not a WebSocket URL');
    assert.ok(refused({ stream: { url: 'wss://b.example.com', sampleRate: 16000 } }), 'mulaw is 8 kHz');
    assert.ok(refused({ stream: { url: 'wss://b.example.com', encoding: 'l16', sampleRate: 44100 } }));
    assert.ok(refused({ stream: { url: 'wss://b.example.com' }, record: { fileName: 'x' } }), 'not with record');
    assert.ok(refused({ stream: { url: 'wss://b.example.com' }, echo: { durationSec: 2 } }), 'not with echo');
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    assert.ok(refused({ stream: { url: 'wss://b.example.com', parameters: many } }), 'at most 20 parameters');
    assert.ok(!refused({ stream: { url: 'wss://b.example.com' }, phrases: [{ format: 'tts', text: 'Hi' }], dtmf: {} }));
  });
});

describe('Twilio Media Streams messages', () => {
  test('a media message, built as text, is what JSON.stringify makes of it, in the same key order', () => {
    const m = new StreamMessages('MZabc');
    m.mark('x');
    const text = m.media('outbound', 12, 240, 'f/+A==');
    assert.equal(
      text,
      JSON.stringify({
        event: 'media',
        sequenceNumber: '2',
        media: { track: 'outbound', chunk: '12', timestamp: '240', payload: 'f/+A==' },
        streamSid: 'MZabc',
      }),
    );
  });

  test('a bot media message without a string payload is refused like any other bad message', () => {
    for (const bad of [
      '{"event":"media"}',
      '{"event":"media","media":null}',
      '{"event":"media","media":{"payload":3}}',
    ]) {
      assert.throws(() => parseBotMessage(bad, 1), BotProtocolError, bad);
    }
    assert.deepEqual(parseBotMessage('{"event":"media","media":{"payload":"AA=="},"streamSid":"x"}', 1), {
      event: 'media',
      media: { payload: 'AA==' },
      streamSid: 'x',
    });
  });

  test("the node's messages: strings for numbers, numbered from 1 after connected, streamSid on each", () => {
    const m = new StreamMessages('MZ1');
    assert.deepEqual(JSON.parse(m.connected()), { event: 'connected', protocol: 'Call', version: '1.0.0' });
    const media = JSON.parse(m.media('inbound', 3, 40, 'AAAA'));
    assert.deepEqual(media, {
      event: 'media',
      sequenceNumber: '1',
      media: { track: 'inbound', chunk: '3', timestamp: '40', payload: 'AAAA' },
      streamSid: 'MZ1',
    });
    assert.equal(JSON.parse(m.dtmf('5')).sequenceNumber, '2');
    assert.deepEqual(JSON.parse(m.dtmf('#')).dtmf, { track: 'inbound_track', digit: '#' });
  });

  test("a bot's messages: the four events are read, anything else is a protocol error that says what", () => {
    assert.deepEqual(parseBotMessage('{"event":"clear","streamSid":"MZ1"}', 1), { event: 'clear' });
    assert.deepEqual(parseBotMessage('{"event":"mark","mark":{"name":"m"}}', 2), {
      event: 'mark',
      mark: { name: 'm' },
    });
    assert.throws(
      () => parseBotMessage('hello', 3),
      (e) => e instanceof BotProtocolError && /3 is not JSON/.test(e.message),
    );
    assert.throws(() => parseBotMessage('{"event":"dance"}', 4), /event "dance"/);
    assert.throws(() => parseBotMessage('{"event":"media"}', 5), /event "media"/);
    assert.throws(() => parseBotMessage('[1,2]', 6), /no "event"/);
    assert.throws(() => parseBotMessage(`{"event":"mark","mark":{"name":"${'x'.repeat(300)}"}}`, 7), BotProtocolError);
  });
});

describe('stream audio conversion', () => {
  const tone = (n: number, hz: number, rate: number) =>
    Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / rate)));

  test('μ-law to a μ-law bot is a copy; to an L16 16 kHz bot it doubles the samples, little-endian', () => {
    const frame = encodeUlaw(tone(160, 440, 8000));
    assert.equal(new StreamCodec({ encoding: 'mulaw', sampleRate: 8000 }).toBot(frame, 'pcmu'), frame);
    const l16 = new StreamCodec({ encoding: 'l16', sampleRate: 16000 }).toBot(frame, 'pcmu');
    assert.equal(l16.length, 640);
  });

  test("a bot's L16 in odd-sized chunks comes out as the same audio as in one piece", () => {
    const bytes = new Uint8Array(Buffer.from(tone(2400, 600, 24000).buffer));
    const whole = new StreamCodec({ encoding: 'l16', sampleRate: 24000 }).toCaller(bytes, 'pcmu');
    const pieces = new StreamCodec({ encoding: 'l16', sampleRate: 24000 });
    const parts: number[] = [];
    for (let off = 0; off < bytes.length; off += 333)
      parts.push(...pieces.toCaller(bytes.subarray(off, off + 333), 'pcmu'));
    assert.equal(whole.length, 800, '100 ms at 8 kHz');
    assert.deepEqual(parts, [...whole]);
    // And it is still the tone: decoded, its level is about the input's.
    const rms = Math.sqrt(decodeUlaw(whole).reduce((s, v) => s + v * v, 0) / whole.length);
    assert.ok(rms > 4000 && rms < 7000, `rms ${rms}`);
  });

  test('an A-law caller: the μ-law bot gets μ-law, and its μ-law reply goes back as A-law', () => {
    const codec = new StreamCodec({ encoding: 'mulaw', sampleRate: 8000 });
    const alaw = new Uint8Array(160).fill(0xd5);
    const toBot = codec.toBot(alaw, 'pcma');
    assert.ok(
      decodeUlaw(toBot).every((v) => Math.abs(v) <= 16),
      'A-law silence is (near) μ-law silence',
    );
    const back = codec.toCaller(new Uint8Array(160).fill(0xff), 'pcma');
    assert.ok(
      decodeAlaw(back).every((v) => Math.abs(v) <= 16),
      'μ-law silence is (near) A-law silence',
    );
  });
});
