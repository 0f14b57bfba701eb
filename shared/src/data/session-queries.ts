import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SessionSummary } from '../contracts/rest.js';
import { ValidationError } from '../errors.js';

/** The tenant's session index on gsi1, as the media node writes it (session-store.ts). */
const sessionsIndex = (tenantId: string) => `TENANT#${tenantId}#SESSIONS`;

/** A query spends at most this many index pages on one response (a number filter can skip many items). */
const MAX_PAGES = 5;

export interface SessionListOptions {
  /** ISO time, inclusive. */
  from?: string | undefined;
  /** ISO time, exclusive. */
  to?: string | undefined;
  /** Only sessions with a participant from or to this number (the user part of its URI). */
  number?: string | undefined;
  /** Only sessions with a participant whose SIP Call-ID is this (a caller finding the session of its call). */
  sipCallId?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** The user part of a SIP/tel URI: `sip:+4930123@host;x=y` → `+4930123`. */
export function uriUser(uri: string): string {
  const m = /^(?:sips?:|tel:)?([^@;?>]*)/i.exec(uri.replace(/^.*</, ''));
  return decodeURIComponent(m?.[1] ?? '');
}

function matchesNumber(item: Record<string, unknown>, number: string): boolean {
  const participants = (item.participants ?? {}) as Record<string, { from?: string; to?: string }>;
  return Object.values(participants).some((p) => uriUser(p.from ?? '') === number || uriUser(p.to ?? '') === number);
}

function matchesSipCallId(item: Record<string, unknown>, sipCallId: string): boolean {
  const participants = (item.participants ?? {}) as Record<string, { sipCallId?: string }>;
  return Object.values(participants).some((p) => p.sipCallId === sipCallId);
}

// The cursor names the last item returned (its gsi1sk); the partition comes from the caller's tenant, so
// a cursor can never lead into another tenant's sessions.
function encodeCursor(gsi1sk: string): string {
  return Buffer.from(gsi1sk, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, tenantId: string): Record<string, string> {
  const gsi1sk = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{4}-\d{2}-\d{2}T[0-9:.]+Z)#([A-Za-z0-9_-]{1,64})$/.exec(gsi1sk);
  if (!m) throw new ValidationError('cursor', 'not a cursor this API returned');
  return { gsi1pk: sessionsIndex(tenantId), gsi1sk, pk: `SESSION#${m[2]}`, sk: 'META' };
}

function summary(item: Record<string, unknown>): SessionSummary {
  const {
    pk: _pk,
    sk: _sk,
    gsi1pk: _g1,
    gsi1sk: _g2,
    expiresAt: _e,
    tenantId: _t,
    nodeId: _n,
    nodeFailure: _f,
    ...rest
  } = item;
  return rest as SessionSummary;
}

/** Read-only queries over the session items the media node writes: the tenant's session list. */
export class SessionQueries {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * The tenant's sessions, newest first. The number and Call-ID filters are applied to each index page
   * (participants are a map, which a key condition cannot reach), so a page may hold fewer than `limit`
   * sessions while `nextCursor` is set. The query itself stays in the tenant's partition of the index.
   */
  async list(tenantId: string, opts: SessionListOptions): Promise<{ sessions: SessionSummary[]; nextCursor?: string }> {
    const from = opts.from ? new Date(opts.from).toISOString() : '0000';
    // `to` is exclusive: every sort key of an instant `to` is `<to>#<id>`, which sorts after `<to>`.
    const to = opts.to ? new Date(opts.to).toISOString() : '9999';
    let ExclusiveStartKey: Record<string, unknown> | undefined = opts.cursor
      ? decodeCursor(opts.cursor, tenantId)
      : undefined;
    const sessions: SessionSummary[] = [];
    let lastSortKey: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p AND gsi1sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':p': sessionsIndex(tenantId), ':from': from, ':to': to },
          ScanIndexForward: false,
          Limit: opts.limit + 1,
          ExclusiveStartKey,
        }),
      );
      for (const item of res.Items ?? []) {
        if (sessions.length === opts.limit) return { sessions, nextCursor: encodeCursor(lastSortKey!) };
        lastSortKey = item.gsi1sk as string;
        if (opts.number && !matchesNumber(item, opts.number)) continue;
        if (opts.sipCallId && !matchesSipCallId(item, opts.sipCallId)) continue;
        sessions.push(summary(item));
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
      if (!ExclusiveStartKey) return { sessions };
    }
    return { sessions, nextCursor: encodeCursor(lastSortKey ?? String(ExclusiveStartKey?.gsi1sk)) };
  }
}
