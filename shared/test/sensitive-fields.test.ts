import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { type DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { IvrCommand } from '../src/contracts/ivr-command.js';
import { KmsSecretBox, LocalSecretBox } from '../src/crypto/secret-box.js';
import { CallbackEnvelope } from '../src/events/envelope.js';
import {
  openSealedFields,
  REDACTED,
  redactPayload,
  SEALED_FIELD_PURPOSE,
  sealedFieldContext,
  sealSensitiveFields,
  sensitivePathsIn,
} from '../src/events/sensitive-fields.js';

// `dtmf.sensitive`: the digits reach the tenant, and everywhere else read "***" or travel sealed, bound to
// the tenant, the event and the field.
const box = new LocalSecretBox(randomBytes(32));
const ids = { tenantId: 't1', eventId: 'e1' };
const body = () => ({
  sessionId: 's1',
  seq: 3,
  participantId: 'p1',
  dtmfParams: { digits: '4711', terminationKey: '#', reason: 'terminationKey' },
});

describe('sensitive callback fields', () => {
  test('the IVR command accepts dtmf.sensitive; it is optional', () => {
    assert.equal(IvrCommand.parse({ dtmf: { maxDigits: 4, sensitive: true } }).dtmf?.sensitive, true);
    assert.equal(IvrCommand.parse({ dtmf: { maxDigits: 4 } }).dtmf?.sensitive, undefined);
    assert.equal(IvrCommand.safeParse({ dtmf: { sensitive: 'yes' } }).success, false);
  });

  test('redaction replaces the digits with "***", copies only what it changes, skips absent fields', () => {
    const payload = body();
    const out = redactPayload(payload, ['dtmfParams.digits']);
    assert.deepEqual(out.dtmfParams, { digits: REDACTED, terminationKey: '#', reason: 'terminationKey' });
    assert.equal(payload.dtmfParams.digits, '4711', 'the input is untouched');
    const without = { sessionId: 's1', participantId: 'p1' };
    assert.equal(redactPayload(without, ['dtmfParams.digits']), without);
    assert.equal(redactPayload(payload, undefined), payload);
    assert.deepEqual(sensitivePathsIn(payload, ['dtmfParams.digits']), ['dtmfParams.digits']);
    assert.deepEqual(sensitivePathsIn(without, ['dtmfParams.digits']), []);
  });

  test('sealed: the payload carries "***", the ciphertext opens back into place for the same event only', async () => {
    const { payload, sealed } = await sealSensitiveFields(body(), ['dtmfParams.digits'], box, ids);
    assert.equal(payload.dtmfParams.digits, REDACTED);
    assert.match(sealed['dtmfParams.digits'] ?? '', /^aesgcm1\./);
    assert.ok(!JSON.stringify({ payload, sealed }).includes('4711'));
    assert.deepEqual(await openSealedFields(payload, sealed, box, ids), body());
    await assert.rejects(openSealedFields(payload, sealed, box, { ...ids, eventId: 'e2' }));
    await assert.rejects(openSealedFields(payload, sealed, box, { ...ids, tenantId: 't2' }));
    await assert.rejects(openSealedFields(payload, sealed, new LocalSecretBox(randomBytes(32)), ids));
    await assert.rejects(openSealedFields(payload, sealed, undefined, ids), /no secrets key configured/);
    await assert.rejects(
      openSealedFields({ sessionId: 's1' }, sealed, box, ids),
      /sealed field dtmfParams\.digits has no place/,
    );
    assert.equal(await openSealedFields(payload, undefined, undefined, ids), payload, 'nothing sealed: as is');
  });

  test('the envelope carries sealed fields by known path only', () => {
    const env = {
      id: 'e1',
      tenantId: 't1',
      sessionId: 's1',
      seq: 1,
      type: 'getIvrCommand',
      time: new Date().toISOString(),
      nodeId: 'n1',
      expectsReply: true,
      payload: {},
    };
    assert.equal(CallbackEnvelope.safeParse(env).success, true);
    assert.equal(CallbackEnvelope.safeParse({ ...env, sealed: { 'dtmfParams.digits': 'aesgcm1.x' } }).success, true);
    assert.equal(CallbackEnvelope.safeParse({ ...env, sealed: { replyId: 'x' } }).success, false);
  });

  test('a box without a context still opens what it sealed (trunk passwords), and a context must match', async () => {
    const plain = await box.seal('trunk-password');
    assert.equal(await box.open(plain), 'trunk-password');
    const bound = await box.seal('1234', sealedFieldContext('t1', 'e1', 'dtmfParams.digits'));
    await assert.rejects(box.open(bound), 'sealed with a context, opened without');
    await assert.rejects(box.open(plain, sealedFieldContext('t1', 'e1', 'dtmfParams.digits')));
    // The pairs' order does not matter.
    const reordered = { field: 'dtmfParams.digits', eventId: 'e1', tenantId: 't1', purpose: SEALED_FIELD_PURPOSE };
    assert.equal(await box.open(bound, reordered), '1234');
  });

  test('KMS: the context travels as the encryption context (what the IAM grants are conditioned on)', async () => {
    const sent: unknown[] = [];
    const kms = {
      send: async (cmd: unknown) => {
        sent.push(cmd);
        if (cmd instanceof EncryptCommand) return { CiphertextBlob: Buffer.from('blob') };
        return { Plaintext: Buffer.from('4711') };
      },
    };
    const kmsBox = new KmsSecretBox(kms as never, 'arn:aws:kms:eu-west-1:1:key/k');
    const { sealed } = await sealSensitiveFields(body(), ['dtmfParams.digits'], kmsBox, ids);
    const opened = await openSealedFields(redactPayload(body(), ['dtmfParams.digits']), sealed, kmsBox, ids);
    assert.equal(opened.dtmfParams.digits, '4711');
    const [enc, dec] = sent as [EncryptCommand, DecryptCommand];
    const context = { purpose: 'callback-field', tenantId: 't1', eventId: 'e1', field: 'dtmfParams.digits' };
    assert.deepEqual(enc.input.EncryptionContext, context);
    assert.deepEqual(dec.input.EncryptionContext, context);
    // Trunk passwords: no context at all.
    await kmsBox.seal('pw');
    assert.equal((sent[2] as EncryptCommand).input.EncryptionContext, undefined);
  });
});
