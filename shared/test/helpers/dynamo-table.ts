import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../../infra/src/local/dynamodb-local.js';
import { createDocumentClient } from '../../src/aws/document-client.js';

/**
 * The real DynamoDB API for tests: dynalite as the local deployment starts it (its own process,
 * the table created from shared/src/data/table-design.ts), and the product's document client
 * (shared/src/aws/document-client.ts).
 */
export async function startTable(
  tableName: string,
  /** A directory of the caller's, kept on close (a restart on the same data); a new one, removed, by default. */
  dataDir?: string,
): Promise<{
  doc: DynamoDBDocumentClient;
  tableName: string;
  endpoint: string;
  close(): Promise<void>;
}> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'test-dynamo-')));
  const dynamo = await startDynamoDbLocal(dir, tableName);
  const doc = createDocumentClient(undefined, {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  return {
    doc,
    tableName,
    endpoint: dynamo.endpoint,
    async close() {
      doc.destroy();
      await dynamo.close();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
