import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConferenceStore } from '../src/data/conference-store.js';
import type { ConferenceRecord } from '../src/domain/conference.js';
import { startTable } from './helpers/dynamo-table.js';

// The conference item against the DynamoDB API (dynalite, the table the stack creates): the conditional
// writes the hosting model relies on (docs/conferences.md).
let table: Awaited<ReturnType<typeof startTable>>;
let store: ConferenceStore;
before(async () => {
  table = await startTable('conference-test');
  store = new ConferenceStore(table.doc, table.tableName);
});
after(async () => {
  await table.close();
});

function record(name: string, hostNodeId: string, conferenceId = `cf-${hostNodeId}`): ConferenceRecord {
  return {
    tenantId: 't1',
    name,
    conferenceId,
    hostNodeId,
    createdAt: new Date().toISOString(),
    maxParticipants: 50,
    participants: {},
  };
}

test('of concurrent first joins exactly one creates the conference; the others find its host', async () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const created = await Promise.all(nodes.map((n) => store.create(record('race', n))));
  assert.equal(created.filter(Boolean).length, 1, JSON.stringify(created));
  const winner = nodes[created.indexOf(true)]!;
  assert.equal((await store.get('t1', 'race'))?.hostNodeId, winner);
});

test("members, flags and the recording are written only into the instance named; a tenant's names are its own", async () => {
  assert.equal(await store.create(record('room', 'n1', 'cf-1')), true);
  const at = { tenantId: 't1', name: 'room', conferenceId: 'cf-1' };
  const member = { sessionId: 's1', nodeId: 'n1', muted: false, deaf: false, joinedAt: new Date().toISOString() };
  assert.equal(await store.putMember(at, 'p1', member), true);
  assert.equal(await store.putMember(at, 'p2', member), true);
  assert.equal(await store.updateMember(at, 'p1', { muted: true }), true);
  assert.equal(await store.updateMember(at, 'nobody', { muted: true }), false, 'no such member');
  assert.equal(await store.setRecording(at, { fileName: 'f', startedAt: 'now' }), true);
  assert.equal(await store.removeMember(at, 'p2'), true);
  const item = await store.get('t1', 'room');
  assert.deepEqual(Object.keys(item!.participants), ['p1']);
  assert.equal(item!.participants.p1!.muted, true);
  assert.equal(item!.recording?.fileName, 'f');
  assert.equal(await store.get('t2', 'room'), undefined, "another tenant's conference of that name is not found");

  // A later instance of the name (taken over): writes for the earlier one change nothing.
  assert.equal(await store.replace(record('room', 'n2', 'cf-2'), 'cf-1'), true);
  assert.equal(await store.replace(record('room', 'n3', 'cf-3'), 'cf-1'), false, 'only one takes over');
  assert.equal(await store.putMember(at, 'p3', member), false);
  assert.equal(await store.setRecording(at, undefined), false);
  assert.equal(await store.remove(at), false);
  const now = await store.get('t1', 'room');
  assert.equal(now?.conferenceId, 'cf-2');
  assert.deepEqual(now?.participants, {});
  assert.equal(await store.remove({ ...at, conferenceId: 'cf-2' }), true);
  assert.equal(await store.get('t1', 'room'), undefined);
});
