import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DeploymentSettingsStore } from '../src/data/deployment-settings.js';
import { InvitationStore } from '../src/data/invitation-store.js';
import { keys } from '../src/data/table-design.js';
import { TenantStore } from '../src/data/tenant-store.js';
import { startTable } from './helpers/dynamo-table.js';

// The operator's data against dynalite (the DynamoDB API the local deployment runs, in its own process): the
// number cap under concurrency, suspension as inbound routing sees it, limits, the tenant list, signup
// settings and invitations.
const TABLE = 'operator-data-test';
let table: Awaited<ReturnType<typeof startTable>>;
let doc: DynamoDBDocumentClient;
let tenants: TenantStore;

before(async () => {
  table = await startTable('operator-data-test');
  doc = table.doc;
  tenants = new TenantStore(doc, TABLE, 'sip.test');
});
after(async () => {
  await table.close();
});

describe('the number cap', () => {
  test('20 concurrent claims of different numbers against a cap of 3: exactly 3 won, the rest limit_exceeded', async () => {
    const { tenant } = await tenants.create({ name: 'Capped' });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        tenants.claimNumber(tenant.tenantId, `+4930100${String(i).padStart(2, '0')}`, 3),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled' && r.value.created);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 3);
    assert.equal(refused.length, 17);
    for (const r of refused) {
      const err = (r as PromiseRejectedResult).reason as { code: string; details: { limit: number } };
      assert.equal(err.code, 'limit_exceeded');
      assert.equal(err.details.limit, 3);
    }
    assert.equal((await tenants.listNumbers(tenant.tenantId)).length, 3);
    assert.equal((await tenants.require(tenant.tenantId)).numberCount, 3);
  });

  test('at the cap, a number already held is still "already yours"; a release frees a slot', async () => {
    const { tenant } = await tenants.create({ name: 'Full' });
    assert.deepEqual(await tenants.claimNumber(tenant.tenantId, 'one', 2), { created: true });
    assert.deepEqual(await tenants.claimNumber(tenant.tenantId, 'two', 2), { created: true });
    assert.deepEqual(await tenants.claimNumber(tenant.tenantId, 'one', 2), { created: false });
    await assert.rejects(tenants.claimNumber(tenant.tenantId, 'three', 2), { code: 'limit_exceeded' });
    await tenants.releaseNumber(tenant.tenantId, 'two');
    assert.deepEqual(await tenants.claimNumber(tenant.tenantId, 'three', 2), { created: true });
    assert.equal((await tenants.require(tenant.tenantId)).numberCount, 2);
  });

  test('concurrent claims of one number by one tenant and a rival: one owner, counts stay exact', async () => {
    const a = (await tenants.create({ name: 'Race A' })).tenant.tenantId;
    const b = (await tenants.create({ name: 'Race B' })).tenant.tenantId;
    const results = await Promise.allSettled([
      ...Array.from({ length: 5 }, () => tenants.claimNumber(a, 'contested', 10)),
      ...Array.from({ length: 5 }, () => tenants.claimNumber(b, 'contested', 10)),
    ]);
    const created = results.filter((r) => r.status === 'fulfilled' && r.value.created).length;
    assert.equal(created, 1);
    const owner = await tenants.numberOwner('contested');
    const counts = [(await tenants.require(a)).numberCount, (await tenants.require(b)).numberCount];
    assert.deepEqual(counts, owner === a ? [1, 0] : [0, 1]);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'conflict');
    }
  });

  test('a tenant from before the count existed is counted on its first claim', async () => {
    const { tenant } = await tenants.create({ name: 'Legacy' });
    await tenants.claimNumber(tenant.tenantId, 'legacy-1');
    await tenants.claimNumber(tenant.tenantId, 'legacy-2');
    await doc.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.tenant(tenant.tenantId),
        UpdateExpression: 'REMOVE numberCount',
      }),
    );
    await assert.rejects(tenants.claimNumber(tenant.tenantId, 'legacy-3', 2), { code: 'limit_exceeded' });
    assert.equal((await tenants.require(tenant.tenantId)).numberCount, 2);
    assert.deepEqual(await tenants.claimNumber(tenant.tenantId, 'legacy-3', 3), { created: true });
  });
});

describe('suspension', () => {
  test('a suspended tenant is not resolved for inbound calls, but told apart from an unknown target', async () => {
    const { tenant } = await tenants.create({ name: 'Suspended' });
    await tenants.claimNumber(tenant.tenantId, '+4930999000');
    assert.equal((await tenants.resolveInbound('sip.test', '+4930999000'))?.tenantId, tenant.tenantId);

    const suspended = await tenants.setSuspended(tenant.tenantId, { reason: 'unpaid' });
    assert.equal(suspended.state, 'suspended');
    assert.equal(suspended.suspendedReason, 'unpaid');
    const at = suspended.suspendedAt;
    assert.ok(at);
    assert.equal(await tenants.resolveInbound('sip.test', '+4930999000'), undefined);
    assert.equal(await tenants.resolveInbound(tenant.domain, 'anyone'), undefined);
    assert.equal((await tenants.inboundTarget(tenant.domain, 'anyone'))?.suspended, true);
    assert.equal(await tenants.inboundTarget('sip.test', '+4930999001'), undefined);
    assert.deepEqual(await tenants.suspension(tenant.tenantId), { reason: 'unpaid' });

    // Suspending again keeps the first time and takes the new reason (or none).
    const again = await tenants.setSuspended(tenant.tenantId, {});
    assert.equal(again.suspendedAt, at);
    assert.equal(again.suspendedReason, undefined);

    const resumed = await tenants.setSuspended(tenant.tenantId, null);
    assert.equal(resumed.state, 'active');
    assert.equal(resumed.suspendedAt, undefined);
    assert.equal(await tenants.suspension(tenant.tenantId), undefined);
    assert.equal((await tenants.resolveInbound('sip.test', '+4930999000'))?.tenantId, tenant.tenantId);
    await assert.rejects(tenants.setSuspended('t0000000000000000', null), { code: 'not_found' });
  });
});

describe('limits and the tenant list', () => {
  test('limits merge: absent kept, null removed; concurrent changes lose nothing', async () => {
    const { tenant } = await tenants.create({ name: 'Limited' });
    let t = await tenants.setLimits(tenant.tenantId, { maxConcurrentCalls: 1, maxNumbers: 5 });
    assert.deepEqual(t.limits, { maxConcurrentCalls: 1, maxNumbers: 5 });
    t = await tenants.setLimits(tenant.tenantId, {
      maxNumbers: null,
      outboundDestinations: { numberPrefixes: ['+49'], sipDomains: [] },
    });
    assert.deepEqual(t.limits, {
      maxConcurrentCalls: 1,
      outboundDestinations: { numberPrefixes: ['+49'], sipDomains: [] },
    });
    await Promise.all([
      tenants.setLimits(tenant.tenantId, { callsPerSecond: 2 }),
      tenants.setLimits(tenant.tenantId, { maxCallDurationSec: 600 }),
    ]);
    const after = await tenants.require(tenant.tenantId);
    assert.equal(after.limits?.callsPerSecond, 2);
    assert.equal(after.limits?.maxCallDurationSec, 600);
    await assert.rejects(tenants.setLimits('t0000000000000000', { maxNumbers: 1 }), { code: 'not_found' });
  });

  test('every tenant, newest first, a page at a time; a forged cursor is a 400', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await tenants.create({ name: `Listed ${i}` })).tenant.tenantId);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await tenants.listTenants({ limit: 2, cursor });
      assert.ok(page.tenants.length <= 2);
      seen.push(...page.tenants.map((t) => t.tenantId));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen.slice(0, 3), [...made].reverse(), 'newest first');
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 3);
    const first = (await tenants.listTenants({ limit: 1 })).tenants[0]!;
    assert.equal((first as unknown as Record<string, unknown>).gsi1pk, undefined, 'no table keys in the record');
    await assert.rejects(tenants.listTenants({ limit: 1, cursor: Buffer.from('nope').toString('base64url') }), {
      code: 'validation_failed',
    });
  });
});

describe('signup settings and invitations', () => {
  test('signup is open until the operator changes it', async () => {
    const settings = new DeploymentSettingsStore(doc, TABLE);
    assert.deepEqual(await settings.get(), { signup: 'open', updatedAt: null });
    const changed = await settings.setSignup('invitation', new Date('2030-01-01T00:00:00Z'));
    assert.deepEqual(changed, { signup: 'invitation', updatedAt: '2030-01-01T00:00:00.000Z' });
    assert.deepEqual(await settings.get(), changed);
  });

  test('an invitation admits exactly one signup, however many race for it, and expires', async () => {
    const invitations = new InvitationStore(doc, TABLE);
    const now = Date.parse('2030-01-01T00:00:00Z');
    const { code, expiresAt } = await invitations.create({ expiresInSeconds: 3600, note: 'Acme' }, now);
    assert.match(code, /^inv_/);
    assert.equal(expiresAt, '2030-01-01T01:00:00.000Z');
    const results = await Promise.all(Array.from({ length: 8 }, () => invitations.redeem(code, now + 1000)));
    assert.equal(results.filter(Boolean).length, 1);

    const late = await invitations.create({ expiresInSeconds: 60 }, now);
    assert.equal(await invitations.redeem(late.code, now + 61_000), false, 'expired');
    assert.equal(await invitations.redeem('inv_unknownunknownunknownunknown', now), false);
    assert.equal(await invitations.redeem('not a code', now), false);
  });
});
