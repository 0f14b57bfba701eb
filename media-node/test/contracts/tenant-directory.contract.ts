import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type { TenantDirectory } from '../../src/ports/call-data.js';

export interface TenantDirectoryUnderTest {
  directory: TenantDirectory;
  /**
   * Puts a tenant where the directory finds it, as signup and the numbers API do (a domain under the
   * directory's SIP domain, and the claimed numbers); returns the tenant as stored.
   */
  seed(input: { name: string; numbers?: string[] }): Promise<TenantRecord>;
  close?(): Promise<void>;
}

const number = () => `+49${(randomBytes(4).readUInt32BE(0) % 1e9).toString().padStart(9, '0')}`;

/** The TenantDirectory port's behaviour: inbound routing by domain or claimed number, and lookup by id. */
export function tenantDirectoryContract(
  name: string,
  make: () => TenantDirectoryUnderTest | Promise<TenantDirectoryUnderTest>,
): void {
  describe(`TenantDirectory contract: ${name}`, () => {
    let subject: TenantDirectoryUnderTest;
    before(async () => {
      subject = await make();
    });
    after(async () => {
      await subject?.close?.();
    });

    test('get returns the tenant by id; an unknown id is undefined', async () => {
      const tenant = await subject.seed({ name: 'Acme' });
      assert.deepEqual(await subject.directory.get(tenant.tenantId), tenant);
      assert.equal(await subject.directory.get('t-no-such-tenant'), undefined);
    });

    test('resolveInbound by the tenant’s domain, whatever the user part', async () => {
      const tenant = await subject.seed({ name: 'Domain' });
      assert.deepEqual(await subject.directory.resolveInbound(tenant.domain, 'support'), tenant);
      assert.deepEqual(await subject.directory.resolveInbound(tenant.domain, ''), tenant);
    });

    test('resolveInbound matches the domain case-insensitively (SIP hosts are)', async () => {
      const tenant = await subject.seed({ name: 'Case' });
      assert.equal(
        (await subject.directory.resolveInbound(tenant.domain.toUpperCase(), 'x'))?.tenantId,
        tenant.tenantId,
      );
    });

    test('resolveInbound by a claimed number as the user part, on any host', async () => {
      const claimed = number();
      const tenant = await subject.seed({ name: 'Numbers', numbers: [claimed] });
      assert.deepEqual(await subject.directory.resolveInbound('203.0.113.7', claimed), tenant);
      assert.deepEqual(await subject.directory.resolveInbound('trunk.example.net', claimed), tenant);
    });

    test('a tenant’s domain wins over another tenant’s number in the user part', async () => {
      const claimed = number();
      const byNumber = await subject.seed({ name: 'ByNumber', numbers: [claimed] });
      const byDomain = await subject.seed({ name: 'ByDomain' });
      assert.equal((await subject.directory.resolveInbound(byDomain.domain, claimed))?.tenantId, byDomain.tenantId);
      assert.equal((await subject.directory.resolveInbound('198.51.100.1', claimed))?.tenantId, byNumber.tenantId);
    });

    test('inboundTenantId routes as resolveInbound does, without the tenant item', async () => {
      const claimed = number();
      const byNumber = await subject.seed({ name: 'IdByNumber', numbers: [claimed] });
      const byDomain = await subject.seed({ name: 'IdByDomain' });
      assert.equal(await subject.directory.inboundTenantId(byDomain.domain.toUpperCase(), claimed), byDomain.tenantId);
      assert.equal(await subject.directory.inboundTenantId('198.51.100.1', claimed), byNumber.tenantId);
      assert.equal(await subject.directory.inboundTenantId('198.51.100.1', 'alice'), undefined);
    });

    test('numberOwner names the tenant that claimed a number, and no one for an unclaimed one', async () => {
      const claimed = number();
      const owner = await subject.seed({ name: 'Owner', numbers: [claimed] });
      assert.equal(await subject.directory.numberOwner(claimed), owner.tenantId);
      assert.equal(await subject.directory.numberOwner(number()), undefined);
    });

    test('unknown domain and unclaimed number resolve to undefined', async () => {
      const other = await subject.seed({ name: 'Other', numbers: [number()] });
      const sipDomain = other.domain.slice(other.domain.indexOf('.') + 1);
      assert.equal(await subject.directory.resolveInbound(`nobody-here.${sipDomain}`, 'x'), undefined);
      assert.equal(await subject.directory.resolveInbound('nobody.example.org', number()), undefined);
      assert.equal(await subject.directory.resolveInbound('198.51.100.1', ''), undefined);
      assert.equal(await subject.directory.resolveInbound('198.51.100.1', 'alice'), undefined);
    });
  });
}
