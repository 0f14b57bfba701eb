import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../../infra/src/local/dynamodb-local.js';

/**
 * The real DynamoDB API for tests: dynalite as the local deployment starts it (its own process,
 * the table created from shared/src/data/table-design.ts), and a document client configured as the
 * stores expect it.
 */
export async function startTable(tableName: string): Promise<{
  doc: DynamoDBDocumentClient;
  tableName: string;
  endpoint: string;
  close(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'test-dynamo-'));
  const dynamo = await startDynamoDbLocal(dir, tableName);
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    doc,
    tableName,
    endpoint: dynamo.endpoint,
    async close() {
      doc.destroy();
      await dynamo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
