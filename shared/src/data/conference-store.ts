import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConferenceMemberRecord, ConferenceRecord, ConferenceRef } from '../domain/conference.js';
import { isConditionFailure } from './condition-failure.js';
import { DAY_SECONDS, ttlIn } from './table-design.js';

/**
 * A conference outlives no call by much: the host removes the item when the conference ends; this TTL only
 * cleans up after a host that died (every join refreshes it, and a longest call is a day).
 */
const CONFERENCE_TTL = 2 * DAY_SECONDS;

/** `CONF#<tenantId>#<name>` / `CONFERENCE`: tenant-scoped, one item per live conference name. */
export const conferenceKey = (tenantId: string, name: string) => ({
  pk: `CONF#${tenantId}#${name}`,
  sk: 'CONFERENCE',
});

function strip(item: Record<string, unknown> | undefined): ConferenceRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rest } = item;
  return rest as unknown as ConferenceRecord;
}

/**
 * Conferences in the table (docs/table-design.md). Single-item conditional writes only: the first join
 * creates the item (`attribute_not_exists`), so two first joins cannot create two conferences; every later
 * write is conditional on the instance's `conferenceId`, so the host of an ended conference cannot write
 * into the next conference of the same name. Each write returns false when its condition did not hold.
 */
export class ConferenceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Creates the conference; false when one of that name exists (read it to find its host). */
  async create(record: ConferenceRecord): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...conferenceKey(record.tenantId, record.name), ...record, expiresAt: ttlIn(CONFERENCE_TTL) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /**
   * Replaces an instance whose host is gone (or a stale item of this host) with a new one; false when the item
   * changed meanwhile (another join replaced it first).
   */
  async replace(record: ConferenceRecord, previousConferenceId: string): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...conferenceKey(record.tenantId, record.name), ...record, expiresAt: ttlIn(CONFERENCE_TTL) },
        ConditionExpression: 'conferenceId = :old',
        ExpressionAttributeValues: { ':old': previousConferenceId },
      }),
    );
  }

  /** Consistent read: the API answers from it, and a join decides by it. */
  async get(tenantId: string, name: string): Promise<ConferenceRecord | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: conferenceKey(tenantId, name), ConsistentRead: true }),
    );
    return strip(res.Item);
  }

  async putMember(at: ConferenceRef, participantId: string, member: ConferenceMemberRecord): Promise<boolean> {
    return this.update(at, 'SET participants.#p = :m, expiresAt = :ttl', {
      names: { '#p': participantId },
      values: { ':m': member, ':ttl': ttlIn(CONFERENCE_TTL) },
    });
  }

  /** Changes a member's flags; false also when the member is not (or no longer) in the conference. */
  async updateMember(
    at: ConferenceRef,
    participantId: string,
    change: { muted?: boolean | undefined; deaf?: boolean | undefined },
  ): Promise<boolean> {
    const sets: string[] = [];
    const values: Record<string, unknown> = {};
    if (change.muted !== undefined) {
      sets.push('participants.#p.muted = :muted');
      values[':muted'] = change.muted;
    }
    if (change.deaf !== undefined) {
      sets.push('participants.#p.deaf = :deaf');
      values[':deaf'] = change.deaf;
    }
    if (sets.length === 0) return true;
    return this.update(at, `SET ${sets.join(', ')}`, {
      names: { '#p': participantId },
      values,
      condition: 'attribute_exists(participants.#p)',
    });
  }

  async removeMember(at: ConferenceRef, participantId: string): Promise<boolean> {
    return this.update(at, 'REMOVE participants.#p', { names: { '#p': participantId } });
  }

  async setRecording(
    at: ConferenceRef,
    recording: { fileName: string; startedAt: string } | undefined,
  ): Promise<boolean> {
    return recording
      ? this.update(at, 'SET recording = :r', { values: { ':r': recording } })
      : this.update(at, 'REMOVE recording', {});
  }

  /** Removes the conference (it ended); false when the item is another instance's or gone. */
  async remove(at: ConferenceRef): Promise<boolean> {
    return this.conditional(
      new DeleteCommand({
        TableName: this.tableName,
        Key: conferenceKey(at.tenantId, at.name),
        ConditionExpression: 'conferenceId = :c',
        ExpressionAttributeValues: { ':c': at.conferenceId },
      }),
    );
  }

  private update(
    at: ConferenceRef,
    expression: string,
    o: { names?: Record<string, string>; values?: Record<string, unknown>; condition?: string },
  ): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: conferenceKey(at.tenantId, at.name),
        UpdateExpression: expression,
        ConditionExpression: `conferenceId = :cid${o.condition ? ` AND ${o.condition}` : ''}`,
        ...(o.names ? { ExpressionAttributeNames: o.names } : {}),
        ExpressionAttributeValues: { ...o.values, ':cid': at.conferenceId },
      }),
    );
  }

  private async conditional(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      // Each command type is sent the same way; the union does not narrow send's overloads.
      await this.doc.send(command as PutCommand);
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}
