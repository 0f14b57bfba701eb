import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './condition-failure.js';
import { keys } from './table-design.js';

/** Attribute names of the per-node counts: `n_<nodeId>` (node ids are [A-Za-z0-9._-]). */
const NODE_PREFIX = 'n_';
const nodeAttr = (nodeId: string) => `${NODE_PREFIX}${nodeId}`;

/**
 * Why a call was not admitted: which of the tenant's limits it would pass, or (`profileChanged`) the tenant's
 * profile changed since the copy the limits came from was read.
 */
export type AdmissionRefusal = 'maxConcurrentCalls' | 'callsPerSecond' | 'profileChanged';

/** Rounds of a write that finds the item changed by another node (or another window begun) in between. */
const MAX_ROUNDS = 5;
/** The windows last seen per tenant are a hint only: forgotten wholesale past this many tenants. */
const MAX_HINTS = 10_000;

/**
 * A tenant's concurrent-call slots and its calls-per-second window, counted atomically across all media
 * nodes and the API: one item per tenant holds the total (`active`), each node's share (`n_<nodeId>`) and
 * the current one-second window (`cpsWindow`, its start in epoch ms, and `cpsHits`, the calls counted in
 * it). Admitting a call is one conditional update (`active < limit` and a window not full), so a burst of
 * INVITEs on any number of nodes can never pass either limit; giving the slot back decrements both
 * counts. A node that dies without giving its slots back has its share taken away by `reclaim` (the
 * sweeper does that once the node's heartbeat is stale).
 */
export class CallSlots {
  /** The window each tenant's last admission counted in: which of the two writes to try first. */
  private readonly windows = new Map<string, number>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(tenantId: string) {
    return keys.callSlots(tenantId);
  }

  /**
   * The version of the tenant's profile (strongly consistent; 0 before its first change): read before the
   * profile itself, a copy of the profile is at least this new (TenantStore bumps it after each write).
   */
  async profileVersion(tenantId: string): Promise<number> {
    const res = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: this.key(tenantId),
        ConsistentRead: true,
        ProjectionExpression: 'profileVersion',
      }),
    );
    return Number(res.Item?.profileVersion ?? 0);
  }

  /**
   * Admits one new call: counts it in the tenant's calls-per-second window and takes a slot for `nodeId`,
   * in one write, or says which limit refuses it (a refused call counts in neither). One request when the
   * window is the one this node last counted in, or a new one; a read and a second write when another node
   * began the window since (or one whose clock runs ahead: its window is counted in, never a past one).
   * With `profileVersion` (that of the profile the limits come from) the same write checks that the
   * profile has not changed since: `profileChanged` when it has, and nothing is counted.
   */
  admit(
    tenantId: string,
    nodeId: string,
    limits: { maxConcurrentCalls: number; callsPerSecond: number },
    options: { now?: number; profileVersion?: number | undefined } = {},
  ): Promise<AdmissionRefusal | undefined> {
    return this.count(tenantId, limits.callsPerSecond, options.now ?? Date.now(), {
      nodeId,
      limit: limits.maxConcurrentCalls,
      profileVersion: options.profileVersion,
    });
  }

  /**
   * Counts one call attempt in the tenant's calls-per-second window without taking a slot (the API counts a
   * placement; the node that places it takes the slot). `callsPerSecond` when the window is full.
   */
  countAttempt(tenantId: string, callsPerSecond: number, now = Date.now()): Promise<AdmissionRefusal | undefined> {
    return this.count(tenantId, callsPerSecond, now);
  }

  private async count(
    tenantId: string,
    callsPerSecond: number,
    now: number,
    slot?: { nodeId: string; limit: number; profileVersion?: number | undefined },
  ): Promise<AdmissionRefusal | undefined> {
    let window = Math.floor(now / 1000) * 1000;
    let sameWindow = this.windows.get(tenantId) === window;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':one': 1 };
    const sets: string[] = [];
    const conditions: string[] = [];
    if (slot) {
      names['#n'] = nodeAttr(slot.nodeId);
      values[':zero'] = 0;
      values[':limit'] = slot.limit;
      sets.push('active = if_not_exists(active, :zero) + :one', '#n = if_not_exists(#n, :zero) + :one');
      conditions.push('(attribute_not_exists(active) OR active < :limit)');
      if (slot.profileVersion !== undefined) {
        // Version 0 is a profile never changed: the attribute is added by the first change.
        if (slot.profileVersion === 0) conditions.push('attribute_not_exists(profileVersion)');
        else {
          values[':pv'] = slot.profileVersion;
          conditions.push('profileVersion = :pv');
        }
      }
    }
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Admissions that start while this one begins a window count in it (a burst at a second's turn would
      // otherwise all try to begin it, and all but one read and write again).
      if (!sameWindow) this.remember(tenantId, window);
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.key(tenantId),
            UpdateExpression: `SET ${[...sets, ...(sameWindow ? ['cpsHits = cpsHits + :one'] : ['cpsWindow = :w', 'cpsHits = :one'])].join(', ')}`,
            ConditionExpression: [
              ...conditions,
              sameWindow ? 'cpsWindow = :w AND cpsHits < :cps' : '(attribute_not_exists(cpsWindow) OR cpsWindow < :w)',
            ].join(' AND '),
            ...(slot ? { ExpressionAttributeNames: names } : {}),
            // DynamoDB refuses a value no expression uses: the limit is only in the same window's condition.
            ExpressionAttributeValues: { ...values, ':w': window, ...(sameWindow ? { ':cps': callsPerSecond } : {}) },
          }),
        );
        return undefined;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      // Refused: read why (consistently). A full limit refuses the call; a window begun elsewhere is counted in.
      const res = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(tenantId), ConsistentRead: true }),
      );
      const item = res.Item ?? {};
      // A changed profile first: the limits checked here may be the old ones.
      if (slot?.profileVersion !== undefined && Number(item.profileVersion ?? 0) !== slot.profileVersion) {
        return 'profileChanged';
      }
      if (slot && Number(item.active ?? 0) >= slot.limit) return 'maxConcurrentCalls';
      const stored = Number(item.cpsWindow ?? 0);
      if (stored >= window) {
        if (Number(item.cpsHits ?? 0) >= callsPerSecond) return 'callsPerSecond';
        window = stored;
        sameWindow = true;
        this.remember(tenantId, window);
      } else sameWindow = false;
    }
    throw new Error(`the call slots of tenant ${tenantId} kept changing; try again`);
  }

  private remember(tenantId: string, window: number): void {
    if (this.windows.size >= MAX_HINTS && !this.windows.has(tenantId)) this.windows.clear();
    this.windows.set(tenantId, window);
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
   * Gives `count` slots of `nodeId` back in one write. False, and nothing decremented, when the node holds
   * fewer (its share was reclaimed while it was unreachable): nothing is decremented twice.
   */
  async release(tenantId: string, nodeId: string, count = 1): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET active = active - :n, #n = #n - :n',
          ConditionExpression: '#n >= :n AND active >= :n',
          ExpressionAttributeNames: { '#n': nodeAttr(nodeId) },
          ExpressionAttributeValues: { ':n': count },
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
