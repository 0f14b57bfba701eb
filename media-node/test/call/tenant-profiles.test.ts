import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TenantProfiles } from '../../src/call/limits/tenant-profiles.js';
import { FakeTenantDirectory, tenantFixture } from '../kit/call-data.js';
import { type FlowKit, flowKit } from '../kit/index.js';
import { FakeCallSlots } from '../kit/limits.js';

// The node's copies of tenant profiles (TenantProfiles) in the inbound flow, with the test kit's fakes: the
// tenant directory and the call slots (the version on the slots item) in memory, each profile write telling
// the slots as TenantStore does. A profile written between two calls must apply to the second.

const dropped = () => ({ action: 'drop' as const, sipStatus: 486 });
const profileReads = (kit: FlowKit) => kit.tenants.lookups.filter((l) => l.startsWith('get ')).length;

describe('tenant profiles on the node', { concurrency: true }, () => {
  test('calls of one tenant read its profile once, and count each call in the limits', async (t) => {
    const kit = flowKit(t);
    for (let i = 0; i < 4; i++) {
      kit.callbacks.queue('newCall', dropped());
      assert.equal((await kit.invite().finalResponse).status, 486);
    }
    await kit.drained();
    assert.equal(profileReads(kit), 1);
    assert.equal(kit.limits.acquired, 4);
    assert.equal(kit.limits.profileChanges, 0);
    await kit.close();
  });

  test('a suspension written between two calls: the second gets 404 and takes nothing; resumed, calls go on', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', dropped());
    assert.equal((await kit.invite().finalResponse).status, 486);
    kit.tenants.add({ ...kit.tenant, state: 'suspended' });
    assert.equal((await kit.invite().finalResponse).status, 404);
    assert.equal(kit.limits.profileChanges, 1, 'the admission found the copy behind');
    assert.equal(kit.limits.acquired, 1, 'no slot for the suspended tenant');
    assert.equal(kit.active.admissions.length, 2, 'the refused admission counted nothing: it was refused');
    assert.equal((await kit.invite().finalResponse).status, 404, 'a suspended tenant is read again, not kept');
    kit.tenants.add({ ...kit.tenant, state: 'active' });
    kit.callbacks.queue('newCall', dropped());
    assert.equal((await kit.invite().finalResponse).status, 486);
    await kit.drained();
    kit.expectNoSlotsHeld();
    await kit.close();
  });

  test('a lower concurrent-call limit written while a call is up refuses the next call with the new limit', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 60_000 }] }));
    const first = kit.invite();
    assert.equal((await first.finalResponse).status, 200);
    kit.tenants.add({ ...kit.tenant, limits: { maxConcurrentCalls: 1 } });
    const refused = await kit.invite().finalResponse;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.Warning, '399 sip-mediaserver "at most 1 simultaneous calls"');
    first.dialog?.end('remote-bye');
    await kit.drained();
    kit.expectNoSlotsHeld();
    await kit.close();
  });

  test('a setting written between two calls is the one the second call runs with', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', dropped());
    await kit.invite().finalResponse;
    kit.tenants.add({ ...kit.tenant, maxCallDurationSec: 0.05 });
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 60_000 }] }));
    const second = kit.invite();
    await kit.drained();
    assert.equal(second.dialog?.byeSent, true, 'hung up at the new maximum duration');
    assert.equal(profileReads(kit), 2);
    await kit.close();
  });
});

describe('TenantProfiles', () => {
  const tenant = tenantFixture();

  test('concurrent first calls share one read; the version is read before the profile', async () => {
    const order: string[] = [];
    const directory = new FakeTenantDirectory().add(tenant);
    const slots = new FakeCallSlots();
    const profiles = new TenantProfiles(
      {
        inboundTenantId: (h, u) => directory.inboundTenantId(h, u),
        get: (id) => {
          order.push('profile');
          return directory.get(id);
        },
      },
      {
        profileVersion: (id) => {
          order.push('version');
          return slots.profileVersion(id);
        },
      },
    );
    const found = await Promise.all(Array.from({ length: 5 }, () => profiles.inbound(tenant.domain, 'x')));
    assert.ok(found.every((f) => f?.tenant.tenantId === tenant.tenantId && f.profileVersion === 0));
    assert.deepEqual(order, ['version', 'profile']);
    slots.profileChanged(tenant.tenantId);
    assert.equal((await profiles.profile(tenant.tenantId, { fresh: true }))?.profileVersion, 1);
    assert.deepEqual(order, ['version', 'profile', 'version', 'profile']);
  });

  test('a copy serves its maximum age at most; a failed read is not kept', async () => {
    const directory = new FakeTenantDirectory().add(tenant);
    const slots = new FakeCallSlots();
    const aged = new TenantProfiles(directory, slots, 0);
    await aged.profile(tenant.tenantId);
    await new Promise((r) => setTimeout(r, 2));
    await aged.profile(tenant.tenantId);
    assert.equal(directory.lookups.filter((l) => l.startsWith('get ')).length, 2);

    const profiles = new TenantProfiles(directory, slots);
    slots.error = new Error('table unreachable');
    await assert.rejects(profiles.profile(tenant.tenantId), /table unreachable/);
    slots.error = undefined;
    assert.equal((await profiles.profile(tenant.tenantId))?.tenant.tenantId, tenant.tenantId);
    assert.equal(await profiles.profile('t-unknown'), undefined);
  });
});
