import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, serializeError } from '../src/util/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 't' }, 'debug', (line) => lines.push(JSON.parse(line)));
  return { logger, lines };
}

test('an error field keeps name, message, code, stack and system error details', () => {
  const { logger, lines } = capture();
  const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:22222'), {
    code: 'ECONNREFUSED',
    syscall: 'connect',
    address: '127.0.0.1',
    port: 22222,
  });
  logger.warn({ err, sessionId: 's1' }, 'rtpengine unreachable');
  const [line] = lines;
  assert.equal(line?.msg, 'rtpengine unreachable');
  assert.equal(line?.sessionId, 's1');
  const logged = line?.err as Record<string, unknown>;
  assert.equal(logged.name, 'Error');
  assert.equal(logged.message, 'connect ECONNREFUSED 127.0.0.1:22222');
  assert.equal(logged.code, 'ECONNREFUSED');
  assert.equal(logged.syscall, 'connect');
  assert.equal(logged.address, '127.0.0.1');
  assert.equal(logged.port, 22222);
  assert.match(String(logged.stack), /^Error: connect ECONNREFUSED[^\n]*\n\s+at /);
});

test('the cause chain is kept, recursively, with each cause serialized as an error', () => {
  const root = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  const middle = new TypeError('fetch failed', { cause: root });
  const top = new Error('callback delivery failed', { cause: middle });
  const out = serializeError(top);
  assert.equal(out.message, 'callback delivery failed');
  const c1 = out.cause as Record<string, unknown>;
  assert.equal(c1.name, 'TypeError');
  assert.equal(c1.message, 'fetch failed');
  assert.ok(String(c1.stack).includes('TypeError: fetch failed'));
  const c2 = c1.cause as Record<string, unknown>;
  assert.equal(c2.message, 'socket hang up');
  assert.equal(c2.code, 'ECONNRESET');
  assert.equal(c2.cause, undefined);
});

test('non-error causes are kept as they are', () => {
  const out = serializeError(new Error('rejected', { cause: { status: 503, body: 'busy' } }));
  assert.deepEqual(out.cause, { status: 503, body: 'busy' });
  assert.equal(serializeError(new Error('x', { cause: 'timeout' })).cause, 'timeout');
});

test('the cause chain is bounded: deep chains are cut with a marker, cycles are marked', () => {
  let err = new Error('level 0');
  for (let i = 1; i <= 20; i++) err = new Error(`level ${i}`, { cause: err });
  let node = serializeError(err) as Record<string, unknown> | undefined;
  let depth = 0;
  while (node?.cause) {
    node = node.cause as Record<string, unknown>;
    depth++;
  }
  assert.equal(depth, 5);
  assert.equal(node?.truncated, true);
  assert.equal(node?.message, 'level 15');

  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as Error & { cause?: unknown }).cause = b;
  const out = serializeError(a);
  const cb = out.cause as Record<string, unknown>;
  assert.equal(cb.message, 'b');
  assert.deepEqual(cb.cause, { name: 'Error', message: 'a', circular: true });
  assert.doesNotThrow(() => JSON.stringify(out));
});

test("AggregateError's errors are kept, each with its own cause, bounded in number", () => {
  const { logger, lines } = capture();
  const first = Object.assign(new Error('ENOTFOUND sip.example'), { code: 'ENOTFOUND' });
  const second = new Error('timeout', { cause: new Error('no 100 Trying') });
  logger.error({ err: new AggregateError([first, second], 'every SIP target failed') }, 'call failed');
  const err = lines[0]?.err as Record<string, unknown>;
  assert.equal(err.name, 'AggregateError');
  assert.equal(err.message, 'every SIP target failed');
  const errors = err.errors as Record<string, unknown>[];
  assert.equal(errors.length, 2);
  assert.equal(errors[0]?.code, 'ENOTFOUND');
  assert.equal((errors[1] as { cause: Record<string, unknown> }).cause.message, 'no 100 Trying');

  const many = serializeError(new AggregateError(Array.from({ length: 25 }, (_, i) => new Error(`e${i}`))));
  assert.equal((many.errors as unknown[]).length, 10);
  assert.equal(many.errorsOmitted, 15);
});

test('child loggers serialize errors the same way', () => {
  const { logger, lines } = capture();
  logger.child({ callId: 'c1' }).debug({ err: new Error('outer', { cause: new Error('inner') }) }, 'expected');
  assert.equal(lines[0]?.callId, 'c1');
  const err = (lines[0] as { err: { cause: Record<string, unknown> } }).err;
  assert.equal(err.cause.message, 'inner');
});
