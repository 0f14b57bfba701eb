import { timingSafeEqual } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TenantView } from '../contracts/rest.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { randomId, randomSecret, sha256Hex } from '../util/ids.js';
import { keys } from './table-design.js';

export interface SigningSecret {
  secret: string;
  createdAt: string;
  /** Set on the previous secret after a rotation; it stays valid until then. */
  expiresAt?: string;
}

export interface TenantRecord extends TenantView {
  signingSecrets: SigningSecret[];
}

export const TENANT_DEFAULTS = { callbackTimeoutMs: 5000, callbackRetries: 2, codecs: ['PCMU', 'PCMA'] };

const API_KEY_PREFIX = 'msk';

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

export function tenantView(t: TenantRecord): TenantView {
  const { signingSecrets: _secrets, ...view } = t;
  return view;
}

/** Secrets a callback must be signed with now: the current one and any rotated one not yet expired. */
export function activeSecrets(t: TenantRecord, now = Date.now()): string[] {
  return t.signingSecrets.filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now).map((s) => s.secret);
}

/** Tenants, their API keys, domains and numbers. */
export class TenantStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sipDomain: string,
  ) {}

  async create(input: {
    name: string;
    callbackUrl?: string | undefined;
  }): Promise<{ tenant: TenantRecord; apiKey: string }> {
    const tenantId = randomId('t', 16);
    const slug =
      input.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '')
        .slice(0, 24) || 'tenant';
    const domain = `${slug}-${randomId('', 6)}.${this.sipDomain}`;
    const now = new Date().toISOString();
    const tenant: TenantRecord = {
      tenantId,
      name: input.name,
      domain,
      callbackUrl: input.callbackUrl ?? null,
      fallbackUrl: null,
      ...TENANT_DEFAULTS,
      createdAt: now,
      signingSecrets: [{ secret: `whsec_${randomSecret()}`, createdAt: now }],
    };
    // The domain item is written first and conditionally: it is the uniqueness guard.
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.domain(domain), tenantId },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...keys.tenant(tenantId), ...tenant } }));
    const apiKey = await this.createApiKey(tenantId, 'default');
    return { tenant, apiKey };
  }

  async createApiKey(tenantId: string, name: string): Promise<string> {
    const keyId = randomId('', 12);
    const apiKey = `${API_KEY_PREFIX}_${keyId}_${randomSecret()}`;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.apiKey(keyId),
          tenantId,
          keyId,
          name,
          hash: sha256Hex(apiKey),
          createdAt: new Date().toISOString(),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return apiKey;
  }

  /** The tenant id for a presented API key, or undefined. The hash comparison is constant-time. */
  async authenticate(apiKey: string): Promise<string | undefined> {
    const m = /^msk_([0-9a-z]{12})_[A-Za-z0-9_-]{20,}$/.exec(apiKey);
    if (!m) return undefined;
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.apiKey(m[1]!) }));
    const item = res.Item as { tenantId: string; hash: string; revokedAt?: string } | undefined;
    if (!item || item.revokedAt) return undefined;
    const given = Buffer.from(sha256Hex(apiKey), 'hex');
    const stored = Buffer.from(item.hash, 'hex');
    return given.length === stored.length && timingSafeEqual(given, stored) ? item.tenantId : undefined;
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.tenant(tenantId) }));
    if (!res.Item) return undefined;
    const { pk: _pk, sk: _sk, ...rest } = res.Item;
    return rest as TenantRecord;
  }

  async require(tenantId: string): Promise<TenantRecord> {
    const t = await this.get(tenantId);
    if (!t) throw new NotFoundError('tenant');
    return t;
  }

  async update(tenantId: string, patch: Record<string, unknown>): Promise<TenantRecord> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return this.require(tenantId);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = entries.map(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      return `#f${i} = :v${i}`;
    });
    names['#u'] = 'updatedAt';
    values[':u'] = new Date().toISOString();
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.tenant(tenantId),
          UpdateExpression: `SET ${[...sets, '#u = :u'].join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { pk: _pk, sk: _sk, ...rest } = res.Attributes ?? {};
      return rest as TenantRecord;
    } catch (err) {
      if (isConditionFailure(err)) throw new NotFoundError('tenant');
      throw err;
    }
  }

  /** Claims a number for a tenant; idempotent for its owner, 409 when another tenant holds it. */
  async claimNumber(tenantId: string, number: string): Promise<{ created: boolean }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.number(number),
            tenantId,
            number,
            gsi1pk: keys.tenantNumbersIndex(tenantId),
            gsi1sk: number,
            claimedAt: new Date().toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { created: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const owner = await this.numberOwner(number);
      if (owner === tenantId) return { created: false };
      throw new ConflictError(`number ${number} is claimed by another tenant`);
    }
  }

  async releaseNumber(tenantId: string, number: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.number(number),
          ConditionExpression: 'tenantId = :t',
          ExpressionAttributeValues: { ':t': tenantId },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new NotFoundError('number');
      throw err;
    }
  }

  async listNumbers(tenantId: string): Promise<{ number: string; claimedAt: string }[]> {
    const out: { number: string; claimedAt: string }[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': keys.tenantNumbersIndex(tenantId) },
          ExclusiveStartKey,
        }),
      );
      for (const item of res.Items ?? [])
        out.push({ number: item.number as string, claimedAt: item.claimedAt as string });
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return out;
  }

  async numberOwner(number: string): Promise<string | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.number(number) }));
    return res.Item?.tenantId as string | undefined;
  }

  async domainOwner(domain: string): Promise<string | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.domain(domain) }));
    return res.Item?.tenantId as string | undefined;
  }

  /** Inbound SIP routing (SPEC.md): the Request-URI host is a tenant domain, or its user part a claimed number. */
  async resolveInbound(host: string, user: string): Promise<TenantRecord | undefined> {
    const h = host.toLowerCase();
    let tenantId: string | undefined;
    if (h.endsWith(`.${this.sipDomain.toLowerCase()}`)) tenantId = await this.domainOwner(h);
    if (!tenantId && user) tenantId = await this.numberOwner(user);
    return tenantId ? this.get(tenantId) : undefined;
  }
}
