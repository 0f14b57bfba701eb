import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** DynamoDB's limit of items per BatchWriteItem. */
export const BATCH_WRITE_MAX = 25;
/** Rounds for the items DynamoDB leaves unprocessed (throttling), with a growing pause between them. */
const MAX_ROUNDS = 6;

type Item = Record<string, unknown>;
export type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/**
 * Writes up to 25 unconditional puts and deletes in one BatchWriteItem, and again what the table left
 * unprocessed; rejects when items are still unprocessed after a few rounds. Not atomic: each item is
 * stored or not, which is why only writes that need no condition go here.
 */
export async function batchWrite(doc: DynamoDBDocumentClient, tableName: string, batch: WriteRequest[]): Promise<void> {
  if (batch.length > BATCH_WRITE_MAX) throw new Error(`batchWrite takes at most ${BATCH_WRITE_MAX} items`);
  let requests = batch;
  for (let round = 0; requests.length > 0; round++) {
    if (round === MAX_ROUNDS) throw new Error(`${requests.length} items not stored: the table keeps throttling`);
    if (round > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** round));
    const res = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
    requests = (res.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
  }
}
