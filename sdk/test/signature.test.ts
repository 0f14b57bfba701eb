// verifySignature and verifyStreamSignature against the server's own signer (shared/src/signing.ts), which the
// dispatcher uses for callbacks and the media node for a bot's WebSocket handshake.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { signatureHeader as serverSignatureHeader, verifySignature as serverVerify } from '@sipms/shared/signing';
import { computeSignature, signPayload, verifySignature, verifyStreamSignature } from '../src/signature.js';

const body = JSON.stringify({ sessionId: 's1', seq: 1, timestamp: '2025-01-01T00:00:00.000Z', participantId: 'p1' });
const now = 1_750_000_000;
const NEW = 'whsec_new_0123456789abcdef';
const OLD = 'whsec_old_fedcba9876543210';

describe('verifySignature', () => {
  test("accepts the server signer's header for the secret it signed with", () => {
    const header = serverSignatureHeader([NEW], body, now);
    assert.deepEqual(verifySignature(body, header, NEW, { now }), { ok: true, timestamp: now });
    assert.deepEqual(verifySignature(Buffer.from(body), header, [NEW], { now }), { ok: true, timestamp: now });
  });

  test('during a rotation (two v1=) either secret verifies, and both given verify', () => {
    const header = serverSignatureHeader([NEW, OLD], body, now);
    assert.equal(header.split(',v1=').length, 3);
    for (const secrets of [NEW, OLD, [NEW, OLD], [OLD, NEW], ['whsec_unrelated', OLD]]) {
      assert.equal(verifySignature(body, header, secrets, { now }).ok, true, JSON.stringify(secrets));
    }
    // A tenant that already switched to the new secret still verifies a callback signed with the old one only.
    const oldOnly = serverSignatureHeader([OLD], body, now);
    assert.equal(verifySignature(body, oldOnly, [NEW, OLD], { now }).ok, true);
    assert.equal(verifySignature(body, oldOnly, [NEW], { now }).ok, false);
  });

  test('a wrong secret, a changed body or a changed timestamp is a mismatch', () => {
    const header = serverSignatureHeader([NEW], body, now);
    assert.deepEqual(verifySignature(body, header, 'whsec_wrong', { now }), {
      ok: false,
      code: 'mismatch',
      reason: 'signature does not match',
    });
    assert.equal(verifySignature(`${body} `, header, NEW, { now }).ok, false);
    assert.equal(verifySignature(body.replace('s1', 's2'), header, NEW, { now }).ok, false);
    const shifted = header.replace(`t=${now}`, `t=${now + 1}`);
    const r = verifySignature(body, shifted, NEW, { now });
    assert.equal(r.ok === false && r.code, 'mismatch');
  });

  test('the timestamp must be within the tolerance (default 300 s), either side', () => {
    const header = serverSignatureHeader([NEW], body, now);
    assert.equal(verifySignature(body, header, NEW, { now: now + 300 }).ok, true);
    assert.equal(verifySignature(body, header, NEW, { now: now - 300 }).ok, true);
    for (const at of [now + 301, now - 301]) {
      const r = verifySignature(body, header, NEW, { now: at });
      assert.equal(r.ok === false && r.code, 'timestamp_out_of_tolerance');
    }
    assert.equal(verifySignature(body, header, NEW, { now: now + 30, toleranceSec: 10 }).ok, false);
    assert.equal(verifySignature(body, header, NEW, { now: now + 3000, toleranceSec: 3600 }).ok, true);
    // Without `now`, the clock: a header signed just now verifies.
    assert.equal(verifySignature(body, signPayload(body, NEW), NEW).ok, true);
  });

  test('missing and malformed headers, and no secret, are refused with their own codes', () => {
    const v1 = `v1=${computeSignature(NEW, now, body)}`;
    const cases: [string | undefined, string][] = [
      [undefined, 'missing_header'],
      ['', 'missing_header'],
      [v1, 'malformed_header'],
      [`t=${now}`, 'malformed_header'],
      [`t=abc,${v1}`, 'malformed_header'],
      [`t=${now},t=${now},${v1}`, 'malformed_header'],
      [`t=${now},v1=zz`, 'malformed_header'],
      [`t=${now},v1=${'a'.repeat(10_000)}`, 'malformed_header'],
    ];
    for (const [header, code] of cases) {
      const r = verifySignature(body, header, NEW, { now });
      assert.equal(r.ok === false && r.code, code, `${String(header).slice(0, 40)} → ${JSON.stringify(r)}`);
    }
    for (const secrets of ['', [], ['']]) {
      const r = verifySignature(body, `t=${now},${v1}`, secrets, { now });
      assert.equal(r.ok === false && r.code, 'no_secret');
    }
  });

  test('unknown schemes (a future v2=) and spaces are skipped; v1 still verifies', () => {
    const v1 = computeSignature(NEW, now, body);
    assert.equal(verifySignature(body, `t=${now}, v2=${'f'.repeat(64)}, v1=${v1}`, NEW, { now }).ok, true);
    assert.equal(verifySignature(body, `t=${now},v1=${v1.toUpperCase()}`, NEW, { now }).ok, true);
  });

  test('agrees with the server verifier on random bodies, secrets and headers', () => {
    for (let i = 0; i < 300; i++) {
      const b = randomBytes(1 + (i % 200));
      const secrets = [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')];
      const t = now + ((i * 37) % 700) - 350;
      const signers = i % 3 === 0 ? [secrets[0]!] : i % 3 === 1 ? [secrets[1]!] : ['someone-else'];
      let header = serverSignatureHeader(signers, b, t);
      if (i % 7 === 0) header = header.replace(/v1=./, 'v1=0');
      const given = i % 2 ? secrets : secrets[0]!;
      const ours = verifySignature(b, header, given, { now }).ok;
      const theirs = serverVerify(header, b, given, { now }).ok;
      assert.equal(ours, theirs, `case ${i}: ${header}`);
    }
  });

  test('signPayload makes the header the server makes', () => {
    assert.equal(signPayload(body, [NEW, OLD], now), serverSignatureHeader([NEW, OLD], body, now));
  });
});

describe('verifyStreamSignature (a bot WebSocket handshake)', () => {
  const url = 'wss://bot.example.com/media?session=abc';

  test('accepts the signature the media node puts on the handshake (HMAC over t + "." + url)', () => {
    // media-node/src/streams/bot-socket.ts signs exactly this way: signatureHeader(secrets, url, t).
    const header = serverSignatureHeader([NEW, OLD], url, now);
    assert.equal(verifyStreamSignature(url, header, OLD, { now }).ok, true);
    assert.equal(verifyStreamSignature(url, header, [NEW], { now }).ok, true);
  });

  test('another URL, an old timestamp or a wrong secret is refused', () => {
    const header = serverSignatureHeader([NEW], url, now);
    assert.equal(verifyStreamSignature('wss://bot.example.com/media?session=abd', header, NEW, { now }).ok, false);
    assert.equal(verifyStreamSignature(url, header, NEW, { now: now + 301 }).ok, false);
    assert.equal(verifyStreamSignature(url, header, 'nope', { now }).ok, false);
    assert.equal(verifyStreamSignature(url, undefined, NEW, { now }).ok, false);
  });
});
