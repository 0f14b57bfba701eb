import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  beToInt16,
  decodePayload,
  encodePayload,
  frameBytes,
  frameSamples,
  int16ToBe,
  int16ToLe,
  leToInt16,
  PayloadError,
  swap16,
} from '../../src/audio/l16.js';

describe('L16 byte order and payload framing', () => {
  const samples = new Int16Array([0x0102, -2, 32767, -32768]);

  test('little-endian (WebSocket) and big-endian (RTP) bytes of known samples', () => {
    assert.deepEqual([...int16ToLe(samples)], [0x02, 0x01, 0xfe, 0xff, 0xff, 0x7f, 0x00, 0x80]);
    assert.deepEqual([...int16ToBe(samples)], [0x01, 0x02, 0xff, 0xfe, 0x7f, 0xff, 0x80, 0x00]);
    assert.deepEqual(leToInt16(int16ToLe(samples)), samples);
    assert.deepEqual(beToInt16(int16ToBe(samples)), samples);
    assert.deepEqual(swap16(int16ToLe(samples)), int16ToBe(samples));
  });

  test('every 16-bit value round-trips both ways, also from a view at an odd byte offset', () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i - 32768;
    const le = new Uint8Array(all.length * 2 + 1);
    int16ToLe(all, le.subarray(1));
    assert.deepEqual(leToInt16(le.subarray(1)), all);
    const be = new Uint8Array(all.length * 2 + 1);
    int16ToBe(all, be.subarray(1));
    assert.deepEqual(beToInt16(be.subarray(1)), all);
  });

  test('an odd number of bytes or a short output is refused', () => {
    assert.throws(() => leToInt16(new Uint8Array(3)), /not a whole number of samples/);
    assert.throws(() => beToInt16(new Uint8Array(5)), RangeError);
    assert.throws(() => swap16(new Uint8Array(1)), RangeError);
    assert.throws(() => int16ToLe(samples, new Uint8Array(7)), RangeError);
  });

  test('20 ms frame sizes', () => {
    assert.equal(frameSamples(8000), 160);
    assert.equal(frameBytes('mulaw', 8000), 160);
    assert.equal(frameBytes('l16', 8000), 320);
    assert.equal(frameBytes('l16', 16000), 640);
    assert.equal(frameBytes('l16', 24000), 960);
  });

  test('payload base64: only the view’s bytes, round trip, unpadded accepted', () => {
    const backing = new Uint8Array([1, 2, 3, 0xff, 0xfe, 0x00, 9]);
    const view = backing.subarray(1, 6);
    const b64 = encodePayload(view);
    assert.equal(b64, Buffer.from([2, 3, 0xff, 0xfe, 0x00]).toString('base64'));
    assert.deepEqual([...decodePayload(b64)], [...view]);
    assert.deepEqual([...decodePayload(b64.replace(/=+$/, ''))], [...view]);
    // A Twilio-style μ-law frame: 160 bytes → 216 characters.
    const frame = new Uint8Array(160).fill(0xff);
    assert.equal(encodePayload(frame).length, 216);
    assert.deepEqual(decodePayload(encodePayload(frame)), Buffer.from(frame));
  });

  test('garbage and oversized payloads get a PayloadError, not noise', () => {
    for (const bad of [
      'abc!',
      'ab=c',
      'a',
      'YWJj\nZA==',
      'YW Jj',
      'YQ==YQ==',
      '====',
      'YWJjZA=',
      42 as unknown as string,
    ]) {
      assert.throws(() => decodePayload(bad), PayloadError, JSON.stringify(bad));
    }
    const big = encodePayload(new Uint8Array(1000));
    assert.equal(decodePayload(big, 1000).length, 1000);
    assert.throws(() => decodePayload(big, 999), /larger than the 999 allowed/);
    assert.deepEqual([...decodePayload('')], []);
  });
});
