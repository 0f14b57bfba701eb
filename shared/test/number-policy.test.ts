import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClaimablePattern, isClaimable, parseClaimableNumbers } from '../src/domain/number-policy.js';

test('claimable patterns: *, prefixes, ranges of one length, exact numbers and user parts', () => {
  const patterns = parseClaimableNumbers('+4930*, 1000-1999, +4940100-+4940199, alice.support');
  assert.deepEqual(patterns.map(formatClaimablePattern), ['+4930*', '1000-1999', '+4940100-+4940199', 'alice.support']);
  const yes = ['+4930123456', '+4930', '1000', '1500', '1999', '+4940100', '+4940150', 'alice.support'];
  const no = ['+4931123', '4930123', '999', '2000', '10000', '150', '+4940200', '4940150', 'alice', 'bob'];
  for (const n of yes) assert.equal(isClaimable(n, patterns), true, n);
  for (const n of no) assert.equal(isClaimable(n, patterns), false, n);
  assert.equal(isClaimable('anything-at-all', parseClaimableNumbers('*')), true);
});

test('empty means nothing is claimable; a bad entry is named', () => {
  assert.deepEqual(parseClaimableNumbers(''), []);
  assert.equal(isClaimable('+4930123', parseClaimableNumbers(' , ')), false);
  for (const bad of ['100-99', '100-1000', '+100-200', 'a b', '*foo', '+49 30*']) {
    assert.throws(
      () => parseClaimableNumbers(bad),
      (e: Error) => e.message.includes(bad),
      bad,
    );
  }
});
