import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { z } from 'zod';
import { ErrorResponse, SessionListQuery, TenantPatch, UsageQuery } from '../src/contracts/rest.js';
import { parseOrThrow } from '../src/contracts/validate.js';
import { AppError, ERROR_CODES, errorBody, RateLimitedError, ValidationError } from '../src/errors.js';

test('every error code is documented in docs/api.md', async () => {
  const doc = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
  for (const code of ERROR_CODES) assert.match(doc, new RegExp(`\`${code}\``), code);
});

test('unknown errors become `internal` with no message, stack or cause of their own', () => {
  const err = new Error('ECONNREFUSED 10.0.0.7:8000 at Socket.connect (/var/task/x.js:1:2)');
  const { status, body } = errorBody(err, 'req-1');
  assert.equal(status, 500);
  assert.deepEqual(body, { error: { code: 'internal', message: 'internal error', requestId: 'req-1' } });
  const wrapped = errorBody(new AppError('conflict', 'taken', { cause: err }));
  assert.equal(JSON.stringify(wrapped.body).includes('ECONNREFUSED'), false);
  assert.deepEqual(ErrorResponse.parse(body), body);
});

test('AWS throttling maps to 503 with retry-after; rate limits carry the limit and retry-after', () => {
  const throttled = errorBody(Object.assign(new Error('x'), { name: 'ThrottlingException' }));
  assert.equal(throttled.status, 503);
  assert.equal(throttled.headers['retry-after'], '1');
  const limited = errorBody(new RateLimitedError('signup', 10, 3600, 42));
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.limit, 10);
  assert.equal(limited.headers['retry-after'], '42');
});

test('400 names the offending field, including an unknown one', () => {
  const field = (schema: z.ZodType, value: unknown) => {
    try {
      parseOrThrow(schema, value);
      return undefined;
    } catch (err) {
      assert.ok(err instanceof ValidationError);
      return err.field;
    }
  };
  assert.equal(field(TenantPatch, { callbackRetries: 9 }), 'callbackRetries');
  assert.equal(field(TenantPatch, { surprise: 1 }), 'surprise');
  assert.equal(field(TenantPatch, { codecs: ['PCMU', 'nope'] }), 'codecs.1');
  assert.equal(field(UsageQuery, { from: '2026-01-02', to: '2026-01-01' }), 'to');
  assert.equal(field(UsageQuery, { from: '2026-01-01', to: '2027-06-01' }), 'to');
  assert.equal(field(SessionListQuery, { limit: 'x' }), 'limit');
  assert.equal(field(SessionListQuery, { from: 'yesterday' }), 'from');
  assert.equal(field(SessionListQuery, {}), undefined);
});
