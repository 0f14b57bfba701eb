import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { createLogger } from '@sipms/shared/util/logger';
import type { AudioTap } from '../../src/ports/media.js';
import { DEFAULT_STREAM_LIMITS, runStream } from '../../src/streams/media-stream.js';

// A bot that speaks in the same TCP segment as its handshake answer: `ws` emits that message at once, before
// the stream could attach a listener. Raw TCP makes the timing certain.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A WebSocket server of a few lines: answers the upgrade and, in the same write, sends `frames`. */
function rawBot(frames: Buffer[]): Promise<Server> {
  const server = createServer((socket) => {
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: (\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const answer = Buffer.from(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        'latin1',
      );
      socket.write(Buffer.concat([answer, ...frames]));
      head = '';
    });
    socket.on('error', () => socket.destroy());
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** An unmasked server frame (RFC 6455 §5.2): text, or close with a code. */
const text = (s: string) => Buffer.concat([Buffer.from([0x81, Buffer.byteLength(s)]), Buffer.from(s)]);
const close = (code: number) => Buffer.from([0x88, 2, code >> 8, code & 0xff]);

function fakeTap(): AudioTap {
  return { codec: 'pcmu', onAudio: () => () => undefined, send: () => undefined, close: () => undefined };
}

const run = (url: string) =>
  runStream(
    { url, bidirectional: true, track: 'inbound', encoding: 'mulaw', maxDurationSec: 5 },
    {
      tap: fakeTap(),
      onDigit: () => () => undefined,
      signal: new AbortController().signal,
      abortReason: () => undefined,
      ids: { tenantId: 't1', sessionId: 's1', participantId: 'p1' },
      secrets: ['secret'],
      journal: () => undefined,
      policy: 'allow-loopback',
      addresses: AddressPolicy.fromSettings('allow-loopback'),
      limits: DEFAULT_STREAM_LIMITS,
      logger: createLogger({}, 'error', () => undefined),
    },
  );

describe('a bot that speaks at once', () => {
  const servers: Server[] = [];
  let garbage: string;
  let closing: string;

  before(async () => {
    for (const frames of [[text('not json at all')], [close(1011)]]) servers.push(await rawBot(frames));
    [garbage, closing] = servers.map((s) => `ws://127.0.0.1:${(s.address() as AddressInfo).port}/bot`) as [
      string,
      string,
    ];
  });
  after(() => {
    for (const s of servers) s.close();
  });

  test('a message in the handshake segment is read, not lost (the stream would wait for maxDuration)', async () => {
    const started = Date.now();
    const result = await run(garbage);
    assert.equal(result.reason, 'failed');
    assert.match(result.error ?? '', /bot message 1 is not JSON/);
    assert.ok(Date.now() - started < 2000, `ended after ${Date.now() - started} ms`);
  });

  test('a close in the handshake segment ends the stream at once as closed, with its code', async () => {
    const result = await run(closing);
    assert.equal(result.reason, 'closed');
    assert.match(result.error ?? '', /code 1011/);
  });
});
