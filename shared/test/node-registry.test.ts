import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../infra/src/local/dynamodb-local.js';
import { NodeCommand } from '../src/contracts/node-commands.js';
import { IdempotencyStore } from '../src/data/idempotency-store.js';
import { NodeRegistry } from '../src/data/node-registry.js';
import { createLogger } from '../src/util/logger.js';

// Against the DynamoDB API (dynalite), with the table the stack creates.
let dir: string;
let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
let doc: DynamoDBDocumentClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'registry-'));
  dynamo = await startDynamoDbLocal(dir, 'registry-test');
  doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    }),
  );
});
after(async () => {
  await dynamo.close();
  await rm(dir, { recursive: true, force: true });
});

test('pickNode prefers the live, non-draining node with the most room', async () => {
  const reg = new NodeRegistry(doc, 'registry-test');
  const now = new Date().toISOString();
  const old = new Date(Date.now() - 60_000).toISOString();
  await reg.heartbeat({
    nodeId: 'a',
    sip: { host: 'h', port: 1 },
    activeCalls: 5,
    maxCalls: 10,
    draining: false,
    at: now,
  });
  await reg.heartbeat({
    nodeId: 'b',
    sip: { host: 'h', port: 2 },
    activeCalls: 1,
    maxCalls: 10,
    draining: false,
    at: now,
  });
  await reg.heartbeat({
    nodeId: 'c',
    sip: { host: 'h', port: 3 },
    activeCalls: 0,
    maxCalls: 10,
    draining: true,
    at: now,
  });
  await reg.heartbeat({
    nodeId: 'd',
    sip: { host: 'h', port: 4 },
    activeCalls: 0,
    maxCalls: 10,
    draining: false,
    at: old,
  });
  await reg.heartbeat({
    nodeId: 'e',
    sip: { host: 'h', port: 5 },
    activeCalls: 3,
    maxCalls: 3,
    draining: false,
    at: now,
  });
  assert.equal((await reg.pickNode())?.nodeId, 'b');
  await reg.remove('b');
  assert.equal((await reg.pickNode())?.nodeId, 'a');
});

test('pickNode: a node refusing calls for its load comes after one that is not; one refusing all is no candidate', async () => {
  const reg = new NodeRegistry(doc, 'registry-test');
  const at = new Date().toISOString();
  const node = (nodeId: string, activeCalls: number, shedRatio?: number) =>
    reg.heartbeat({
      nodeId,
      sip: { host: 'h', port: 1 },
      activeCalls,
      maxCalls: 10,
      draining: false,
      ...(shedRatio === undefined ? {} : { shedRatio }),
      at,
    });
  for (const id of ['a', 'b', 'c', 'd', 'e']) await reg.remove(id);
  await node('busy', 9);
  await node('idle-but-behind', 0, 0.4);
  assert.equal((await reg.pickNode())?.nodeId, 'busy', 'any room beats a node that sheds');
  await node('busy', 10);
  assert.equal((await reg.pickNode())?.nodeId, 'idle-but-behind');
  await node('idle-but-behind', 0, 1);
  assert.equal(await reg.pickNode(), undefined, 'every node full or refusing all: none');
});

test('inbox commands are taken oldest first and only once, even by two concurrent readers', async () => {
  const reg = new NodeRegistry(doc, 'registry-test');
  for (let i = 0; i < 5; i++)
    await reg.send('n1', {
      kind: 'interruptIvrCommand',
      tenantId: 't',
      payload: { sessionId: `s${i}`, participantId: 'p' },
    });
  const [x, y] = await Promise.all([reg.take('n1'), reg.take('n1')]);
  const taken = (items: unknown[]) => items.map((c) => NodeCommand.parse(c).payload.sessionId);
  assert.deepEqual([...taken(x), ...taken(y)].sort(), ['s0', 's1', 's2', 's3', 's4']);
  assert.deepEqual(taken(x), [...taken(x)].sort());
  assert.deepEqual(await reg.take('n1'), []);
});

test('Idempotency-Key: the first result is returned again, work runs once; a different body is a conflict', async () => {
  const store = new IdempotencyStore(doc, 'registry-test', createLogger({}, 'silent'));
  let runs = 0;
  const work = async () => ({ status: 200, body: { run: ++runs } });
  const first = await store.run('t1', 'POST /x', 'key-1', 'fp', work);
  const again = await store.run('t1', 'POST /x', 'key-1', 'fp', work);
  assert.deepEqual(first, { status: 200, body: { run: 1 } });
  assert.deepEqual(again, first);
  assert.equal(runs, 1);
  await assert.rejects(store.run('t1', 'POST /x', 'key-1', 'other', work), /different request/);
  // Another tenant's identical key is independent.
  assert.deepEqual(await store.run('t2', 'POST /x', 'key-1', 'fp', work), { status: 200, body: { run: 2 } });
  // A failed first attempt does not pin the key.
  await assert.rejects(
    store.run('t1', 'POST /x', 'key-2', 'fp', async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.deepEqual(await store.run('t1', 'POST /x', 'key-2', 'fp', work), { status: 200, body: { run: 3 } });
});
