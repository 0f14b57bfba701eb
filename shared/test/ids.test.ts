import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomId } from '../src/util/ids.js';

test('randomId: prefix, length and the base32 alphabet; unique across many refills of the byte pool', () => {
  assert.match(randomId('s'), /^s[0-9a-hjkmnp-tv-z]{20}$/);
  assert.match(randomId('', 12), /^[0-9a-hjkmnp-tv-z]{12}$/);
  const ids = Array.from({ length: 5000 }, () => randomId('e')); // 100 000 bytes: the 4 KiB pool refilled ~25 times
  assert.equal(new Set(ids).size, ids.length);
  // Every character equally likely (32 symbols, 100 000 draws): each within ±15 % of the mean.
  const counts = new Map<string, number>();
  for (const id of ids) for (const ch of id.slice(1)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  assert.equal(counts.size, 32);
  const mean = (ids.length * 20) / 32;
  for (const [ch, n] of counts) assert.ok(Math.abs(n - mean) < mean * 0.15, `${ch}: ${n} draws, mean ${mean}`);
  assert.throws(() => randomId('', 5000), RangeError);
});
