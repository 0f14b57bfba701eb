import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contractViolation } from '../src/webhook-server.js';

// The recording webhook of every integration test fails on an off-contract body; this shows it can.
test('the webhook contract check accepts a valid body and names what breaks an invalid one', () => {
  const common = { sessionId: 's1', seq: 1, timestamp: new Date().toISOString() };
  assert.equal(contractViolation('callNotify', { ...common, participantId: 'p1', event: 'ringing' }), undefined);
  assert.match(
    contractViolation('callNotify', { ...common, participantId: 'p1', event: 'ringing', extra: 1 }) ?? '',
    /extra|Unrecognized/,
  );
  assert.match(contractViolation('sessionCompleted', { ...common, reason: 'x' }) ?? '', /sessionDuration/);
  assert.match(contractViolation('callEvent', { ...common, participantId: 'p', event: 'nope' }) ?? '', /event/);
  assert.match(contractViolation('newCal', {}) ?? '', /unknown callback name/);
});
