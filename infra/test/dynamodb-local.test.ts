import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '@sipms/shared/data/condition-failure';
import { startTable } from '../../shared/test/helpers/dynamo-table.js';

// The local DynamoDB (dynalite in its own process, LevelDB read synchronously, dynamodb-local.ts): what the
// stores rely on holds under concurrent requests — read-modify-write is atomic per item, a conditional create
// has one winner, a write is read back at once — and the data survives a restart (read from LevelDB's files).
const TABLE = 'dynamodb-local-test';

async function withTable(dir: string, run: (doc: DynamoDBDocumentClient) => Promise<void>): Promise<void> {
  const table = await startTable(TABLE, dir);
  try {
    await run(table.doc);
  } finally {
    await table.close();
  }
}

test('concurrent requests: atomic updates, one winner per conditional create, writes read back; a restart keeps it all', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'test-dynamodb-local-'));
  try {
    await withTable(dir, async (doc) => {
      const counter = { pk: 'TEST#counter', sk: 'TOTAL' };
      await Promise.all(
        Array.from({ length: 100 }, () =>
          doc.send(
            new UpdateCommand({
              TableName: TABLE,
              Key: counter,
              UpdateExpression: 'ADD hits :one',
              ExpressionAttributeValues: { ':one': 1 },
            }),
          ),
        ),
      );
      const total = await doc.send(new GetCommand({ TableName: TABLE, Key: counter, ConsistentRead: true }));
      assert.equal(total.Item?.hits, 100);

      const claims = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          doc.send(
            new PutCommand({
              TableName: TABLE,
              Item: { pk: 'TEST#claim', sk: 'CLAIM', holder: `h${i}` },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        ),
      );
      assert.equal(claims.filter((c) => c.status === 'fulfilled').length, 1);
      for (const c of claims) if (c.status === 'rejected') assert.ok(isConditionFailure(c.reason), String(c.reason));

      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const key = { pk: `TEST#item${i}`, sk: 'META' };
          await doc.send(new PutCommand({ TableName: TABLE, Item: { ...key, value: i } }));
          const read = await doc.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
          assert.equal(read.Item?.value, i);
        }),
      );
      const missing = await doc.send(
        new GetCommand({ TableName: TABLE, Key: { pk: 'TEST#none', sk: 'META' }, ConsistentRead: true }),
      );
      assert.equal(missing.Item, undefined);
    });

    await withTable(dir, async (doc) => {
      const read = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [TABLE]: {
              Keys: [
                { pk: 'TEST#counter', sk: 'TOTAL' },
                { pk: 'TEST#claim', sk: 'CLAIM' },
                { pk: 'TEST#item49', sk: 'META' },
                { pk: 'TEST#none', sk: 'META' },
              ],
              ConsistentRead: true,
            },
          },
        }),
      );
      const items = read.Responses?.[TABLE] ?? [];
      assert.equal(items.length, 3);
      assert.equal(items.find((i) => i.pk === 'TEST#counter')?.hits, 100);
      assert.match(String(items.find((i) => i.pk === 'TEST#claim')?.holder), /^h\d+$/);
      assert.equal(items.find((i) => i.pk === 'TEST#item49')?.value, 49);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
