import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { NewNodeCommand } from '../contracts/node-commands.js';
import { NODE_STALE_AFTER_MS, type NodeHeartbeat } from '../domain/node.js';
import { randomId } from '../util/ids.js';
import { isConditionFailure } from './condition-failure.js';
import { ttlIn } from './table-design.js';

const NODES_INDEX = 'NODES';
// Long enough for a sweeper to find a dead node's heartbeat (and reclaim what it held); swept ones are deleted.
const HEARTBEAT_TTL = 86_400;
const INBOX_TTL = 600;

/**
 * The node registry and node inboxes: heartbeat items listed through the GSI, so a Lambda can pick the
 * node with the most room; inbox items under the node's partition, claimed with a conditional delete so
 * that each command runs once even if two loops see it.
 */
export class NodeRegistry {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async heartbeat(hb: NodeHeartbeat): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `NODE#${hb.nodeId}`,
          sk: 'HEARTBEAT',
          gsi1pk: NODES_INDEX,
          gsi1sk: hb.nodeId,
          ...hb,
          expiresAt: ttlIn(HEARTBEAT_TTL),
        },
      }),
    );
  }

  async remove(nodeId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: `NODE#${nodeId}`, sk: 'HEARTBEAT' } }),
    );
  }

  /**
   * Deletes a node's heartbeat only if it is still the one seen (`at` unchanged): a node that beat
   * again meanwhile is alive and keeps it. True when deleted.
   */
  async removeIfUnchanged(nodeId: string, at: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: `NODE#${nodeId}`, sk: 'HEARTBEAT' },
          ConditionExpression: '#at = :at',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': at },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Nodes whose heartbeat is fresher than `maxAgeMs`. */
  async liveNodes(maxAgeMs = NODE_STALE_AFTER_MS, now = Date.now()): Promise<NodeHeartbeat[]> {
    return (await this.allNodes()).filter((n) => now - Date.parse(n.at) <= maxAgeMs);
  }

  /** Every heartbeat still in the table, stale ones too (a dead node's stays until swept or expired). */
  async allNodes(): Promise<NodeHeartbeat[]> {
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': NODES_INDEX },
      }),
    );
    return (res.Items ?? []).map((i) => i as unknown as NodeHeartbeat);
  }

  /**
   * The live, non-draining node with room and the least load: the lowest share of calls it refuses for load
   * (one that refuses every call is no candidate), then the most free capacity; or undefined.
   */
  async pickNode(): Promise<NodeHeartbeat | undefined> {
    const shed = (n: NodeHeartbeat) => n.shedRatio ?? 0;
    const candidates = (await this.liveNodes()).filter((n) => !n.draining && n.activeCalls < n.maxCalls && shed(n) < 1);
    candidates.sort((a, b) => shed(a) - shed(b) || b.maxCalls - b.activeCalls - (a.maxCalls - a.activeCalls));
    return candidates[0];
  }

  async send(nodeId: string, command: NewNodeCommand): Promise<string> {
    const commandId = command.commandId ?? randomId('c');
    const createdAt = new Date().toISOString();
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `NODE#${nodeId}`,
          sk: `INBOX#${createdAt}#${commandId}`,
          ...command,
          commandId,
          createdAt,
          expiresAt: ttlIn(INBOX_TTL),
        },
      }),
    );
    return commandId;
  }

  /**
   * Reads the node's inbox (oldest first) and claims each command; only claimed commands are returned,
   * as stored: the node validates them against the NodeCommand contract.
   */
  async take(nodeId: string, limit = 25): Promise<unknown[]> {
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :i)',
        ExpressionAttributeValues: { ':p': `NODE#${nodeId}`, ':i': 'INBOX#' },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    const claimed: unknown[] = [];
    for (const item of res.Items ?? []) {
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: item.sk },
            ConditionExpression: 'attribute_exists(pk)',
          }),
        );
      } catch (err) {
        if (isConditionFailure(err)) continue;
        throw err;
      }
      const { pk: _pk, sk: _sk, expiresAt: _e, ...command } = item;
      claimed.push(command);
    }
    return claimed;
  }
}
