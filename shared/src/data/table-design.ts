/**
 * Single-table design (see docs/table-design.md). Every item key is tenant-scoped or reached through a
 * tenant-scoped item. Only single-item conditional writes, GetItem and Query are used (no transactions),
 * so dynalite serves locally and the hot path stays cheap on DynamoDB.
 */

export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi1: 'gsi1',
  gsi1pk: 'gsi1pk',
  gsi1sk: 'gsi1sk',
  ttl: 'expiresAt',
} as const;

/** The one attribute authentication writes on an API key item (its IAM grant names it: infra call-table.ts). */
export const API_KEY_LAST_USED = 'lastUsedAt';

export const keys = {
  tenant: (tenantId: string) => ({ pk: `TENANT#${tenantId}`, sk: 'PROFILE' }),
  apiKey: (keyId: string) => ({ pk: `APIKEY#${keyId}`, sk: 'APIKEY' }),
  /** A softphone's short-lived SIP credential (sip-credential-store.ts), found by the id its token carries. */
  sipCredential: (credentialId: string) => ({ pk: `SIPCRED#${credentialId}`, sk: 'SIPCRED' }),
  domain: (domain: string) => ({ pk: `DOMAIN#${domain.toLowerCase()}`, sk: 'DOMAIN' }),
  number: (number: string) => ({ pk: `NUMBER#${number}`, sk: 'NUMBER' }),
  tenantNumbersIndex: (tenantId: string) => `TENANT#${tenantId}#NUMBERS`,
  /**
   * A tenant's call slots and calls-per-second window (call-slots.ts), and its profile's version: every write
   * of the profile bumps it, every admission of a call checks it (TenantStore, media-node TenantProfiles).
   */
  callSlots: (tenantId: string) => ({ pk: `TENANT#${tenantId}#SLOTS`, sk: 'TOTAL' }),
  prompt: (tenantId: string, name: string) => ({ pk: `TENANT#${tenantId}`, sk: `PROMPT#${name}` }),
  session: (sessionId: string) => ({ pk: `SESSION#${sessionId}`, sk: 'META' }),
  tenantSessionsIndex: (tenantId: string) => `TENANT#${tenantId}#SESSIONS`,
  /**
   * A session the node holds while it is active (written before the session item, deleted after it ended):
   * how the dead-node sweeper finds a node's open sessions with one consistent Query, no scan, no index.
   */
  nodeSession: (nodeId: string, sessionId: string) => ({ pk: `NODE#${nodeId}`, sk: `SESSION#${sessionId}` }),
  reply: (sessionId: string, eventId: string) => ({ pk: `SESSION#${sessionId}`, sk: `REPLY#${eventId}` }),
  /** The dispatcher's claim on delivering one event (a lease), beside the reply item it leads to. */
  deliveryClaim: (sessionId: string, eventId: string) => ({ pk: `SESSION#${sessionId}`, sk: `CLAIM#${eventId}` }),
  journal: (sessionId: string, at: string, unique: string) => ({
    pk: `SESSION#${sessionId}`,
    sk: `JOURNAL#${at}#${unique}`,
  }),
} as const;

/** The table as CreateTable input: used by the local stack; the CDK construct declares the same keys. */
export function createTableInput(tableName: string) {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' as const },
      { AttributeName: 'sk', AttributeType: 'S' as const },
      { AttributeName: 'gsi1pk', AttributeType: 'S' as const },
      { AttributeName: 'gsi1sk', AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' as const },
      { AttributeName: 'sk', KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'gsi1',
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' as const },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
    ],
  };
}

export const DAY_SECONDS = 86_400;
export function ttlIn(seconds: number, now = Date.now()): number {
  return Math.floor(now / 1000) + seconds;
}
