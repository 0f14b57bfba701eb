import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createEventBridgeClient } from '../src/aws/clients.js';
import { createDocumentClient } from '../src/aws/document-client.js';
import { SessionStore } from '../src/data/session-store.js';
import { useLocalEndpoints } from './helpers/local-endpoints.js';

// A peer that accepts connections and never answers (a request lost on the network), over real TCP, with the
// product's own client factories: requests fail and are retried instead of waiting forever.
const sockets: Socket[] = [];
let connections = 0;
const blackHole = createServer((socket) => {
  connections += 1;
  sockets.push(socket);
  socket.on('error', () => undefined);
});

before(async () => {
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
  const { port } = blackHole.address() as { port: number };
  useLocalEndpoints({ dynamodb: `http://127.0.0.1:${port}`, eventbridge: `http://127.0.0.1:${port}` });
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => blackHole.close(r));
});

/** The promise's outcome, or a failure naming the bound if it has none by then (the bug: it never settles). */
async function settled<T>(p: Promise<T>, ms: number): Promise<{ error?: Error; ms: number }> {
  const t0 = performance.now();
  const result = await Promise.race([
    p.then(
      () => ({}),
      (error: Error) => ({ error }),
    ),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
  return { ...result, ms: performance.now() - t0 };
}

test('a DynamoDB request that gets no answer times out and is retried, then fails', async () => {
  connections = 0;
  const doc = createDocumentClient({ connectionTimeout: 500, requestTimeout: 300 });
  const r = await settled(doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } })), 8000);
  doc.destroy();
  assert.equal(r.error?.name, 'TimeoutError', String(r.error));
  assert.equal(connections, 3, 'three attempts (maxAttempts)');
  assert.ok(r.ms >= 900, `each attempt waited its 300 ms: ${r.ms.toFixed(0)} ms`);
});

test('an EventBridge request that gets no answer times out too', async () => {
  connections = 0;
  const bus = createEventBridgeClient({ connectionTimeout: 500, requestTimeout: 300 });
  const r = await settled(
    bus.send(new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] })),
    8000,
  );
  bus.destroy();
  assert.equal(r.error?.name, 'TimeoutError', String(r.error));
  assert.equal(connections, 3);
});

test("the node's reply read stops at once when its poller abandons it (abort signal)", async () => {
  connections = 0;
  const doc = createDocumentClient();
  const sessions = new SessionStore(doc, 't');
  const abort = new AbortController();
  const read = sessions.getReplies([{ sessionId: 's', eventId: 'e' }], abort.signal);
  while (connections === 0) await new Promise((r) => setTimeout(r, 10));
  abort.abort();
  const r = await settled(read, 2000);
  doc.destroy();
  assert.equal(r.error?.name, 'AbortError', String(r.error));
  assert.ok(r.ms < 500, `${r.ms.toFixed(0)} ms`);
});

test('every AWS SDK client the product builds has the request limits', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const root = join(import.meta.dirname, '..', '..');
  const unbounded: string[] = [];
  let clients = 0;
  for (const workspace of ['shared', 'lambdas', 'media-node', 'infra', 'cli']) {
    const dir = join(root, workspace, 'src');
    const files = (await readdir(dir, { recursive: true }).catch(() => [])).filter((f) => String(f).endsWith('.ts'));
    for (const file of files) {
      const source = await readFile(join(dir, String(file)), 'utf8');
      const sdkClasses = [...source.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[^']+'/g)]
        .flatMap((m) => m[1]!.split(','))
        .map((name) => name.replace(/\btype\b/, '').trim())
        .filter((name) => name.endsWith('Client'));
      for (const cls of sdkClasses) {
        for (const m of source.matchAll(new RegExp(`new ${cls}\\(([^)]*\\)?[^)]*)\\)`, 'g'))) {
          clients += 1;
          if (!/requestHandler: boundedRequests\(/.test(m[1]!)) unbounded.push(`${workspace}/src/${file}: ${m[0]}`);
        }
      }
    }
  }
  assert.ok(clients >= 12, `the scan found the product's clients (${clients})`);
  assert.deepEqual(unbounded, []);
});

// S3 uploads (a recording, tens of MB) may rightly outlast any whole-request limit: S3's clients get a limit on
// silence instead. A slow uplink is modelled by a body that arrives 64 KB every 50 ms for 1.5 s.
test('an S3 upload slower than the whole-request limit completes with the streaming limits; a silent peer still fails', async () => {
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { createServer: createHttpServer } = await import('node:http');
  const { Readable } = await import('node:stream');
  const { AWS_STREAMING_LIMITS, boundedRequests } = await import('../src/aws/clients.js');
  let received = 0;
  const s3Like = createHttpServer((req, res) => {
    req.on('data', (d: Buffer) => (received += d.length));
    req.on('end', () => res.writeHead(200, { ETag: '"e"' }).end());
  });
  await new Promise<void>((r) => s3Like.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(s3Like.address() as { port: number }).port}`;
  const chunks = 30;
  const slowBody = () =>
    Readable.from(
      (async function* () {
        for (let i = 0; i < chunks; i++) {
          await new Promise((r) => setTimeout(r, 50));
          yield Buffer.alloc(64 * 1024, i);
        }
      })(),
    );
  const put = (limits: Parameters<typeof boundedRequests>[0], at = endpoint) => {
    const s3 = new S3Client({
      endpoint: at,
      forcePathStyle: true,
      maxAttempts: 1,
      requestHandler: boundedRequests(limits),
    });
    return settled(
      s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: slowBody(), ContentLength: chunks * 64 * 1024 })),
      8000,
    ).finally(() => s3.destroy());
  };
  try {
    const streaming = await put({ ...AWS_STREAMING_LIMITS, socketTimeout: 400 });
    assert.equal(streaming.error, undefined, String(streaming.error));
    assert.ok(streaming.ms >= 1400, `the upload took ${streaming.ms.toFixed(0)} ms`);
    assert.ok(received >= chunks * 64 * 1024);
    const whole = await put({ connectionTimeout: 500, requestTimeout: 400 });
    assert.equal(whole.error?.name, 'TimeoutError', 'a whole-request limit would cut it');
    const silent = await put(
      { ...AWS_STREAMING_LIMITS, socketTimeout: 300 },
      `http://127.0.0.1:${(blackHole.address() as { port: number }).port}`,
    );
    assert.equal(silent.error?.name, 'TimeoutError', String(silent.error));
  } finally {
    s3Like.closeAllConnections();
    await new Promise((r) => s3Like.close(r));
  }
});
