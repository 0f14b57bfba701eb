import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatTraceparent,
  newSpan,
  newSpanId,
  newTraceId,
  parseTraceparent,
} from '../src/observability/trace-context.js';

describe('W3C trace context', () => {
  test('new ids are lower-case hex of the right length, and differ', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newTraceId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    assert.match(newSpanId(), /^[0-9a-f]{16}$/);
  });

  test('format and parse round-trip; a span in a given trace keeps the trace id', () => {
    const span = newSpan('4bf92f3577b34da6a3ce929d0e0e4736');
    const header = formatTraceparent(span);
    assert.match(header, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.deepEqual(parseTraceparent(header), span);
    assert.deepEqual(parseTraceparent(' 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 '), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
    });
  });

  test('malformed or all-zero values are refused (the receiver starts a new trace)', () => {
    for (const bad of [
      undefined,
      '',
      '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});
