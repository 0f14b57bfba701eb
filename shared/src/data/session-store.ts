import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type ConnectionRecord,
  type JournalEntry,
  NODE_FAILED,
  type NodeFailureRecord,
  type ParticipantRecord,
  type ReplyRecord,
  type SessionRecord,
} from '../domain/session.js';
import { randomId } from '../util/ids.js';
import { batchWrite } from './batch-write.js';
import { isConditionFailure } from './condition-failure.js';
import { JournalBatcher } from './journal-batcher.js';
import { queryAll } from './query-all.js';
import { DAY_SECONDS, keys, ttlIn } from './table-design.js';

const SESSION_TTL = 30 * DAY_SECONDS;
/** A reply as the node and the dispatcher read it: without the journal entry the outcome item carries. */
const REPLY_PROJECTION = {
  ProjectionExpression: '#e, #o, #r, #why, #at, #w',
  ExpressionAttributeNames: {
    '#e': 'eventId',
    '#o': 'outcome',
    '#r': 'reply',
    '#why': 'reason',
    '#at': 'at',
    '#w': 'webhookMs',
  },
};
const REPLY_TTL = DAY_SECONDS;

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  // nodeFailure is the dead-node sweeper's bookkeeping (node-failure.ts), not part of the session as shown.
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, expiresAt: _e, nodeFailure: _f, ...rest } = item;
  return rest as T;
}

/** Sessions, their callback replies and their journal. */
export class SessionStore {
  private readonly batcher: JournalBatcher | undefined;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    /**
     * Journal entries written together every this many ms (a media node: many calls at once); unset, each
     * entry is its own PutItem (a Lambda invocation writes one or two and then ends).
     */
    options: { journalBatchMs?: number } = {},
  ) {
    if (options.journalBatchMs)
      this.batcher = new JournalBatcher(doc, tableName, options.journalBatchMs, combineJournalItems);
  }

  /** Writes the journal entries still queued: one session's (it ends), or all (a stopping node). */
  async flushJournal(sessionId?: string): Promise<void> {
    await this.batcher?.flush(sessionId);
  }

  /**
   * Writes the session item and the node's marker for it (`NODE#<nodeId>` / `SESSION#<id>`): the marker is
   * stored by the time the session can be active, so a sweeper finds every active session of a node that
   * died (docs/table-design.md). An id this process has just drawn (`newId`: 100 random bits, never taken)
   * goes with its marker in one BatchWriteItem, with the journal entries queued by then where they are batched.
   * An id that came with a command (a REST placement, which the bus may deliver twice) is written after the
   * marker and conditionally, which a batch cannot be: a duplicate command finds the id taken.
   */
  async create(session: SessionRecord, options: { newId?: boolean } = {}): Promise<void> {
    const marker = {
      ...keys.nodeSession(session.nodeId, session.sessionId),
      sessionId: session.sessionId,
      tenantId: session.tenantId,
      createdAt: session.createdAt,
      expiresAt: ttlIn(SESSION_TTL),
    };
    const item = {
      ...keys.session(session.sessionId),
      ...session,
      gsi1pk: keys.tenantSessionsIndex(session.tenantId),
      gsi1sk: `${session.createdAt}#${session.sessionId}`,
      expiresAt: ttlIn(SESSION_TTL),
    };
    if (options.newId) {
      if (this.batcher) await this.batcher.writeNow([marker, item]);
      else
        await batchWrite(this.doc, this.tableName, [{ PutRequest: { Item: marker } }, { PutRequest: { Item: item } }]);
      return;
    }
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: marker }));
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  }

  async get(sessionId: string): Promise<SessionRecord | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.session(sessionId) }));
    return strip<SessionRecord>(res.Item);
  }

  /** The session item as stored (consistent read), sweeper bookkeeping included. */
  async getStored(sessionId: string): Promise<(SessionRecord & { nodeFailure?: NodeFailureRecord }) | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.session(sessionId), ConsistentRead: true }),
    );
    if (!res.Item) return undefined;
    const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, expiresAt: _e, ...rest } = res.Item;
    return rest as SessionRecord & { nodeFailure?: NodeFailureRecord };
  }

  /**
   * Ends an active session once. `false` when it had already ended — its node was presumed dead and a
   * sweeper completed it (`nodeFailed`): the caller must not report it again. Rejects for a missing session.
   * A request retried after a timeout whose first attempt had landed finds the session ended by itself: true.
   * `endedParticipants` (ids the session has) are marked ended in the same write: the last participant's
   * own state write would be one more request per call.
   */
  async end(sessionId: string, reason: string, endedParticipants: readonly string[] = []): Promise<boolean> {
    let nodeId: unknown;
    const names: Record<string, string> = { '#s': 'state' };
    const sets = ['#s = :ended', 'endedAt = :at', 'endReason = :r'];
    endedParticipants.forEach((participantId, i) => {
      names[`#p${i}`] = participantId;
      sets.push(`participants.#p${i}.#s = :ended`);
    });
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(sessionId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk) AND #s <> :ended',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':ended': 'ended', ':at': new Date().toISOString(), ':r': reason },
          ReturnValues: 'ALL_NEW',
        }),
      );
      nodeId = res.Attributes?.nodeId;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const stored = await this.getStored(sessionId);
      if (stored?.state !== 'ended') throw err;
      if (stored.nodeFailure || stored.endReason === NODE_FAILED) return false;
      // Ended, not by a sweeper: the SDK retried this very write after a timeout and the first attempt had
      // landed. The end is ours.
      nodeId = stored.nodeId;
    }
    if (typeof nodeId === 'string') await this.forgetOnNode(nodeId, sessionId);
    return true;
  }

  /** The ids of the sessions whose node marker is still there (consistent): active, or not yet cleaned up. */
  async markedOnNode(nodeId: string): Promise<string[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :s)',
      ExpressionAttributeValues: { ':p': keys.nodeSession(nodeId, '').pk, ':s': keys.nodeSession(nodeId, '').sk },
      ConsistentRead: true,
    });
    return items.map((item) => String(item.sessionId));
  }

  /** Removes the node's marker of a session that has ended. */
  async forgetOnNode(nodeId: string, sessionId: string): Promise<void> {
    const key = keys.nodeSession(nodeId, sessionId);
    // A media node deletes it with its next journal batch; a marker left by a crash in between is the
    // sweeper's to clean (the session has ended: node-failure.ts).
    if (this.batcher) return this.batcher.remove(key);
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key }));
  }

  /**
   * Completes an active session of `nodeId` with reason `nodeFailed`, keeping the `sessionCompleted` event to
   * publish: one conditional write, so of two sweepers (or a sweeper and the node itself) exactly one wins.
   * `false` when the session is not active on that node any more.
   */
  async claimNodeFailure(
    sessionId: string,
    nodeId: string,
    completion: { endedAt: string; envelope: unknown; now?: number },
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(sessionId),
          UpdateExpression: 'SET #s = :ended, endedAt = :at, endReason = :r, nodeFailure = :f',
          ConditionExpression: '#s = :active AND nodeId = :node',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: {
            ':ended': 'ended',
            ':active': 'active',
            ':node': nodeId,
            ':at': completion.endedAt,
            ':r': NODE_FAILED,
            ':f': {
              envelope: completion.envelope,
              claimedAt: new Date(completion.now ?? Date.now()).toISOString(),
            } satisfies NodeFailureRecord,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Takes over a `nodeFailed` completion whose sweeper died before publishing its event (the claim seen is
   * unchanged and nothing was published): the taker publishes the same event again. `false`: someone else did.
   */
  async retakeNodeFailure(sessionId: string, seenClaimedAt: string, now = Date.now()): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(sessionId),
          UpdateExpression: 'SET nodeFailure.claimedAt = :now',
          ConditionExpression: 'nodeFailure.claimedAt = :seen AND attribute_not_exists(nodeFailure.publishedAt)',
          ExpressionAttributeValues: { ':seen': seenClaimedAt, ':now': new Date(now).toISOString() },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** The `nodeFailed` completion's event is on the bus. */
  async nodeFailurePublished(sessionId: string, at = new Date().toISOString()): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: 'SET nodeFailure.publishedAt = :at',
        ConditionExpression: 'attribute_exists(nodeFailure)',
        ExpressionAttributeValues: { ':at': at },
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

  /**
   * Records a participant's state, so the API can answer 409 for one that already left; `active` also
   * records when the leg was answered (what a sweeper bills from if the node dies: node-failure.ts).
   */
  async setParticipantState(
    sessionId: string,
    participantId: string,
    state: NonNullable<ParticipantRecord['state']>,
  ): Promise<void> {
    const answered = state === 'active';
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.session(sessionId),
        UpdateExpression: answered
          ? 'SET participants.#p.#s = :s, participants.#p.answeredAt = if_not_exists(participants.#p.answeredAt, :at)'
          : 'SET participants.#p.#s = :s',
        ConditionExpression: 'attribute_exists(participants.#p)',
        ExpressionAttributeNames: { '#p': participantId, '#s': 'state' },
        ExpressionAttributeValues: { ':s': state, ...(answered ? { ':at': new Date().toISOString() } : {}) },
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
   * Stores a callback's outcome with its journal entry: one item, the reply item carrying the entry
   * (`journal`), kept as long as the journal; readJournal reads the entries from both kinds of item. Only the
   * holder of the event's delivery claim stores an outcome, and a holder that takes an expired claim over
   * reads the outcome first (dispatch-callback.ts), so no condition is needed; the node reads an event's
   * reply once, so even a holder that outlived its lease cannot make a command run twice.
   */
  async storeOutcome(
    sessionId: string,
    record: ReplyRecord,
    entry: Omit<JournalEntry, 'at'> & { at?: string },
  ): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: outcomeItem(sessionId, record, [entry]) }));
  }

  /**
   * Stores the outcomes of one delivery (a callback and the notifications it carried, envelope.ts): one item,
   * the outcome of the callback the node waits on (the last), carrying every callback's journal entry in
   * order (`journal` as a list) — the carried notifications' outcomes are read by nobody but the journal.
   * One PutItem, unconditional as storeOutcome; an item that would pass DynamoDB's 400 KB (large payloads and
   * replies) is stored as one item per outcome instead, in one BatchWriteItem.
   */
  async storeOutcomes(
    sessionId: string,
    outcomes: readonly { record: ReplyRecord; entry: Omit<JournalEntry, 'at'> & { at?: string } }[],
  ): Promise<void> {
    const last = outcomes.at(-1);
    if (!last) return;
    if (outcomes.length === 1) return this.storeOutcome(sessionId, last.record, last.entry);
    const together = outcomeItem(
      sessionId,
      last.record,
      outcomes.map((o) => o.entry),
    );
    if (Buffer.byteLength(JSON.stringify(together)) <= ITEM_MAX_BYTES) {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: together }));
      return;
    }
    // At most MAX_CARRIED + 1 outcomes: one batch (batchWrite refuses more than 25 items).
    await batchWrite(
      this.doc,
      this.tableName,
      outcomes.map(({ record, entry }) => ({ PutRequest: { Item: outcomeItem(sessionId, record, [entry]) } })),
    );
  }

  /**
   * Claims the delivery of one event before its webhook is called: one conditional write that succeeds
   * when nobody holds the claim or the holder's lease has run out (`claimExpiresAt < now`: a holder that
   * died), so two concurrent deliveries never both POST. `false`: a live claim is held by another delivery.
   * `takenOver`: the claim was an earlier holder's, which may have stored the outcome before it died; a
   * first claim needs no such check (only a claim holder stores an outcome), which saves a read per callback.
   */
  async claimDelivery(
    sessionId: string,
    eventId: string,
    claim: { holder: string; leaseMs: number },
    now = Date.now(),
  ): Promise<false | { takenOver: boolean }> {
    try {
      const res = await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.deliveryClaim(sessionId, eventId),
            holder: claim.holder,
            claimedAt: new Date(now).toISOString(),
            claimExpiresAt: now + claim.leaseMs,
            expiresAt: ttlIn(REPLY_TTL, now),
          },
          // `holder = :h`: the SDK retried this very request after a timeout although the first attempt had
          // landed; the claim is ours.
          ConditionExpression: 'attribute_not_exists(pk) OR claimExpiresAt < :now OR holder = :h',
          ExpressionAttributeValues: { ':now': now, ':h': claim.holder },
          ReturnValues: 'ALL_OLD',
        }),
      );
      // A retry of this request that met its own first attempt cannot tell whether that attempt took a claim
      // over: it counts as taken over, so the stored outcome is checked (one read).
      return { takenOver: res.Attributes !== undefined };
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
      new GetCommand({
        TableName: this.tableName,
        Key: keys.reply(sessionId, eventId),
        ConsistentRead: true,
        ...REPLY_PROJECTION,
      }),
    );
    return strip<ReplyRecord>(res.Item);
  }

  /**
   * Reads many reply items in one round trip (consistent reads): the media node's single poll loop asks
   * for every callback it is waiting on at once. At most 100 keys per call (DynamoDB's limit).
   */
  async getReplies(keys_: { sessionId: string; eventId: string }[], signal?: AbortSignal): Promise<ReplyRecord[]> {
    if (keys_.length === 0) return [];
    if (keys_.length > 100) throw new Error('getReplies takes at most 100 keys');
    const out: ReplyRecord[] = [];
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [this.tableName]: {
        Keys: keys_.map((k) => keys.reply(k.sessionId, k.eventId)),
        ConsistentRead: true,
        ...REPLY_PROJECTION,
      },
    };
    for (let round = 0; request && round < 5; round++) {
      const res: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: request }), {
        abortSignal: signal,
      });
      for (const item of res.Responses?.[this.tableName] ?? []) out.push(strip<ReplyRecord>(item)!);
      const unprocessed: { Keys?: Record<string, unknown>[] } | undefined = res.UnprocessedKeys?.[this.tableName];
      request = unprocessed?.Keys?.length
        ? { [this.tableName]: { Keys: unprocessed.Keys, ConsistentRead: true, ...REPLY_PROJECTION } }
        : undefined;
    }
    return out;
  }

  private journalItem(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Record<string, unknown> {
    const at = entry.at ?? new Date().toISOString();
    return { ...keys.journal(sessionId, at, randomId('', 6)), ...entry, at, expiresAt: ttlIn(SESSION_TTL) };
  }

  async journal(sessionId: string, entry: Omit<JournalEntry, 'at'> & { at?: string }): Promise<void> {
    const item = this.journalItem(sessionId, entry);
    if (this.batcher) return this.batcher.write(item, sessionId);
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /** The session's journal in time order: the journal items and the entries that callbacks' outcome items carry. */
  async readJournal(sessionId: string): Promise<JournalEntry[]> {
    const query = (prefix: string, projection?: string) =>
      queryAll(this.doc, {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :j)',
        ExpressionAttributeValues: { ':p': keys.session(sessionId).pk, ':j': prefix },
        ...(projection ? { ProjectionExpression: projection } : {}),
      });
    const [entries, outcomes] = await Promise.all([query('JOURNAL#'), query('REPLY#', 'journal')]);
    const merged = [
      ...entries.flatMap((item) =>
        Array.isArray(item.entries) ? (item.entries as JournalEntry[]) : [strip<JournalEntry>(item)!],
      ),
      // A delivery's outcome item carries its callbacks' entries, a list when it carried notifications.
      ...outcomes.flatMap((item) => (item.journal ? ([] as JournalEntry[]).concat(item.journal as JournalEntry) : [])),
    ];
    // Stable: entries with the same time keep the order they were read in, but callbacks go by seq (the
    // notifications one delivery carried may be stored within the same millisecond).
    const seqOf = (e: JournalEntry) => (e.kind === 'callback' && typeof e.seq === 'number' ? e.seq : undefined);
    return merged.sort((a, b) => {
      if (a.at !== b.at) return a.at < b.at ? -1 : 1;
      const sa = seqOf(a);
      const sb = seqOf(b);
      return sa !== undefined && sb !== undefined ? sa - sb : 0;
    });
  }
}

/** Below DynamoDB's 400 KB per item, with room for the keys and the attribute names counted in it. */
const ITEM_MAX_BYTES = 350_000;

/**
 * One session's journal items queued together, as fewer items: `entries` holds them in order, under the first
 * one's key (readJournal reads both forms). An entry too large to share an item stays alone.
 */
function combineJournalItems(items: Record<string, unknown>[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let entries: JournalEntry[] = [];
  let first: Record<string, unknown> | undefined;
  let bytes = 0;
  const close = () => {
    if (!first) return;
    const { pk, sk, expiresAt } = first;
    out.push(entries.length === 1 ? first : { pk, sk, expiresAt, at: entries[0]!.at, entries });
    entries = [];
    first = undefined;
    bytes = 0;
  };
  for (const item of items) {
    const entry = strip<JournalEntry>(item)!;
    const size = Buffer.byteLength(JSON.stringify(entry));
    if (first && bytes + size > ITEM_MAX_BYTES) close();
    first ??= item;
    entries.push(entry);
    bytes += size;
  }
  close();
  return out;
}

/**
 * A callback's reply item: the outcome and, in `journal`, its journal entry (a list: the entries of the
 * callbacks of one delivery, the outcome's last), each stamped now unless it has a time.
 */
function outcomeItem(
  sessionId: string,
  record: ReplyRecord,
  entries: readonly (Omit<JournalEntry, 'at'> & { at?: string })[],
): Record<string, unknown> {
  const now = new Date().toISOString();
  const stamped = entries.map((entry) => ({ ...entry, at: entry.at ?? now }));
  const journal = stamped.length === 1 ? stamped[0] : stamped;
  return { ...keys.reply(sessionId, record.eventId), ...record, journal, expiresAt: ttlIn(SESSION_TTL) };
}
