import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { RateLimitedError } from '../errors.js';
import { isConditionFailure } from './condition-failure.js';

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  windowSeconds: number;
}

/**
 * The part of a source address that identifies one client: the address for IPv4, the /64 prefix for
 * IPv6 (one subscriber usually holds a whole /64, so per-address limits would be trivial to evade).
 */
export function clientKey(sourceIp: string): string {
  const ip = sourceIp.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!ip.includes(':')) return ip || 'unknown';
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Fixed-window counters in the table: one item per scope, subject and window, incremented with a
 * conditional ADD (atomic on DynamoDB and dynalite alike, no transactions), expired by TTL. The window
 * is part of the key, so correctness never depends on TTL deleting the item in time.
 */
export class FixedWindowRateLimiter {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Counts one request; throws RateLimitedError (429, with the limit) once the window's limit is used up. */
  async hit(scope: string, subject: string, rule: RateLimit, now = Date.now()): Promise<{ remaining: number }> {
    const windowMs = rule.windowSeconds * 1000;
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const windowEnd = windowStart + windowMs;
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `RATE#${scope}#${subject}`, sk: `WINDOW#${windowStart}` },
          UpdateExpression: 'ADD hits :one SET expiresAt = if_not_exists(expiresAt, :exp)',
          ConditionExpression: 'attribute_not_exists(hits) OR hits < :limit',
          ExpressionAttributeValues: { ':one': 1, ':limit': rule.limit, ':exp': Math.ceil(windowEnd / 1000) + 60 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return { remaining: Math.max(0, rule.limit - Number(res.Attributes?.hits ?? rule.limit)) };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      throw new RateLimitedError(
        scope,
        rule.limit,
        rule.windowSeconds,
        Math.max(1, Math.ceil((windowEnd - now) / 1000)),
      );
    }
  }
}
