import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomSecret, sha256Hex } from '../util/ids.js';
import { isConditionFailure } from './condition-failure.js';

/** An invitation is found by the hash of its code: the code itself is never stored. */
const invitationKey = (code: string) => ({ pk: `INVITE#${sha256Hex(code)}`, sk: 'INVITE' });

const CODE = /^inv_[A-Za-z0-9_-]{20,100}$/;

/**
 * Single-use signup codes with an expiry (admin API → signup while the mode is `invitation`). Redeeming
 * is one conditional write (not used, not expired), so a code admits exactly one tenant however many
 * signups race for it. The item's `expiresAt` is the table's TTL attribute, so used and expired codes go away.
 */
export class InvitationStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(input: { expiresInSeconds: number; note?: string | undefined }, now = Date.now()) {
    const code = `inv_${randomSecret(24)}`;
    const expiresAtSec = Math.floor(now / 1000) + input.expiresInSeconds;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...invitationKey(code),
          createdAt: new Date(now).toISOString(),
          expiresAt: expiresAtSec,
          ...(input.note ? { note: input.note } : {}),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return {
      code,
      expiresAt: new Date(expiresAtSec * 1000).toISOString(),
      ...(input.note ? { note: input.note } : {}),
    };
  }

  /** Uses up a code: true once for a valid, unused, unexpired code; false for anything else. */
  async redeem(code: string, now = Date.now()): Promise<boolean> {
    if (!CODE.test(code)) return false;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: invitationKey(code),
          UpdateExpression: 'SET usedAt = :now',
          // TTL deletion is lazy (and dynalite has none): the expiry is checked here, not left to TTL.
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAt > :nowSec',
          ExpressionAttributeValues: { ':now': new Date(now).toISOString(), ':nowSec': Math.floor(now / 1000) },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}
