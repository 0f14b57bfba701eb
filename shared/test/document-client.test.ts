import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../infra/src/local/dynamodb-local.js';
import { createDocumentClient, MARSHALL_OPTIONS } from '../src/aws/document-client.js';
import { isConditionFailure } from '../src/data/condition-failure.js';

// The product's document client (marshalling of its own, the low-level client's middleware resolved once per
// command class) against lib-dynamodb's stock client, on the real DynamoDB API (dynalite): every kind of command
// the stores send gives the same answer both ways.
const TABLE = 'document-client-test';
let close: () => Promise<void>;
let product: DynamoDBDocumentClient;
let stock: DynamoDBDocumentClient;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'test-doc-client-'));
  const dynamo = await startDynamoDbLocal(dir, TABLE);
  const config = {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  };
  product = createDocumentClient(undefined, config);
  stock = DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: MARSHALL_OPTIONS });
  close = async () => {
    product.destroy();
    stock.destroy();
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  };
});
after(() => close?.());

const item = (pk: string, sk: string) => ({
  pk,
  sk,
  text: 'hello',
  n: 42,
  flag: true,
  nothing: null,
  gone: undefined,
  list: ['a', 1, { deep: [true, null] }],
  nested: { a: { b: 'c' }, empty: {} },
  set: new Set(['x', 'y']),
  bytes: new Uint8Array([1, 2, 3]),
});

/** Sends the same command (made twice: a command is used once) both ways; returns both outputs without metadata. */
async function both(make: () => object) {
  const strip = (out: unknown) => {
    const { $metadata: _m, ...rest } = out as { $metadata?: unknown };
    return rest;
  };
  const a = strip(await product.send(make() as never));
  const b = strip(await stock.send(make() as never));
  return { product: a, stock: b };
}

test('document client: put (ALL_OLD), get, update (ALL_NEW), query with pages, batch write and get, delete — the same answers as lib-dynamodb', async () => {
  await product.send(new PutCommand({ TableName: TABLE, Item: item('P#1', 'A') }));
  const old = await both(() => new PutCommand({ TableName: TABLE, Item: item('P#1', 'A'), ReturnValues: 'ALL_OLD' }));
  assert.deepEqual(old.product, old.stock);
  assert.equal((old.product as { Attributes: { text: string } }).Attributes.text, 'hello');
  assert.ok(!('gone' in (old.product as { Attributes: object }).Attributes), 'undefined attributes are not written');

  const got = await both(() => new GetCommand({ TableName: TABLE, Key: { pk: 'P#1', sk: 'A' }, ConsistentRead: true }));
  assert.deepEqual(got.product, got.stock);
  const read = (got.product as { Item: Record<string, unknown> }).Item;
  assert.deepEqual(read.list, ['a', 1, { deep: [true, null] }]);
  assert.deepEqual(read.set, new Set(['x', 'y']));
  assert.deepEqual(read.nested, { a: { b: 'c' }, empty: {} });

  const missing = await both(() => new GetCommand({ TableName: TABLE, Key: { pk: 'P#none', sk: 'A' } }));
  assert.deepEqual(missing.product, missing.stock);
  assert.equal((missing.product as { Item?: unknown }).Item, undefined);

  const updated = await both(
    () =>
      new UpdateCommand({
        TableName: TABLE,
        Key: { pk: 'P#1', sk: 'A' },
        UpdateExpression: 'SET nested.#a = :v, n = n + :one',
        ExpressionAttributeNames: { '#a': 'a' },
        ExpressionAttributeValues: { ':v': { b: ['d', { e: 1 }] }, ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
  );
  // Each way added 1: the stock client's answer is one more.
  const attrs = (x: unknown) => (x as { Attributes: Record<string, unknown> }).Attributes;
  assert.equal(attrs(updated.product).n, 43);
  assert.equal(attrs(updated.stock).n, 44);
  assert.deepEqual({ ...attrs(updated.product), n: 0 }, { ...attrs(updated.stock), n: 0 });

  const writes = Array.from({ length: 12 }, (_, i) => ({
    PutRequest: { Item: item('Q#1', `S#${String(i).padStart(2, '0')}`) },
  }));
  await product.send(new BatchWriteCommand({ RequestItems: { [TABLE]: writes } }));
  const page = await both(
    () =>
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :s)',
        ExpressionAttributeValues: { ':p': 'Q#1', ':s': 'S#' },
        Limit: 5,
        ConsistentRead: true,
      }),
  );
  assert.deepEqual(page.product, page.stock);
  const lastKey = (page.product as { LastEvaluatedKey: Record<string, unknown> }).LastEvaluatedKey;
  assert.deepEqual(lastKey, { pk: 'Q#1', sk: 'S#04' });
  const next = await both(
    () =>
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'Q#1' },
        ExclusiveStartKey: lastKey,
        ProjectionExpression: 'sk, #t',
        ExpressionAttributeNames: { '#t': 'text' },
      }),
  );
  assert.deepEqual(next.product, next.stock);
  assert.deepEqual((next.product as { Items: unknown[] }).Items[0], { sk: 'S#05', text: 'hello' });

  const batch = await both(
    () =>
      new BatchGetCommand({
        RequestItems: {
          [TABLE]: {
            Keys: [
              { pk: 'Q#1', sk: 'S#00' },
              { pk: 'Q#1', sk: 'S#11' },
              { pk: 'Q#1', sk: 'none' },
            ],
            ConsistentRead: true,
          },
        },
      }),
  );
  const sortedItems = (x: unknown) =>
    ((x as { Responses: Record<string, { sk: string }[]> }).Responses[TABLE] ?? []).map((i) => i.sk).sort();
  assert.deepEqual(sortedItems(batch.product), ['S#00', 'S#11']);
  assert.deepEqual(sortedItems(batch.product), sortedItems(batch.stock));

  await product.send(
    new BatchWriteCommand({ RequestItems: { [TABLE]: [{ DeleteRequest: { Key: { pk: 'Q#1', sk: 'S#00' } } }] } }),
  );
  const afterDelete = await product.send(new GetCommand({ TableName: TABLE, Key: { pk: 'Q#1', sk: 'S#00' } }));
  assert.equal(afterDelete.Item, undefined);

  const deleted = await product.send(
    new DeleteCommand({ TableName: TABLE, Key: { pk: 'P#1', sk: 'A' }, ReturnValues: 'ALL_OLD' }),
  );
  assert.equal(deleted.Attributes?.text, 'hello');
});

test('document client: a failed condition is the SDK error the stores recognize; an abort signal still works', async () => {
  const put = () =>
    new PutCommand({ TableName: TABLE, Item: { pk: 'C#1', sk: 'A' }, ConditionExpression: 'attribute_not_exists(pk)' });
  await product.send(put());
  await assert.rejects(product.send(put()), (err) => isConditionFailure(err));

  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    product.send(new GetCommand({ TableName: TABLE, Key: { pk: 'C#1', sk: 'A' } }), { abortSignal: controller.signal }),
    (err: Error) => err.name === 'AbortError',
  );
  const got = await product.send(new GetCommand({ TableName: TABLE, Key: { pk: 'C#1', sk: 'A' } }), {
    abortSignal: new AbortController().signal,
  });
  assert.deepEqual(got.Item, { pk: 'C#1', sk: 'A' });
  // The callback form.
  const viaCallback = await new Promise((ok, fail) =>
    product.send(new GetCommand({ TableName: TABLE, Key: { pk: 'C#1', sk: 'A' } }), (err, out) =>
      err ? fail(err) : ok(out?.Item),
    ),
  );
  assert.deepEqual(viaCallback, { pk: 'C#1', sk: 'A' });
});

test('document client: the middleware stack is resolved once per command class, and middleware added to it before the first request runs', async () => {
  const config = {
    endpoint: await endpointOf(product),
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  };
  const doc = createDocumentClient(undefined, config);
  const seen: string[] = [];
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  const resolve = PutItemCommand.prototype.resolveMiddleware;
  let resolved = 0;
  PutItemCommand.prototype.resolveMiddleware = function (this: PutItemCommand, ...args: Parameters<typeof resolve>) {
    resolved++;
    return resolve.apply(this, args);
  };
  try {
    for (let i = 0; i < 5; i++)
      await doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'R#1', sk: `S#${i}`, i } }));
    // Concurrent requests share the resolved stack; each carries its own input.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'R#2', sk: `S#${i}`, i } })),
      ),
    );
  } finally {
    PutItemCommand.prototype.resolveMiddleware = resolve;
    doc.destroy();
  }
  assert.equal(resolved, 1, 'one resolution for 15 PutItem requests');
  assert.deepEqual(seen, Array(15).fill('PutItemCommand'));
  const stored = await product.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': 'R#2' },
      ConsistentRead: true,
    }),
  );
  assert.deepEqual(
    stored.Items?.map((i) => i.i).sort((a, b) => a - b),
    Array.from({ length: 10 }, (_, i) => i),
  );
});

async function endpointOf(doc: DynamoDBDocumentClient): Promise<string> {
  const endpoint = await doc.config.endpoint?.();
  assert.ok(endpoint, 'the client has an endpoint');
  return `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`;
}
