import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OtelTracer, tracerFromSpec } from '../src/observability/otel-tracer.js';
import { parseTraceparent } from '../src/observability/trace-context.js';
import { UNRECORDED_TRACER } from '../src/observability/tracing.js';
import { XrayOtlpExporter } from '../src/observability/xray-otlp-exporter.js';
import { createLogger } from '../src/util/logger.js';

const logger = createLogger({}, 'silent');

/** A collector stand-in: a real HTTP server that keeps every request (OTLP/HTTP is a POST per batch). */
async function collector(): Promise<{
  url: string;
  got: { req: IncomingMessage; body: Buffer }[];
  close(): Promise<void>;
}> {
  const got: { req: IncomingMessage; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ req, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, got, close: () => new Promise((r) => server.close(() => r())) };
}

describe('tracing (OpenTelemetry)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'traces-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('TRACES_EXPORTER is checked at start-up: unknown names and missing endpoints are errors, not silence', () => {
    assert.throws(() => tracerFromSpec('jaeger', { service: 's', logger }), /unknown exporter "jaeger"/);
    assert.throws(() => tracerFromSpec('otlp', { service: 's', logger, env: {} }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
    assert.throws(() => tracerFromSpec('xray', { service: 's', logger, env: {} }), /AWS_REGION/);
    assert.equal(tracerFromSpec('none', { service: 's', logger }), UNRECORDED_TRACER);
    assert.ok(
      tracerFromSpec('xray', { service: 's', logger, env: { AWS_REGION: 'eu-central-1' } }) instanceof OtelTracer,
    );
  });

  test('unrecorded spans still make valid ids and keep the parent’s trace', () => {
    const root = UNRECORDED_TRACER.startSpan('session');
    const child = UNRECORDED_TRACER.startSpan('callback newCall', { parent: root });
    const remote = UNRECORDED_TRACER.startSpan('webhook newCall', { parent: child.traceparent });
    assert.deepEqual(parseTraceparent(root.traceparent), { traceId: root.traceId, spanId: root.spanId });
    assert.equal(child.traceId, root.traceId);
    assert.equal(remote.traceId, root.traceId);
    assert.notEqual(remote.spanId, child.spanId);
    assert.notEqual(UNRECORDED_TRACER.startSpan('other', { parent: 'garbage' }).traceId, root.traceId);
  });

  test('file: a span per line, children linked to their parents across a traceparent; status and attributes kept', async () => {
    const file = join(dir, 'sub', 'spans.jsonl');
    const tracer = tracerFromSpec(`file:${file}`, { service: 'media-node', logger });
    const session = tracer.startSpan('session', { kind: 'server', attributes: { 'sipms.session_id': 's1' } });
    const callback = tracer.startSpan('callback newCall', { parent: session, kind: 'producer' });
    const webhook = tracer.startSpan('webhook newCall', { parent: callback.traceparent, kind: 'client' });
    webhook.fail('timeout');
    webhook.end();
    webhook.end(); // once only
    callback.end();
    session.end();
    await tracer.flush();
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    const by = Object.fromEntries(lines.map((l) => [l.name, l]));
    assert.equal(by.session.traceId, session.traceId);
    assert.equal(by.session.parentSpanId, undefined);
    assert.equal(by.session.kind, 'server');
    assert.equal(by.session.service, 'media-node');
    assert.deepEqual(by.session.attributes, { 'sipms.session_id': 's1' });
    assert.equal(by['callback newCall'].parentSpanId, session.spanId);
    assert.equal(by['webhook newCall'].parentSpanId, callback.spanId);
    assert.equal(by['webhook newCall'].traceId, session.traceId);
    assert.equal(by['webhook newCall'].status, 'error');
    assert.equal(by['webhook newCall'].statusMessage, 'timeout');
    assert.ok(by.session.durationMs >= by['callback newCall'].durationMs);
    await tracer.shutdown();
  });

  test('an invocation’s end exports its spans on Lambda (frozen between invocations); elsewhere the batch waits', async () => {
    const onLambda = join(dir, 'lambda.jsonl');
    const local = join(dir, 'local.jsonl');
    const lambda = tracerFromSpec(`file:${onLambda}`, {
      service: 'control-plane',
      logger,
      env: { AWS_LAMBDA_FUNCTION_NAME: 'dispatcher' },
    });
    const stack = tracerFromSpec(`file:${local}`, { service: 'control-plane', logger, env: {} });
    lambda.startSpan('webhook newCall').end();
    stack.startSpan('webhook newCall').end();
    await lambda.invocationEnded();
    await stack.invocationEnded();
    assert.equal((await readFile(onLambda, 'utf8')).trim().split('\n').length, 1, 'exported as the invocation ended');
    await assert.rejects(readFile(local, 'utf8'), { code: 'ENOENT' }, 'a long-running process exports with its batch');
    await stack.shutdown();
    assert.equal((await readFile(local, 'utf8')).trim().split('\n').length, 1, 'and at shutdown');
    await lambda.shutdown();
  });

  test('file: past its size the file is rotated once (the previous one kept as <file>.1), nothing lost', async () => {
    const { JsonLinesSpanExporter } = await import('../src/observability/json-lines-span-exporter.js');
    const file = join(dir, 'rotating.jsonl');
    const exporter = new JsonLinesSpanExporter({ file, maxBytes: 1500 });
    const tracer = new OtelTracer('media-node', exporter, logger);
    const names: string[] = [];
    for (let i = 0; i < 12; i++) {
      names.push(`span-${i}`);
      tracer.startSpan(`span-${i}`).end();
      await tracer.flush(); // one export per span: the size is checked before each append
    }
    await tracer.shutdown();
    const current = (await readFile(file, 'utf8')).trim().split('\n');
    const previous = (await readFile(`${file}.1`, 'utf8')).trim().split('\n');
    assert.ok(Buffer.byteLength(current.join('\n')) <= 1500, 'the current file stays under the limit');
    const kept = [...previous, ...current].map((l) => JSON.parse(l).name as string);
    // Older rotations are dropped by design (one previous file); what is kept is the newest, in order.
    assert.deepEqual(kept, names.slice(names.length - kept.length));
    assert.ok(kept.length >= 6, `${kept.length} spans kept`);
  });

  test('otlp: batches are POSTed to the OTLP/HTTP endpoint (a local collector stand-in)', async () => {
    const c = await collector();
    try {
      const tracer = tracerFromSpec('otlp', {
        service: 'control-plane',
        logger,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.url.replace('/v1/traces', '') },
      });
      const span = tracer.startSpan('webhook getIvrCommand', { kind: 'client' });
      span.end();
      await tracer.flush();
      assert.equal(c.got.length, 1);
      assert.equal(c.got[0]!.req.method, 'POST');
      assert.equal(c.got[0]!.req.url, '/v1/traces');
      const text = c.got[0]!.body.toString('latin1');
      // JSON or protobuf: either way the span's name is there as text.
      assert.ok(text.includes('webhook getIvrCommand'), 'the span reached the collector');
      await tracer.shutdown();
    } finally {
      await c.close();
    }
  });

  test('xray: OTLP protobuf signed with SigV4 for the service xray (a local stand-in for the X-Ray endpoint)', async () => {
    const c = await collector();
    try {
      const exporter = new XrayOtlpExporter({
        region: 'eu-central-1',
        url: c.url,
        credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
      });
      const tracer = new OtelTracer('media-node', exporter, logger);
      const span = tracer.startSpan('session', { kind: 'server' });
      span.end();
      await tracer.flush();
      assert.equal(c.got.length, 1);
      const { req, body } = c.got[0]!;
      assert.equal(req.headers['content-type'], 'application/x-protobuf');
      assert.match(
        String(req.headers.authorization),
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/xray\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
      );
      assert.match(String(req.headers['x-amz-date']), /^\d{8}T\d{6}Z$/);
      assert.ok(body.includes(Buffer.from(span.traceId, 'hex')), 'the trace id travels as its 16 bytes');
      await tracer.shutdown();
    } finally {
      await c.close();
    }
  });

  test('a failing endpoint costs a warning, never a rejection (the call path never waits on export)', async () => {
    const lines: string[] = [];
    const tracer = new OtelTracer(
      'media-node',
      new XrayOtlpExporter({
        region: 'eu-central-1',
        url: 'http://127.0.0.1:9/v1/traces',
        credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }),
        timeoutMs: 500,
      }),
      createLogger({}, 'warn', (l) => lines.push(l)),
    );
    tracer.startSpan('session').end();
    await tracer.flush();
    await tracer.shutdown();
    assert.ok(
      lines.some((l) => JSON.parse(l).msg.startsWith('trace export failed')),
      `a warning: ${lines.join('\n')}`,
    );
  });
});
