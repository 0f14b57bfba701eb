import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { clientKey, FixedWindowRateLimiter } from '../src/data/rate-limit.js';
import { SessionQueries, uriUser } from '../src/data/session-queries.js';
import { LAST_USED_RESOLUTION_MS, MAX_API_KEYS, TenantStore } from '../src/data/tenant-store.js';
import { activeSecrets } from '../src/domain/tenant.js';
import { RateLimitedError } from '../src/errors.js';
import { startTable } from './helpers/dynamo-table.js';

// The data layer against dynalite (the DynamoDB API the local deployment runs, in its own process).
const TABLE = 'tenant-data-test';
let table: Awaited<ReturnType<typeof startTable>>;
let doc: DynamoDBDocumentClient;
let tenants: TenantStore;

before(async () => {
  table = await startTable('tenant-data-test');
  doc = table.doc;
  tenants = new TenantStore(doc, TABLE, 'sip.test');
});
after(async () => {
  await table.close();
});

describe('API keys', () => {
  test('several named keys, listed without secrets, each authenticating as its tenant', async () => {
    const { tenant, apiKey } = await tenants.create({ name: 'Keys' });
    const second = await tenants.createApiKey(tenant.tenantId, 'ci');
    assert.match(second.apiKey, /^msk_[0-9a-z]{12}_/);
    assert.ok(second.apiKey.startsWith(second.view.prefix));
    const list = await tenants.listApiKeys(tenant.tenantId);
    assert.deepEqual(
      list.map((k) => k.name),
      ['default', 'ci'],
    );
    assert.equal(JSON.stringify(list).includes(second.apiKey), false);
    assert.equal((await tenants.authenticate(apiKey))?.tenantId, tenant.tenantId);
    assert.deepEqual(await tenants.authenticate(second.apiKey), {
      tenantId: tenant.tenantId,
      keyId: second.view.keyId,
    });
    // Same id, wrong secret: the hash comparison fails.
    assert.equal(await tenants.authenticate(`${second.apiKey.slice(0, 18)}${'A'.repeat(43)}`), undefined);
  });

  test('lastUsedAt is written at most once per resolution window', async () => {
    const { tenant, apiKey } = await tenants.create({ name: 'Touch' });
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    await tenants.authenticate(apiKey, t0);
    await tenants.authenticate(apiKey, t0 + 1000);
    assert.equal((await tenants.listApiKeys(tenant.tenantId))[0]!.lastUsedAt, new Date(t0).toISOString());
    await tenants.authenticate(apiKey, t0 + LAST_USED_RESOLUTION_MS + 5);
    assert.equal(
      (await tenants.listApiKeys(tenant.tenantId))[0]!.lastUsedAt,
      new Date(t0 + LAST_USED_RESOLUTION_MS + 5).toISOString(),
    );
  });

  test('revocation is immediate; the last key and foreign keys cannot be revoked', async () => {
    const a = await tenants.create({ name: 'A' });
    const b = await tenants.create({ name: 'B' });
    const extra = await tenants.createApiKey(a.tenant.tenantId, 'extra');
    await assert.rejects(tenants.revokeApiKey(b.tenant.tenantId, extra.view.keyId), { code: 'not_found' });
    await assert.rejects(tenants.revokeApiKey(a.tenant.tenantId, 'zzzzzzzzzzzz'), { code: 'not_found' });
    await tenants.revokeApiKey(a.tenant.tenantId, extra.view.keyId);
    assert.equal(await tenants.authenticate(extra.apiKey), undefined);
    await assert.rejects(tenants.revokeApiKey(a.tenant.tenantId, extra.view.keyId), { code: 'not_found' });
    const [only] = await tenants.listApiKeys(a.tenant.tenantId);
    await assert.rejects(tenants.revokeApiKey(a.tenant.tenantId, only!.keyId), { code: 'conflict' });
    assert.ok(await tenants.authenticate(a.apiKey));
  });

  test(`at most ${MAX_API_KEYS} active keys, also under concurrency`, async () => {
    const { tenant } = await tenants.create({ name: 'Many' });
    const results = await Promise.allSettled(
      Array.from({ length: MAX_API_KEYS + 5 }, (_, i) => tenants.createApiKey(tenant.tenantId, `k${i}`)),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, MAX_API_KEYS - 1);
    assert.equal((await tenants.listApiKeys(tenant.tenantId)).length, MAX_API_KEYS);
  });
});

test('signing-secret rotation keeps the previous secret for 24 h, and only that one', async () => {
  const { tenant } = await tenants.create({ name: 'Rotate' });
  const first = tenant.signingSecrets[0]!.secret;
  const now = Date.parse('2030-01-01T00:00:00Z');
  const r1 = await tenants.rotateSigningSecret(tenant.tenantId, now);
  assert.equal(r1.previousExpiresAt, '2030-01-02T00:00:00.000Z');
  let t = await tenants.require(tenant.tenantId);
  assert.deepEqual(activeSecrets(t, now + 1000), [r1.secret.secret, first]);
  assert.deepEqual(activeSecrets(t, now + 24 * 3600 * 1000 + 1), [r1.secret.secret]);
  const r2 = await tenants.rotateSigningSecret(tenant.tenantId, now + 1000);
  t = await tenants.require(tenant.tenantId);
  assert.deepEqual(activeSecrets(t, now + 2000), [r2.secret.secret, r1.secret.secret]);
  // Concurrent rotations never lose the current secret: each either applies on top or fails with 409.
  const results = await Promise.allSettled([1, 2, 3].map(() => tenants.rotateSigningSecret(tenant.tenantId)));
  t = await tenants.require(tenant.tenantId);
  assert.ok(t.signingSecrets.length <= 2);
  assert.ok(results.some((r) => r.status === 'fulfilled'));
});

test('tenant patches cannot touch secrets or bookkeeping', async () => {
  const { tenant } = await tenants.create({ name: 'Patch' });
  const after = await tenants.update(tenant.tenantId, { signingSecrets: [], apiKeyCount: 99, callbackRetries: 4 });
  assert.equal(after.callbackRetries, 4);
  assert.equal(after.signingSecrets.length, 1);
  assert.equal(after.apiKeyCount, 1);
});

test('signup limiter: a fixed window per client, 429 with the limit; IPv6 counted per /64', async () => {
  const limiter = new FixedWindowRateLimiter(doc, TABLE);
  const rule = { limit: 3, windowSeconds: 3600 };
  const now = Date.parse('2030-01-01T10:15:00Z');
  const hits = await Promise.allSettled([1, 2, 3, 4, 5].map(() => limiter.hit('signup', '192.0.2.1', rule, now)));
  assert.equal(hits.filter((h) => h.status === 'fulfilled').length, 3);
  const rejected = hits.find((h) => h.status === 'rejected') as PromiseRejectedResult;
  assert.ok(rejected.reason instanceof RateLimitedError);
  assert.deepEqual(rejected.reason.details, { limit: 3, windowSeconds: 3600, retryAfterSeconds: 2700 });
  await limiter.hit('signup', '192.0.2.2', rule, now);
  await limiter.hit('signup', '192.0.2.1', rule, now + 3600_000);
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::9'), clientKey('2001:0db8:0001:0002:ffff::1'));
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
});

test('session list: newest first, paged, filtered by time, number and SIP Call-ID, scoped to the tenant', async () => {
  const q = new SessionQueries(doc, TABLE);
  const put = (tenantId: string, i: number, to: string) => {
    const createdAt = new Date(Date.parse('2030-02-01T00:00:00Z') + i * 60_000).toISOString();
    const sessionId = `s${tenantId}${String(i).padStart(3, '0')}`;
    return doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk: `SESSION#${sessionId}`,
          sk: 'META',
          sessionId,
          tenantId,
          nodeId: 'n1',
          state: 'ended',
          createdAt,
          participants: { p1: { direction: 'inbound', from: 'sip:alice@x', to, sipCallId: `call-${i}@10.0.0.1` } },
          gsi1pk: `TENANT#${tenantId}#SESSIONS`,
          gsi1sk: `${createdAt}#${sessionId}`,
        },
      }),
    );
  };
  for (let i = 0; i < 12; i++) await put('qa', i, i % 3 === 0 ? 'sip:+4930111@d' : 'sip:+4930222@d');
  await put('qb', 0, 'sip:+4930111@d');

  const all: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await q.list('qa', { limit: 5, cursor });
    all.push(...page.sessions.map((s) => s.sessionId));
    cursor = page.nextCursor;
  } while (cursor);
  assert.equal(all.length, 12);
  assert.equal(all[0], 'sqa011', 'newest first');
  const byNumber = await q.list('qa', { limit: 50, number: '+4930111' });
  assert.deepEqual(
    byNumber.sessions.map((s) => s.sessionId),
    ['sqa009', 'sqa006', 'sqa003', 'sqa000'],
  );
  const window = await q.list('qa', { limit: 50, from: '2030-02-01T00:02:00Z', to: '2030-02-01T00:04:00Z' });
  assert.deepEqual(
    window.sessions.map((s) => s.sessionId),
    ['sqa003', 'sqa002'],
  );
  assert.equal((window.sessions[0] as Record<string, unknown>).tenantId, undefined);
  // The SIP Call-ID finds the one session of that call, across pages of the index, in the caller's tenant only.
  const byCallId = await q.list('qa', { limit: 2, sipCallId: 'call-1@10.0.0.1' });
  assert.deepEqual(
    byCallId.sessions.map((s) => s.sessionId),
    ['sqa001'],
  );
  assert.deepEqual((await q.list('qb', { limit: 50, sipCallId: 'call-1@10.0.0.1' })).sessions, []);
  assert.deepEqual((await q.list('qa', { limit: 50, sipCallId: 'call-1@10.0.0.1', number: '+4930111' })).sessions, []);
  assert.deepEqual(
    (await q.list('qa', { limit: 50, sipCallId: 'call-3@10.0.0.1', number: '+4930111' })).sessions.map(
      (s) => s.sessionId,
    ),
    ['sqa003'],
  );
  // A cursor always stays in the caller's partition.
  const foreign = Buffer.from(`2030-02-01T00:00:00.000Z#sqb000`).toString('base64url');
  const viaForeign = await q.list('qa', { limit: 5, cursor: foreign });
  assert.deepEqual(
    viaForeign.sessions.map((s) => s.sessionId),
    ['sqa000'],
  );
  await assert.rejects(q.list('qa', { limit: 5, cursor: 'bm9wZQ' }), { code: 'validation_failed' });
  assert.equal(uriUser('"Bob" <sip:+4930111@host;user=phone>'), '+4930111');
});
