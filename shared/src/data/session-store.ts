import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  ConnectionRecord,
  JournalEntry,
  ParticipantRecord,
  ReplyRecord,
  SessionRecord,
} from '../domain/session.js';
import { randomId } from '../util/ids.js';
import { isConditionFailure } from './condition-failure.js';
import { queryAll } from './query-all.js';
import { DAY_SECONDS, keys, ttlIn } from './table-design.js';

const SESSION_TTL = 30 * DAY_SECONDS;
const REPLY_TTL = DAY_SECONDS;

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, expiresAt: _e, ...rest } = item;
  return rest as T;
}

/** Sessions, their callback replies and their journal. */
export class SessionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(session: SessionRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.session(session.sessionId),
          ...session,
          gsi1pk: keys.tenantSessionsIndex(session.tenantId),
          gsi1sk: `${session.createdAt}#${session.sessionId}`,
          expiresAt: ttlIn(SESSION_TTL),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(sessionId: string): Promise<SessionRecord | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.session(sessionId) }));
    return strip<SessionRecord>(res.Item);
  }

  async end(sessionId: string, reason: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET #s = :ended, endedAt = :at, endReason = :r',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':ended': 'ended', ':at': new Date().toISOString(), ':r': reason },
      }),
    );
  }

  /** Adds a participant to a session (a call placed into an existing session). */
  async addParticipant(sessionId: string, participantId: string, participant: ParticipantRecord): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET participants.#p = :v',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#p': participantId },
        ExpressionAttributeValues: { ':v': participant },
      }),
    );
  }

  /** Records a connection (/connect) and its state, so the API can validate /splitconnection. */
  async setConnection(sessionId: string, connectionId: string, connection: ConnectionRecord): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET connections = if_not_exists(connections, :empty)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':empty': {} },
      }),
    );
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET connections.#c = :v',
        ExpressionAttributeNames: { '#c': connectionId },
        ExpressionAttributeValues: { ':v': connection },
      }),
    );
  }

  /** Records a participant's state, so the API can answer 409 for one that already left. */
  async setParticipantState(
    sessionId: string,
    participantId: string,
    state: NonNullable<ParticipantRecord['state']>,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET participants.#p.#s = :s',
        ConditionExpression: 'attribute_exists(participants.#p)',
        ExpressionAttributeNames: { '#p': participantId, '#s': 'state' },
        ExpressionAttributeValues: { ':s': state },
      }),
    );
  }

  /**
   * Stores the outcome of a callback once. A duplicate delivery of the same event finds the item and
   * gets `false`, so a command is never run twice.
   */
  async putReply(sessionId: string, record: ReplyRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.reply(sessionId, record.eventId), ...record, expiresAt: ttlIn(REPLY_TTL) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Claims the delivery of one event before its webhook is called: one conditional write that succeeds
   * when nobody holds the claim or the holder's lease has run out (`claimExpiresAt < now`: a holder that
   * died), so two concurrent deliveries never both POST. `false`: a live claim is held by another delivery.
   */
  async claimDelivery(
    sessionId: string,
    eventId: string,
    claim: { holder: string; leaseMs: number },
    now = Date.now(),
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.deliveryClaim(sessionId, eventId),
            holder: claim.holder,
            claimedAt: new Date(now).toISOString(),
            claimExpiresAt: now + claim.leaseMs,
            expiresAt: ttlIn(REPLY_TTL, now),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR claimExpiresAt < :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Gives a claim back at once (its holder failed before storing an outcome), so a redelivery need not
   * wait for the lease. Only the holder's own claim is removed; `false` when it was not (or no longer) held.
   */
  async releaseDelivery(sessionId: string, eventId: string, holder: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.deliveryClaim(sessionId, eventId),
          ConditionExpression: 'holder = :h',
          ExpressionAttributeValues: { ':h': holder },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async getReply(sessionId: string, eventId: string): Promise<ReplyRecord | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.reply(sessionId, eventId), ConsistentRead: true }),
    );
    return strip<ReplyRecord>(res.Item);
  }

  /**
   * Reads many reply items in one round trip (consistent reads): the media node's single poll loop asks
   * for every callback it is waiting on at once. At most 100 keys per call (DynamoDB's limit).
   */
  async getReplies(keys_: { sessionId: string; eventId: string }[]): Promise<ReplyRecord[]> {
    if (keys_.length === 0) return [];
    if (keys_.length > 100) throw new Error('getReplies takes at most 100 keys');
    const out: ReplyRecord[] = [];
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [this.tableName]: { Keys: keys_.map((k) => keys.reply(k.sessionId, k.eventId)), ConsistentRead: true },
    };
    for (let round = 0; request && round < 5; round++) {
      const res: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: request }));
      for (const item of res.Responses?.[this.tableName] ?? []) out.push(strip<ReplyRecord>(item)!);
      const unprocessed: { Keys?: Record<string, unknown>[] } | undefined = res.UnprocessedKeys?.[this.tableName];
      request = unprocessed?.Keys?.length
        ? { [this.tableName]: { Keys: unprocessed.Keys, ConsistentRead: true } }
        : undefined;
    }
    return out;
  }

  async journal(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Promise<void> {
    const at = entry.at ?? new Date().toISOString();
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.journal(sessionId, at, randomId('', 6)), ...entry, at, expiresAt: ttlIn(SESSION_TTL) },
      }),
    );
  }

  async readJournal(sessionId: string): Promise<JournalEntry[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :j)',
      ExpressionAttributeValues: { ':p': keys.session(sessionId).pk, ':j': 'JOURNAL#' },
    });
    return items.map((item) => strip<JournalEntry>(item)!);
  }
}
