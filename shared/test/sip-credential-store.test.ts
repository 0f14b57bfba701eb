import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { SipCredentialStore } from '../src/data/sip-credential-store.js';
import { keys, TABLE_KEYS } from '../src/data/table-design.js';
import { sha256Hex } from '../src/util/ids.js';
import { startTable } from './helpers/dynamo-table.js';

// The softphone's credentials against the DynamoDB API (dynalite, the table the stack creates). The store is
// handed a real document client wrapped only to count the requests it sends (the no-read checks).
let table: Awaited<ReturnType<typeof startTable>>;
let store: SipCredentialStore;
let requests = 0;
before(async () => {
  table = await startTable('sip-credential-test');
  const counting = {
    send: (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      requests++;
      return table.doc.send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  store = new SipCredentialStore(counting, table.tableName);
});
after(async () => {
  await table.close();
});

const TOKEN_SHAPE = /^(sc_[a-z2-7]{26})\.[A-Za-z0-9_-]{43}$/;

test('an issued token verifies as its tenant until it expires', async () => {
  const now = Date.parse('2026-11-30T12:00:00.250Z');
  const issued = await store.issue('t-alpha', 600, now);
  assert.match(issued.token, TOKEN_SHAPE);
  assert.equal(issued.token.split('.')[0], issued.credentialId);
  assert.equal(issued.expiresAtMs, Date.parse('2026-11-30T12:10:00.000Z'), 'whole seconds');
  assert.deepEqual(await store.verify(issued.token, now + 1000), {
    credentialId: issued.credentialId,
    tenantId: 't-alpha',
    expiresAtMs: issued.expiresAtMs,
  });
  assert.ok(await store.verify(issued.token, issued.expiresAtMs - 1), 'valid up to the last millisecond');
  assert.equal(await store.verify(issued.token, issued.expiresAtMs), undefined, 'expired at expiresAt');
  assert.equal(await store.verify(issued.token, issued.expiresAtMs + 3600_000), undefined);
});

test('two credentials are independent: distinct ids and secrets', async () => {
  const a = await store.issue('t-alpha', 60);
  const b = await store.issue('t-beta', 60);
  assert.notEqual(a.credentialId, b.credentialId);
  assert.notEqual(a.token.split('.')[1], b.token.split('.')[1]);
  assert.equal((await store.verify(a.token))?.tenantId, 't-alpha');
  assert.equal((await store.verify(b.token))?.tenantId, 't-beta');
});

test('a wrong secret or an unknown id is refused', async () => {
  const issued = await store.issue('t-alpha', 600);
  const [id, secret] = issued.token.split('.') as [string, string];
  const flipped = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
  assert.equal(await store.verify(`${id}.${flipped}`), undefined, 'one character of the secret changed');
  const other = await store.issue('t-beta', 600);
  assert.equal(await store.verify(`${other.credentialId}.${secret}`), undefined, "another credential's id");
  const unknownId = `sc_${'a'.repeat(26)}`;
  assert.equal(await store.verify(`${unknownId}.${secret}`), undefined, 'an id that was never issued');
});

test('malformed tokens are refused without a table read', async () => {
  const { token } = await store.issue('t-alpha', 600);
  const [id, secret] = token.split('.') as [string, string];
  const malformed: unknown[] = [
    '',
    id,
    secret,
    `${id}${secret}`, // no dot
    `${id}.`,
    `.${secret}`,
    `${id}.${secret}.x`,
    `${id}.${secret}x`, // secret too long
    `${id}.${secret.slice(1)}`, // too short
    `sc_${'0'.repeat(26)}.${secret}`, // 0, 1, 8, 9 are not base32
    `sc_${'A'.repeat(26)}.${secret}`, // upper case
    `${id.toUpperCase()}.${secret}`,
    `xx_${id.slice(3)}.${secret}`,
    `${id}.${secret.slice(0, -1)}=`,
    ` ${token}`,
    `${token}\n`,
    `${id}.${'a'.repeat(1_000_000)}`, // huge
    'x'.repeat(5_000_000),
    undefined,
    null,
    42,
    { token },
  ];
  const before = requests;
  for (const bad of malformed) assert.equal(await store.verify(bad as string), undefined, String(bad).slice(0, 80));
  assert.equal(requests, before, 'no request reached the table');
  assert.ok(await store.verify(token), 'the well-formed token still verifies');
  assert.equal(requests, before + 1, 'one read for the good token');
});

test('the item: its key, the TTL attribute in epoch seconds, the hash of the secret and never the secret', async () => {
  const now = Date.parse('2026-11-30T08:00:00.900Z');
  const issued = await store.issue('t-gamma', 3600, now);
  const secret = issued.token.split('.')[1]!;
  const { Item: item } = await table.doc.send(
    new GetCommand({ TableName: table.tableName, Key: keys.sipCredential(issued.credentialId), ConsistentRead: true }),
  );
  assert.ok(item);
  assert.equal(item.pk, `SIPCRED#${issued.credentialId}`);
  assert.equal(item.sk, 'SIPCRED');
  assert.equal(item.tenantId, 't-gamma');
  assert.equal(item[TABLE_KEYS.ttl], Math.floor(now / 1000) + 3600, 'epoch seconds, not milliseconds');
  assert.equal(item.secretHash, sha256Hex(secret));
  const stored = JSON.stringify(item);
  assert.equal(stored.includes(secret), false, 'the secret is not stored');
  assert.equal(stored.includes(issued.token), false, 'the token is not stored');
});

test('a TTL that is not a positive whole number is refused before anything is written', async () => {
  const before = requests;
  for (const ttl of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    await assert.rejects(store.issue('t-alpha', ttl), RangeError, String(ttl));
  }
  assert.equal(requests, before);
});

test('an id collision never overwrites the credential that holds the id: the new one gets another id', async () => {
  const holder = await store.issue('t-alpha', 600);
  let collided = 0;
  // The same real client, except that the first write lands on the holder's key: a collision on demand.
  const colliding = {
    send: (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      if (command instanceof PutCommand && collided++ === 0) {
        command.input.Item = { ...command.input.Item, ...keys.sipCredential(holder.credentialId) };
      }
      return table.doc.send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  const issued = await new SipCredentialStore(colliding, table.tableName).issue('t-intruder', 600);
  assert.equal(collided, 2, 'the collided write was refused and tried again');
  assert.notEqual(issued.credentialId, holder.credentialId);
  assert.equal((await store.verify(holder.token))?.tenantId, 't-alpha', 'the holder is intact');
  assert.equal((await store.verify(issued.token))?.tenantId, 't-intruder');
});
