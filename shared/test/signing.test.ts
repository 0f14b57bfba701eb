import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signatureHeader, verifySignature } from '../src/signing.js';

// Test vectors (also in docs/contract.md, "Signatures"), computed independently with
// `printf '1700000000.{"sessionId":"s1","seq":1}' | openssl dgst -sha256 -hmac whsec_test`.
const BODY = '{"sessionId":"s1","seq":1}';
const T = 1700000000;
const V_TEST = 'a2d190f72f1db93bd7cd6a7ea41dda2daeeff5d0deccc109addff7bc763ebe98';
const V_OLD = '5f73672d70d101be37edfd2a6e2a0a2a6d1ab245b1d4dad1d0c0cd610c0e0a98';

test('signature header matches the documented test vectors, one v1 per active secret', () => {
  assert.equal(signatureHeader(['whsec_test'], BODY, T), `t=${T},v1=${V_TEST}`);
  assert.equal(signatureHeader(['whsec_test', 'whsec_old'], BODY, T), `t=${T},v1=${V_TEST},v1=${V_OLD}`);
});

test('verifySignature accepts any active secret and rejects tampering, wrong secrets and stale timestamps', () => {
  const header = `t=${T},v1=${V_TEST},v1=${V_OLD}`;
  assert.deepEqual(verifySignature(header, BODY, 'whsec_old', { now: T }), { ok: true, timestamp: T });
  assert.deepEqual(verifySignature(header, BODY, ['whsec_x', 'whsec_test'], { now: T + 10 }), {
    ok: true,
    timestamp: T,
  });
  assert.equal(verifySignature(header, `${BODY} `, 'whsec_test', { now: T }).ok, false);
  assert.equal(verifySignature(header, BODY, 'whsec_other', { now: T }).ok, false);
  assert.deepEqual(verifySignature(header, BODY, 'whsec_test', { now: T + 301 }), {
    ok: false,
    reason: 'timestamp outside tolerance',
  });
  assert.deepEqual(verifySignature(undefined, BODY, 'whsec_test'), { ok: false, reason: 'missing signature header' });
  assert.deepEqual(verifySignature('v1=abc', BODY, 'whsec_test'), { ok: false, reason: 'no timestamp' });
  assert.deepEqual(verifySignature(`t=${T},v1=zz`, BODY, 'whsec_test', { now: T }), {
    ok: false,
    reason: 'signature mismatch',
  });
});
