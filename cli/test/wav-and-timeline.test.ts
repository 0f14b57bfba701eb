import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rmsLevel } from '@sipms/media-node/media/pcap';
import { commandKind, timelineOf } from '../src/journal.js';
import { formatResult } from '../src/report.js';
import type { CallResult } from '../src/types.js';
import { wavTo8kMono } from '../src/wav-file.js';

// WAV input conversion (pure), and the journal → timeline → text path on a journal as the local deployment
// wrote it for a real call (trimmed: trace ids, headers and the URL of each attempt left out).

function wav(opts: { format: number; rate: number; channels: number; bits: number; data: Buffer }): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(opts.format, 0);
  fmt.writeUInt16LE(opts.channels, 2);
  fmt.writeUInt32LE(opts.rate, 4);
  fmt.writeUInt32LE((opts.rate * opts.channels * opts.bits) / 8, 8);
  fmt.writeUInt16LE((opts.channels * opts.bits) / 8, 12);
  fmt.writeUInt16LE(opts.bits, 14);
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'ascii');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const body = Buffer.concat([
    Buffer.from('WAVE'),
    chunk('LIST', Buffer.from('INFOxx')),
    chunk('fmt ', fmt),
    chunk('data', opts.data),
  ]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** A 1 s 440 Hz sine at `rate`, `channels` interleaved (the second channel silent), as 16-bit PCM. */
function sine16(rate: number, channels: number, amplitude = 0.5): Buffer {
  const b = Buffer.alloc(rate * channels * 2);
  for (let i = 0; i < rate; i++) {
    b.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * channels * 2);
  }
  return b;
}

describe('WAV input', () => {
  test('8 kHz mono 16-bit passes unchanged', () => {
    const data = sine16(8000, 1);
    const out = wavTo8kMono(wav({ format: 1, rate: 8000, channels: 1, bits: 16, data }));
    assert.equal(out.length, 8000);
    assert.equal(out[100], data.readInt16LE(200));
  });

  for (const rate of [16000, 44100, 48000, 22050]) {
    test(`${rate} Hz stereo → 8 kHz mono of the same length and level (channels averaged)`, () => {
      const out = wavTo8kMono(wav({ format: 1, rate, channels: 2, bits: 16, data: sine16(rate, 2) }));
      assert.ok(Math.abs(out.length - 8000) <= 1, `${out.length} samples`);
      const rms = rmsLevel(out.subarray(400, 7600));
      // Left 0.5 sine (RMS 0.354), right silent: the average has RMS 0.177.
      assert.ok(Math.abs(rms - 0.177) < 0.01, `RMS ${rms}`);
    });
  }

  test('µ-law, A-law, 8-bit unsigned, 24-bit, float', () => {
    const ulaw = wavTo8kMono(
      wav({ format: 7, rate: 8000, channels: 1, bits: 8, data: Buffer.from([0x00, 0x80, 0xff]) }),
    );
    assert.deepEqual([...ulaw], [-32124, 32124, 0]);
    const alaw = wavTo8kMono(wav({ format: 6, rate: 8000, channels: 1, bits: 8, data: Buffer.from([0xd5]) }));
    assert.ok(Math.abs(alaw[0]!) < 16);
    assert.deepEqual(
      [...wavTo8kMono(wav({ format: 1, rate: 8000, channels: 1, bits: 8, data: Buffer.from([0, 128, 255]) }))],
      [-32768, 0, 32512],
    );
    const s24 = Buffer.alloc(3);
    s24.writeIntLE(-4_000_000, 0, 3);
    assert.deepEqual([...wavTo8kMono(wav({ format: 1, rate: 8000, channels: 1, bits: 24, data: s24 }))], [-15625]);
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(0.5, 0);
    f32.writeFloatLE(-2, 4);
    assert.deepEqual(
      [...wavTo8kMono(wav({ format: 3, rate: 8000, channels: 1, bits: 32, data: f32 }))],
      [16384, -32768],
    );
  });

  test('what is not a usable WAV is refused with the reason', () => {
    assert.throws(() => wavTo8kMono(Buffer.from('ID3 not a wav at all')), /no RIFF\/WAVE header/);
    const ok = { format: 1, rate: 8000, channels: 1, bits: 16, data: Buffer.alloc(4) };
    assert.throws(() => wavTo8kMono(wav({ ...ok, format: 2 })), /unsupported encoding/);
    assert.throws(() => wavTo8kMono(wav({ ...ok, bits: 12 })), /unsupported encoding/);
    assert.throws(() => wavTo8kMono(wav({ ...ok, rate: 100 })), /sample rate 100/);
    assert.throws(() => wavTo8kMono(wav({ ...ok, channels: 0 })), /0 channels/);
    assert.throws(() => wavTo8kMono(wav(ok).subarray(0, 30)), /no fmt chunk|too short|no data chunk/);
  });
});

const JOURNAL = {
  sessionId: 'sds222eryx1bds0n8epfy',
  state: 'ended',
  createdAt: '2026-11-30T09:25:13.977Z',
  participants: { p2m: { direction: 'inbound', sipCallId: '2f55@127.0.0.1' } },
  journal: [
    {
      at: '2026-11-30T09:25:14.015Z',
      kind: 'sip',
      event: 'invite',
      from: 'sip:sipms-cli@127.0.0.1',
      to: 'sip:ivr-cli@127.0.0.1:14982',
      source: { address: '127.0.0.1', port: 41793 },
      participantId: 'p2m',
    },
    {
      at: '2026-11-30T09:25:14.588Z',
      kind: 'callback',
      callback: 'newCall',
      request: { timestamp: '2026-11-30T09:25:14.026Z', sipCallId: '2f55@127.0.0.1' },
      reply: { action: 'ivr' },
      httpStatus: 200,
      attempts: [{ attempt: 1, status: 200, ms: 480 }],
      latencyMs: 490,
    },
    { at: '2026-11-30T09:25:14.630Z', kind: 'command', callback: 'newCall', action: 'ivr', fallback: false },
    { at: '2026-11-30T09:25:14.675Z', kind: 'sip', event: 'answered' },
    {
      at: '2026-11-30T09:25:14.931Z',
      kind: 'callback',
      callback: 'getIvrCommand',
      request: { timestamp: '2026-11-30T09:25:14.682Z' },
      reply: {
        phrases: [{ format: 'file', fileName: 'prompt' }],
        dtmf: { maxDigits: 5, terminationKey: '#' },
        bargeIn: 'none',
        hangup: false,
      },
      httpStatus: 200,
      attempts: [{ attempt: 1, status: 200, ms: 80 }],
      latencyMs: 88,
    },
    {
      at: '2026-11-30T09:25:18.977Z',
      kind: 'callback',
      callback: 'getIvrCommand',
      request: {
        timestamp: '2026-11-30T09:25:18.714Z',
        dtmfParams: { digits: '123', terminationKey: '#', reason: 'terminationKey' },
      },
      reply: { phrases: [{ format: 'file', fileName: 'prompt' }], hangup: true },
      httpStatus: 200,
      attempts: [{ attempt: 1 }],
      latencyMs: 64,
    },
    {
      at: '2026-11-30T09:25:19.000Z',
      kind: 'callback',
      callback: 'callEvent',
      request: { timestamp: '2026-11-30T09:25:18.900Z', event: 'callingPartyDrop' },
      fallback: true,
      reason: 'hook: timeout',
      ranInstead: 'default handling',
      attempts: [{ attempt: 1 }, { attempt: 2 }, { attempt: 3 }],
      latencyMs: 15000,
    },
    {
      at: '2026-11-30T09:25:21.037Z',
      kind: 'sip',
      event: 'messages',
      callId: '2f55@127.0.0.1',
      messages: [
        { firstLine: 'INVITE sip:ivr-cli@127.0.0.1:14982 SIP/2.0' },
        { firstLine: 'SIP/2.0 100 Trying' },
        { firstLine: 'SIP/2.0 200 OK' },
        { firstLine: 'ACK sip:x SIP/2.0' },
        { firstLine: 'BYE sip:y SIP/2.0' },
        { firstLine: 'SIP/2.0 200 OK' },
      ],
    },
    {
      at: '2026-11-30T09:25:21.249Z',
      kind: 'callback',
      callback: 'sessionCompleted',
      request: { timestamp: '2026-11-30T09:25:21.152Z', sessionDuration: 7.2, reason: 'hangup' },
      reply: {},
      httpStatus: 200,
      attempts: [{ attempt: 1 }],
      latencyMs: 82,
    },
  ],
};

describe('journal timeline', () => {
  test('callbacks with status, latency, attempts and their key fields, at the time they were raised', () => {
    const t = timelineOf(JOURNAL);
    assert.deepEqual(
      t.map((e) => [e.offsetMs, e.kind, e.name]),
      [
        [38, 'sip', 'invite'],
        [49, 'callback', 'newCall'],
        [653, 'command', 'ivr'],
        [698, 'sip', 'answered'],
        [705, 'callback', 'getIvrCommand'],
        [4737, 'callback', 'getIvrCommand'],
        [4923, 'callback', 'callEvent'],
        [7060, 'sip', 'messages'],
        [7175, 'callback', 'sessionCompleted'],
      ],
    );
    const [, newCall, command, , first, second, event, messages, done] = t;
    assert.deepEqual(newCall, {
      offsetMs: 49,
      at: '2026-11-30T09:25:14.026Z',
      kind: 'callback',
      name: 'newCall',
      status: 200,
      latencyMs: 490,
      attempts: 1,
      fields: { action: 'ivr' },
    });
    assert.deepEqual(command!.fields, { callback: 'newCall' });
    assert.deepEqual(first!.fields, { command: 'phrases+dtmf' });
    assert.deepEqual(second!.fields, { digits: '123', dtmfReason: 'terminationKey', command: 'phrases+hangup' });
    assert.equal(event!.status, 'fallback');
    assert.equal(event!.attempts, 3);
    assert.deepEqual(event!.fields, { event: 'callingPartyDrop', fallback: 'default handling', why: 'hook: timeout' });
    assert.deepEqual(messages!.fields, { ladder: 'INVITE 100 200 ACK BYE 200' });
    assert.deepEqual(done!.fields, { reason: 'hangup', duration: '7.2' });
  });

  test('command kinds', () => {
    assert.equal(commandKind({}), 'none');
    assert.equal(commandKind({ phrases: [], hangup: true }), 'hangup');
    assert.equal(commandKind({ record: { fileName: 'x' } }), 'record');
    assert.equal(commandKind({ phrases: [{}], stream: {}, dtmf: {} }), 'phrases+stream+dtmf');
  });

  test('the text report: outcome, keys, audio, then one line per journal entry', () => {
    const result: CallResult = {
      sipCallId: '2f55@127.0.0.1',
      answered: true,
      sipStatus: 200,
      endedBy: 'remote',
      durationMs: 6380,
      reason: 'the far end hung up (BYE)',
      startedAt: '2026-11-30T09:25:13.900Z',
      answeredAt: '2026-11-30T09:25:14.644Z',
      endedAt: '2026-11-30T09:25:21.100Z',
      setupMs: 765,
      requestUri: 'sip:ivr-cli@127.0.0.1:14982',
      server: '127.0.0.1:14982',
      transport: 'udp',
      dtmfSent: [{ digit: '1', atMs: 2500 }],
      heard: { rmsDbfs: -11.1, seconds: 6.38, audibleSeconds: 4.02 },
      recordedWav: 'heard.wav',
      sip: [],
      warnings: [],
      sessionId: JOURNAL.sessionId,
      timeline: timelineOf(JOURNAL),
    };
    const text = formatResult(result);
    assert.match(text, /outcome +200 OK, answered at 2026-11-30T09:25:14.644Z \(setup 765 ms\)/);
    assert.match(text, /ended +by remote after 6\.38 s/);
    assert.match(text, /sent +DTMF 1 at 2\.50 s/);
    assert.match(text, /heard +6\.38 s \(4\.02 s audible\), RMS -11\.1 dBFS → heard\.wav/);
    assert.match(
      text,
      /\+4\.737 s +getIvrCommand +200 +64 ms +1 attempt +digits=123 dtmfReason=terminationKey command=phrases\+hangup/,
    );
    assert.match(text, /callEvent +fallback +15000 ms +3 attempts +event=callingPartyDrop fallback="default handling"/);
    assert.match(text, /sip messages +ladder="INVITE 100 200 ACK BYE 200"/);
    const rejected = formatResult({
      ...result,
      answered: false,
      sipStatus: 404,
      endedBy: 'remote',
      reason: '404 Not Found',
      heard: undefined,
      timeline: undefined,
      dtmfSent: [],
    });
    assert.match(rejected, /outcome +404 Not Found: not answered/);
  });
});
