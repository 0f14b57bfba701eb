import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { USAGE_COUNTERS, type UsageCounterName, type UsageCounters, type UsageReport } from '../contracts/rest.js';
import { isConditionFailure } from './condition-failure.js';

export type { UsageCounters } from '../contracts/rest.js';

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(at: Date | number | string = new Date()): string {
  return new Date(at).toISOString().slice(0, 10);
}

const usageKey = (tenantId: string, day: string) => ({ pk: `TENANT#${tenantId}`, sk: `USAGE#${day}` });

function zero(): UsageCounters {
  return { callAttempts: 0, answeredCalls: 0, callSeconds: 0, ttsCharacters: 0, recordingSeconds: 0 };
}

/**
 * Usage per tenant per UTC day: the numbers an operator bills on. One item per tenant and day under the
 * tenant's partition; every `record` is one atomic ADD, so concurrent media nodes never lose a count.
 */
export class UsageStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Adds `counters` to the tenant's day of `at` (default now). Counters that are absent or 0 are left
   * alone; negative or non-finite values are refused (a bug in the caller, not a refund).
   *
   * With `write` (a writer, e.g. a node, and an id unique to this write) the add happens at most once: the
   * item keeps each writer's last write id, so a request the SDK retried after a timeout although its first
   * attempt had landed (the answer was lost) adds nothing again. A writer must not have two writes for the
   * same tenant in flight at once (the usage meter writes a tenant's batches one after the other).
   */
  async record(
    tenantId: string,
    counters: Partial<UsageCounters>,
    at: Date | number = new Date(),
    write?: { writer: string; id: string },
  ): Promise<void> {
    const entries = Object.entries(counters).filter(([k, v]) => USAGE_COUNTERS.includes(k as UsageCounterName) && v);
    for (const [k, v] of entries) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`usage counter ${k}: ${v}`);
    }
    if (entries.length === 0) return;
    const day = utcDay(at);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: usageKey(tenantId, day),
          UpdateExpression: `ADD ${entries.map((_, i) => `#c${i} :c${i}`).join(', ')} SET #day = :day${write ? ', #lw = :w' : ''}`,
          ...(write ? { ConditionExpression: 'attribute_not_exists(#lw) OR #lw <> :w' } : {}),
          ExpressionAttributeNames: {
            '#day': 'day',
            ...(write ? { '#lw': `lastWrite_${write.writer}` } : {}),
            ...Object.fromEntries(entries.map(([k], i) => [`#c${i}`, k])),
          },
          ExpressionAttributeValues: {
            ':day': day,
            ...(write ? { ':w': write.id } : {}),
            ...Object.fromEntries(entries.map(([, v], i) => [`:c${i}`, v])),
          },
        }),
      );
    } catch (err) {
      // This very write is already in the item: its first attempt landed.
      if (write && isConditionFailure(err)) return;
      throw err;
    }
  }

  /** Days with usage between `from` and `to` (inclusive, `YYYY-MM-DD`), oldest first, and their totals. */
  async query(tenantId: string, from: string, to: string): Promise<UsageReport> {
    const days: UsageReport['days'] = [];
    const totals = zero();
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :p AND sk BETWEEN :a AND :b',
          ExpressionAttributeValues: {
            ':p': usageKey(tenantId, from).pk,
            ':a': usageKey(tenantId, from).sk,
            ':b': usageKey(tenantId, to).sk,
          },
          ExclusiveStartKey,
        }),
      );
      for (const item of res.Items ?? []) {
        const day = { day: item.day as string, ...zero() };
        for (const c of USAGE_COUNTERS) {
          day[c] = Number(item[c] ?? 0);
          totals[c] += day[c];
        }
        days.push(day);
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    // Sums of decimals (call seconds) are kept to milliseconds, without float noise.
    for (const c of USAGE_COUNTERS) totals[c] = Math.round(totals[c] * 1000) / 1000;
    return { from, to, days, totals };
  }
}
