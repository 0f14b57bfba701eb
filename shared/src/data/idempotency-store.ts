import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../errors.js';
import type { Logger } from '../util/logger.js';
import { isConditionFailure } from './condition-failure.js';
import { DAY_SECONDS, ttlIn } from './table-design.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * `Idempotency-Key` for POSTs: the first request with a key claims it; its response is stored for 24 h and
 * returned to every repeat with the same key and body, without doing anything again. A repeat while the
 * first is still running answers 409; a repeat with a different body answers 409 too.
 */
export class IdempotencyStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly logger: Logger,
  ) {}

  private key(tenantId: string, route: string, idempotencyKey: string) {
    return { pk: `IDEMPOTENCY#${tenantId}#${route}#${idempotencyKey}`, sk: 'IDEMPOTENCY' };
  }

  async run(
    tenantId: string,
    route: string,
    idempotencyKey: string,
    fingerprint: string,
    work: () => Promise<StoredResponse>,
  ): Promise<StoredResponse> {
    const key = this.key(tenantId, route, idempotencyKey);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, state: 'running', fingerprint, expiresAt: ttlIn(DAY_SECONDS) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      const item = res.Item as { state: string; fingerprint: string; response?: StoredResponse } | undefined;
      if (item?.fingerprint !== fingerprint)
        throw new ConflictError('Idempotency-Key was already used with a different request');
      if (item.state !== 'done' || !item.response)
        throw new ConflictError('a request with this Idempotency-Key is still in progress');
      return item.response;
    }
    let response: StoredResponse;
    try {
      response = await work();
    } catch (err) {
      // A failed first attempt must not pin the key: the client may retry with it.
      // If the key cannot be released, repeats answer 409 until it expires: worth a warning, but the caller
      // gets the error of the work itself.
      await this.doc
        .send(new DeleteCommand({ TableName: this.tableName, Key: key }))
        .catch((cleanupErr) =>
          this.logger.warn({ err: cleanupErr, cause: err, route }, 'Idempotency-Key not released after a failure'),
        );
      throw err;
    }
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET #s = :d, #r = :r',
        ExpressionAttributeNames: { '#s': 'state', '#r': 'response' },
        ExpressionAttributeValues: { ':d': 'done', ':r': response },
      }),
    );
    return response;
  }
}
