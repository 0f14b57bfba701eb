import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesPattern } from '../src/events/pattern-matcher.js';
import { RULES } from '../src/events/rules.js';

const event = {
  source: 'sip-mediaserver.media-node',
  'detail-type': 'callback',
  detail: { tenantId: 't1', type: 'newCall', seq: 3, tags: ['a', 'b'], nested: { region: 'eu-west-1' } },
};

// Semantics as documented for EventBridge content filtering.
const cases: [string, Record<string, unknown>, boolean][] = [
  ['exact match', { source: ['sip-mediaserver.media-node'] }, true],
  ['exact mismatch', { source: ['other'] }, false],
  ['OR within a leaf', { detail: { type: ['getIvrCommand', 'newCall'] } }, true],
  ['AND across fields', { source: ['sip-mediaserver.media-node'], detail: { type: ['callEvent'] } }, false],
  ['prefix', { detail: { type: [{ prefix: 'new' }] } }, true],
  ['prefix ignore case', { detail: { type: [{ prefix: { 'equals-ignore-case': 'NEW' } }] } }, true],
  ['suffix', { detail: { type: [{ suffix: 'Call' }] } }, true],
  ['anything-but value', { detail: { type: [{ 'anything-but': 'newCall' }] } }, false],
  ['anything-but list', { detail: { type: [{ 'anything-but': ['a', 'b'] }] } }, true],
  ['anything-but prefix', { detail: { type: [{ 'anything-but': { prefix: 'get' } }] } }, true],
  ['numeric range', { detail: { seq: [{ numeric: ['>', 0, '<=', 3] }] } }, true],
  ['numeric out of range', { detail: { seq: [{ numeric: ['>', 3] }] } }, false],
  ['numeric on a string', { detail: { type: [{ numeric: ['>', 0] }] } }, false],
  ['exists true', { detail: { tenantId: [{ exists: true }] } }, true],
  ['exists true on a missing field', { detail: { sessionId: [{ exists: true }] } }, false],
  ['exists false', { detail: { sessionId: [{ exists: false }] } }, true],
  ['exists true on an object is no match', { detail: { nested: [{ exists: true }] } }, false],
  ['array value: any element', { detail: { tags: ['b'] } }, true],
  ['nested object', { detail: { nested: { region: [{ prefix: 'eu-' }] } } }, true],
  [
    '$or: one branch matches',
    { $or: [{ detail: { type: ['x'] } }, { detail: { seq: [{ numeric: ['=', 3] }] } }] },
    true,
  ],
  ['$or: no branch matches', { $or: [{ detail: { type: ['x'] } }, { source: ['y'] }] }, false],
  ['wildcard', { detail: { type: [{ wildcard: 'n*l' }] } }, true],
  ['missing field, plain value', { detail: { missing: ['x'] } }, false],
];

for (const [name, pattern, expected] of cases) {
  test(`pattern: ${name}`, () => assert.equal(matchesPattern(pattern as never, event), expected));
}

test('a non-array leaf is an invalid pattern', () => {
  assert.throws(() => matchesPattern({ source: 'x' } as never, event), /leaf must be an array/);
});

test('the callback rule routes callback events and nothing else', () => {
  const rule = RULES.find((r) => r.name === 'callbacks-to-dispatcher')!;
  assert.equal(matchesPattern(rule.pattern, event), true);
  assert.equal(matchesPattern(rule.pattern, { ...event, 'detail-type': 'heartbeat' }), false);
  assert.equal(matchesPattern(rule.pattern, { ...event, detail: { type: 'newCall' } }), false);
});
