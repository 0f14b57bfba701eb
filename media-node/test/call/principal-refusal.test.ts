// Who a browser's softphone credential may call (principalRefusal in the inbound call flow): pure function, no fakes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { principalRefusal } from '../../src/call/flows/inbound-call-flow.js';

const now = 1_800_000_000_000;
const principal = { tenantId: 't-a', credentialId: 'sc_x', expiresAtMs: now + 1000 };
const from = (p?: typeof principal) => ({
  source: { address: '127.0.0.1', port: 5, transport: 'ws' as const, ...(p ? { principal: p } : {}) },
});

test('callers without a principal (SIP phones, carriers) are not concerned', () => {
  assert.equal(principalRefusal(from(), 't-b', now), undefined);
});

test("a credential calls its own tenant's numbers while it is valid", () => {
  assert.equal(principalRefusal(from(principal), 't-a', now), undefined);
});

test("another tenant's number is refused", () => {
  assert.match(principalRefusal(from(principal), 't-b', now) ?? '', /own tenant's numbers only/);
});

test('an expired credential makes no new calls', () => {
  assert.match(principalRefusal(from(principal), 't-a', now + 1000) ?? '', /expired/);
});
