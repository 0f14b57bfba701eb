import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './condition-failure.js';

/** Attribute names of the per-node counts: `n_<nodeId>` (node ids are [A-Za-z0-9._-]). */
const NODE_PREFIX = 'n_';
const nodeAttr = (nodeId: string) => `${NODE_PREFIX}${nodeId}`;

/**
 * A tenant's concurrent-call slots, counted atomically across all media nodes: one item per tenant
 * holds the total (`active`) and each node's share (`n_<nodeId>`). Taking a slot is one conditional
 * update (`active < limit`), so a burst of INVITEs on any number of nodes can never pass the limit;
 * giving it back decrements both. A node that dies without giving its slots back has its share taken
 * away by `reclaim` (the sweeper does that once the node's heartbeat is stale).
 */
export class CallSlots {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(tenantId: string) {
    return { pk: `TENANT#${tenantId}#SLOTS`, sk: 'TOTAL' };
  }

  /** Takes one slot for `nodeId` if fewer than `limit` are in use; false when the limit is reached. */
  async acquire(tenantId: string, nodeId: string, limit: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET active = if_not_exists(active, :zero) + :one, #n = if_not_exists(#n, :zero) + :one',
          ConditionExpression: 'attribute_not_exists(active) OR active < :limit',
          ExpressionAttributeNames: { '#n': nodeAttr(nodeId) },
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':limit': limit },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Gives one slot of `nodeId` back. False when the node holds none (its share was reclaimed while it
   * was unreachable): nothing is decremented twice.
   */
  async release(tenantId: string, nodeId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET active = active - :one, #n = #n - :one',
          ConditionExpression: '#n > :zero AND active > :zero',
          ExpressionAttributeNames: { '#n': nodeAttr(nodeId) },
          ExpressionAttributeValues: { ':zero': 0, ':one': 1 },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Slots in use across all nodes (strongly consistent), and each node's share. */
  async usage(tenantId: string): Promise<{ active: number; byNode: Record<string, number> }> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(tenantId), ConsistentRead: true }),
    );
    const item = res.Item ?? {};
    const byNode: Record<string, number> = {};
    for (const [k, v] of Object.entries(item)) {
      if (k.startsWith(NODE_PREFIX) && Number(v) > 0) byNode[k.slice(NODE_PREFIX.length)] = Number(v);
    }
    return { active: Number(item.active ?? 0), byNode };
  }

  /** Takes away every slot `nodeId` holds for the tenant (a dead node's); returns how many. */
  async reclaim(tenantId: string, nodeId: string): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const held = (await this.usage(tenantId)).byNode[nodeId] ?? 0;
      if (held === 0) return 0;
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.key(tenantId),
            UpdateExpression: 'SET active = active - :held REMOVE #n',
            ConditionExpression: '#n = :held',
            ExpressionAttributeNames: { '#n': nodeAttr(nodeId) },
            ExpressionAttributeValues: { ':held': held },
          }),
        );
        return held;
      } catch (err) {
        // The share changed between the read and the write (a late release): read again.
        if (!isConditionFailure(err)) throw err;
      }
    }
    throw new Error(`slots of node ${nodeId} for tenant ${tenantId} kept changing; reclaim again later`);
  }
}
