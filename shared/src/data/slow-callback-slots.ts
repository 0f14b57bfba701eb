import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './condition-failure.js';

/** Holder ids are the dispatcher's claim holders (`d_…`): safe as map keys in an expression path. */
const HOLDER = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A tenant's slow callbacks in flight, across every dispatcher (each Lambda invocation is one): one item
 * per tenant maps each holder to the end of its lease. A delivery takes a slot only once it has waited
 * on the tenant's webhook for longer than the slow threshold, so fast webhooks cost nothing here; a
 * holder that dies leaves an entry that stops counting when its lease ends and is swept by the next
 * taker that finds the map full.
 *
 * Why a cap: every waiting delivery holds one Lambda execution (on AWS) or sockets and memory (locally)
 * for up to the tenant's whole retry budget. Without it one tenant's hanging webhook takes the account's
 * concurrency and the other tenants' callbacks are throttled — their callers hear silence.
 */
export class SlowCallbackSlots {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(tenantId: string) {
    return { pk: `TENANT#${tenantId}#SLOWCALLBACKS`, sk: 'HOLDERS' };
  }

  /**
   * Takes a slot for `holder` until `untilMs` if fewer than `limit` live holders have one. The common
   * case is one conditional update; a full map is read, its expired holders dropped and written back
   * under a version guard.
   */
  async acquire(
    tenantId: string,
    holder: string,
    untilMs: number,
    limit: number,
    nowMs = Date.now(),
  ): Promise<boolean> {
    if (!HOLDER.test(holder)) throw new Error(`slow-callback holder id ${JSON.stringify(holder)} is not a safe key`);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET holders.#h = :until, version = version + :one',
          ConditionExpression: 'size(holders) < :limit',
          ExpressionAttributeNames: { '#h': holder },
          ExpressionAttributeValues: { ':until': untilMs, ':one': 1, ':limit': limit },
        }),
      );
      return true;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
    // Full (possibly of expired holders), or no item yet.
    for (let attempt = 0; attempt < 4; attempt++) {
      const res = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(tenantId), ConsistentRead: true }),
      );
      const holders: Record<string, number> = {};
      for (const [h, until] of Object.entries((res.Item?.holders ?? {}) as Record<string, number>)) {
        if (Number(until) > nowMs) holders[h] = Number(until);
      }
      if (Object.keys(holders).length >= limit) return false;
      holders[holder] = untilMs;
      const version = res.Item ? Number(res.Item.version ?? 0) : undefined;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...this.key(tenantId), holders, version: (version ?? 0) + 1 },
            ConditionExpression: version === undefined ? 'attribute_not_exists(pk)' : 'version = :v',
            ...(version === undefined ? {} : { ExpressionAttributeValues: { ':v': version } }),
          }),
        );
        return true;
      } catch (err) {
        // Another taker or releaser changed the map between the read and the write: read again.
        if (!isConditionFailure(err)) throw err;
      }
    }
    // Heavy contention on one tenant's map means many slow callbacks at once: treat it as full.
    return false;
  }

  /** Gives `holder`'s slot back (nothing happens when it has none). */
  async release(tenantId: string, holder: string): Promise<void> {
    if (!HOLDER.test(holder)) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'REMOVE holders.#h SET version = version + :one',
          ConditionExpression: 'attribute_exists(holders.#h)',
          ExpressionAttributeNames: { '#h': holder },
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  /** Live holders now (strongly consistent): for tests and the operator. */
  async inFlight(tenantId: string, nowMs = Date.now()): Promise<number> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(tenantId), ConsistentRead: true }),
    );
    return Object.values((res.Item?.holders ?? {}) as Record<string, number>).filter((u) => Number(u) > nowMs).length;
  }
}
