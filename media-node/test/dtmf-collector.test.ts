import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtmfCollector } from '../src/call/ivr/dtmf-collector.js';
import { DtmfMerger } from '../src/call/ivr/dtmf-merger.js';

const spec = { maxDigits: 3, terminationKey: '#', firstDigitTimeoutMs: 200, interDigitTimeoutMs: 100 };

test('maxDigits ends collection with the digits as a string', async () => {
  const c = new DtmfCollector(spec);
  for (const d of '123') c.push(d);
  assert.deepEqual(await c.result, { digits: '123', terminationKey: '', reason: 'maxDigits' });
});

test('the termination key ends collection and is reported, not collected', async () => {
  const c = new DtmfCollector(spec);
  c.push('4');
  c.push('#');
  c.push('5');
  assert.deepEqual(await c.result, { digits: '4', terminationKey: '#', reason: 'terminationKey' });
});

test('type-ahead: digits before armTimers count; then the inter-digit timer ends it', async () => {
  const c = new DtmfCollector(spec);
  c.push('7');
  const t0 = performance.now();
  c.armTimers();
  assert.deepEqual(await c.result, { digits: '7', terminationKey: '', reason: 'timeout' });
  assert.ok(performance.now() - t0 >= 90);
});

test('no digit: the first-digit timer ends it with empty digits', async () => {
  const c = new DtmfCollector(spec);
  const t0 = performance.now();
  c.armTimers();
  assert.deepEqual(await c.result, { digits: '', terminationKey: '', reason: 'timeout' });
  assert.ok(performance.now() - t0 >= 190);
});

test('the same press via RFC 4733 and SIP INFO counts once; repeated presses count', () => {
  let now = 0;
  const got: string[] = [];
  const m = new DtmfMerger(
    (d) => got.push(d),
    400,
    () => now,
  );
  m.push('5', 'rfc4733');
  now = 50;
  m.push('5', 'info'); // same press, other path
  now = 600;
  m.push('5', 'rfc4733'); // a new press
  now = 700;
  m.push('6', 'info');
  assert.deepEqual(got, ['5', '5', '6']);
});
