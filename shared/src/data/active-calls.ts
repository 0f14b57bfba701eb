import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ttlIn } from './table-design.js';

/** How stale a node's count may be before it no longer counts (a node that died stops refreshing). */
const FRESH_MS = 20_000;

/**
 * Active calls per tenant across media nodes. Each node owns one item per tenant holding its own count
 * (an absolute value it rewrites, never an increment), refreshed while it has calls: a node that dies
 * simply stops counting after FRESH_MS, so nothing leaks. The total is a strongly consistent query.
 */
export class ActiveCallCounts {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async publish(tenantId: string, nodeId: string, count: number, now = Date.now()): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `TENANT#${tenantId}#ACTIVE`, sk: nodeId, count, at: now, expiresAt: ttlIn(3600) },
      }),
    );
  }

  /** The tenant's active calls on every node but `exceptNode` (whose count the caller knows better). */
  async others(tenantId: string, exceptNode: string, now = Date.now()): Promise<number> {
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `TENANT#${tenantId}#ACTIVE` },
        ConsistentRead: true,
      }),
    );
    let total = 0;
    for (const item of res.Items ?? []) {
      if (item.sk === exceptNode || now - Number(item.at) > FRESH_MS) continue;
      total += Number(item.count) || 0;
    }
    return total;
  }
}
