import { after, before } from 'node:test';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import { startTable } from '../../../shared/test/helpers/dynamo-table.js';
import { FakeSessionRepository, FakeTenantDirectory, tenantFixture } from '../kit/call-data.js';
import { sessionRepositoryContract } from './session-repository.contract.js';
import { tenantDirectoryContract } from './tenant-directory.contract.js';

// SessionRepository and TenantDirectory: the DynamoDB stores on a real dynalite, and the kit's fakes.
let table: Awaited<ReturnType<typeof startTable>>;
before(async () => {
  table = await startTable('contracts-call-data');
});
after(async () => {
  await table?.close();
});

sessionRepositoryContract('SessionStore on dynalite', () => {
  const store = new SessionStore(table.doc, table.tableName);
  return {
    repo: store,
    inspect: { session: (id) => store.get(id), journal: (id) => store.readJournal(id) },
  };
});

sessionRepositoryContract("SessionStore on dynalite, the journal batched as a node's", () => {
  const store = new SessionStore(table.doc, table.tableName, { journalBatchMs: 5 });
  return {
    repo: store,
    inspect: { session: (id) => store.get(id), journal: (id) => store.readJournal(id) },
  };
});

tenantDirectoryContract('TenantStore on dynalite', () => {
  const store = new TenantStore(table.doc, table.tableName, 'sip.test');
  return {
    directory: store,
    async seed({ name, numbers = [] }) {
      const { tenant } = await store.create({ name });
      for (const n of numbers) await store.claimNumber(tenant.tenantId, n);
      return (await store.get(tenant.tenantId))!;
    },
  };
});

sessionRepositoryContract('FakeSessionRepository (test kit)', () => {
  const repo = new FakeSessionRepository();
  return {
    repo,
    inspect: { session: async (id) => repo.get(id), journal: async (id) => repo.journalOf(id) },
  };
});

tenantDirectoryContract('FakeTenantDirectory (test kit)', () => {
  const directory = new FakeTenantDirectory('sip.test');
  let n = 0;
  return {
    directory,
    async seed({ name, numbers = [] }) {
      n += 1;
      const tenant = tenantFixture({ tenantId: `tn-${n}`, name, domain: `${name.toLowerCase()}-${n}.sip.test` });
      directory.add(tenant, numbers);
      return tenant;
    },
  };
});
