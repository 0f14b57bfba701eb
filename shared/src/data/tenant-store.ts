import { timingSafeEqual } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TenantLimitsInput } from '../contracts/admin.js';
import type { ApiKeyView } from '../contracts/rest.js';
import type { Principal, SigningSecret, TenantLimits, TenantRecord } from '../domain/tenant.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { randomId, randomSecret, sha256Hex } from '../util/ids.js';
import { isConditionFailure } from './condition-failure.js';
import { queryAll } from './query-all.js';
import { API_KEY_LAST_USED, keys } from './table-design.js';
import { TtlCache } from './ttl-cache.js';

export const TENANT_DEFAULTS = { callbackTimeoutMs: 5000, callbackRetries: 2, codecs: ['PCMU', 'PCMA'] };

const API_KEY_PREFIX = 'msk';
export const MAX_API_KEYS = 20;
/** How long the previous signing secret stays valid after a rotation. */
export const PREVIOUS_SECRET_TTL_MS = 24 * 3600 * 1000;
/** `lastUsedAt` of an API key is written at most this often (authentication is a read, not a write). */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** The API-key listing index of a tenant (the key item itself is found by key id). */
const tenantApiKeysIndex = (tenantId: string) => `TENANT#${tenantId}#APIKEYS`;
/** Every tenant on gsi1, by creation time (the admin API's tenant list). */
const TENANTS_INDEX = 'TENANTS';
const tenantsIndexSort = (createdAt: string, tenantId: string) => `${createdAt}#${tenantId}`;
/** DynamoDB numbers must be finite: "no limit" is the largest safe integer. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** A tenant item without its table keys. */
function record(item: Record<string, unknown>): TenantRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, ...rest } = item;
  return rest as unknown as TenantRecord;
}

/** Where an inbound call's Request-URI leads: a tenant that takes calls, or one the operator suspended. */
export interface InboundTarget {
  tenant: TenantRecord;
  suspended: boolean;
}

const PATCHABLE = new Set([
  'callbackUrl',
  'fallbackUrl',
  'callbackTimeoutMs',
  'callbackRetries',
  'codecs',
  'maxCallDurationSec',
  'outboundTrunk',
]);

/** Tenants, their API keys, signing secrets, domains and numbers. */
export class TenantStore {
  private readonly routes: TtlCache<string | undefined> | undefined;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sipDomain: string,
    /** Keep found inbound routes (domain or number → tenant) this long: the media node's hot path. */
    options: { routingCacheMs?: number } = {},
  ) {
    if (options.routingCacheMs) {
      this.routes = new TtlCache(
        (key) => {
          const [kind, value = ''] = key.split('\u0000');
          return kind === 'domain' ? this.domainOwner(value) : this.numberOwner(value);
        },
        options.routingCacheMs,
        10_000,
        (owner) => owner !== undefined,
      );
    }
  }

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
      secretsVersion: 1,
      apiKeyCount: 1,
      numberCount: 0,
    };
    // The domain item is written first and conditionally: it is the uniqueness guard.
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.domain(domain), tenantId },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.tenant(tenantId),
          ...tenant,
          gsi1pk: TENANTS_INDEX,
          gsi1sk: tenantsIndexSort(now, tenantId),
        },
      }),
    );
    const { apiKey } = await this.putApiKey(tenantId, 'default');
    return { tenant, apiKey };
  }

  /** Writes a key item; the key itself is returned once and only its SHA-256 is stored. */
  private async putApiKey(tenantId: string, name: string): Promise<{ apiKey: string; view: ApiKeyView }> {
    const keyId = randomId('', 12);
    const apiKey = `${API_KEY_PREFIX}_${keyId}_${randomSecret()}`;
    const createdAt = new Date().toISOString();
    const prefix = apiKey.slice(0, API_KEY_PREFIX.length + 1 + 12 + 4);
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.apiKey(keyId),
          tenantId,
          keyId,
          name,
          prefix,
          hash: sha256Hex(apiKey),
          createdAt,
          gsi1pk: tenantApiKeysIndex(tenantId),
          gsi1sk: `${createdAt}#${keyId}`,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return { apiKey, view: { keyId, name, createdAt, lastUsedAt: null, prefix } };
  }

  /** Adds `delta` to the tenant's active-key count if the result stays within 1..MAX_API_KEYS. */
  private async adjustKeyCount(tenantId: string, delta: 1 | -1): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.tenant(tenantId),
          UpdateExpression: 'ADD apiKeyCount :d',
          ConditionExpression:
            delta > 0
              ? 'attribute_exists(pk) AND (attribute_not_exists(apiKeyCount) OR apiKeyCount < :max)'
              : 'apiKeyCount > :one',
          ExpressionAttributeValues: delta > 0 ? { ':d': 1, ':max': MAX_API_KEYS } : { ':d': -1, ':one': 1 },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** A new named key for a tenant; 409 beyond MAX_API_KEYS active keys. */
  async createApiKey(tenantId: string, name: string): Promise<{ apiKey: string; view: ApiKeyView }> {
    if (!(await this.adjustKeyCount(tenantId, 1))) {
      throw new ConflictError(`a tenant has at most ${MAX_API_KEYS} active API keys`, { limit: MAX_API_KEYS });
    }
    try {
      return await this.putApiKey(tenantId, name);
    } catch (err) {
      await this.adjustKeyCount(tenantId, -1).catch((countErr) => {
        throw new AggregateError([err, countErr], 'API key not created, and its slot could not be given back');
      });
      throw err;
    }
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyView[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': tenantApiKeysIndex(tenantId) },
    });
    return items.map((item) => ({
      keyId: item.keyId as string,
      name: item.name as string,
      createdAt: item.createdAt as string,
      lastUsedAt: (item.lastUsedAt as string | undefined) ?? null,
      prefix: (item.prefix as string | undefined) ?? `${API_KEY_PREFIX}_${item.keyId as string}`,
    }));
  }

  /**
   * Revokes a key at once (the item is deleted; nothing caches it). Another tenant's key id answers
   * exactly like an unknown one; the last active key cannot be revoked.
   */
  async revokeApiKey(tenantId: string, keyId: string): Promise<void> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.apiKey(keyId), ConsistentRead: true }),
    );
    if (!res.Item || res.Item.tenantId !== tenantId) throw new NotFoundError('API key');
    if (!(await this.adjustKeyCount(tenantId, -1))) {
      throw new ConflictError('the last active API key cannot be revoked; create its replacement first');
    }
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.apiKey(keyId),
          ConditionExpression: 'tenantId = :t',
          ExpressionAttributeValues: { ':t': tenantId },
        }),
      );
    } catch (err) {
      // Revoked concurrently: give the slot back and answer as for an unknown key.
      await this.adjustKeyCount(tenantId, 1).catch((countErr) => {
        throw new AggregateError([err, countErr], 'API key not deleted, and its slot could not be given back');
      });
      if (isConditionFailure(err)) throw new NotFoundError('API key');
      throw err;
    }
  }

  /**
   * Who a presented API key belongs to, or undefined. The item is read on every request (no cache, so a
   * revocation takes effect at once); the hash comparison is constant-time; `lastUsedAt` is written at
   * most once per LAST_USED_RESOLUTION_MS.
   */
  async authenticate(apiKey: string, now = Date.now()): Promise<Principal | undefined> {
    const m = /^msk_([0-9a-z]{12})_[A-Za-z0-9_-]{20,}$/.exec(apiKey);
    if (!m) return undefined;
    const keyId = m[1]!;
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.apiKey(keyId), ConsistentRead: true }),
    );
    const item = res.Item as { tenantId: string; hash: string; revokedAt?: string; lastUsedAt?: string } | undefined;
    if (!item || item.revokedAt) return undefined;
    const given = Buffer.from(sha256Hex(apiKey), 'hex');
    const stored = Buffer.from(item.hash, 'hex');
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return undefined;
    if (!item.lastUsedAt || now - Date.parse(item.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      await this.touchApiKey(keyId, now);
    }
    return { tenantId: item.tenantId, keyId };
  }

  private async touchApiKey(keyId: string, now: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.apiKey(keyId),
          UpdateExpression: 'SET #used = :now',
          // Concurrent requests race here; only the first in a window writes, and a deleted key stays deleted.
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#used) OR #used < :stale)',
          ExpressionAttributeNames: { '#used': API_KEY_LAST_USED },
          ExpressionAttributeValues: {
            ':now': new Date(now).toISOString(),
            ':stale': new Date(now - LAST_USED_RESOLUTION_MS).toISOString(),
          },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  /**
   * A new signing secret; the current one stays valid for PREVIOUS_SECRET_TTL_MS and any older one is
   * retired. Guarded by `secretsVersion`, so concurrent rotations cannot lose a secret silently.
   */
  async rotateSigningSecret(
    tenantId: string,
    now = Date.now(),
  ): Promise<{ secret: SigningSecret; previousExpiresAt: string | null }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const tenant = await this.require(tenantId);
      const current = tenant.signingSecrets.find((s) => !s.expiresAt);
      const previousExpiresAt = current ? new Date(now + PREVIOUS_SECRET_TTL_MS).toISOString() : null;
      const secret: SigningSecret = { secret: `whsec_${randomSecret()}`, createdAt: new Date(now).toISOString() };
      const next = [secret, ...(current ? [{ ...current, expiresAt: previousExpiresAt! }] : [])];
      const version = tenant.secretsVersion;
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keys.tenant(tenantId),
            UpdateExpression: 'SET signingSecrets = :s, secretsVersion = :next',
            ConditionExpression:
              version === undefined
                ? 'attribute_exists(pk) AND attribute_not_exists(secretsVersion)'
                : 'secretsVersion = :v',
            ExpressionAttributeValues: {
              ':s': next,
              ':next': (version ?? 0) + 1,
              ...(version === undefined ? {} : { ':v': version }),
            },
          }),
        );
        await this.profileChanged(tenantId);
        return { secret, previousExpiresAt };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    }
    throw new ConflictError('the signing secret was rotated concurrently; try again');
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.tenant(tenantId), ConsistentRead: true }),
    );
    return res.Item ? record(res.Item) : undefined;
  }

  async require(tenantId: string): Promise<TenantRecord> {
    const t = await this.get(tenantId);
    if (!t) throw new NotFoundError('tenant');
    return t;
  }

  /** Tenant settings only (TenantPatch's fields); bookkeeping and secrets have their own methods. */
  async update(tenantId: string, patch: Record<string, unknown>): Promise<TenantRecord> {
    const entries = Object.entries(patch).filter(([k, v]) => v !== undefined && PATCHABLE.has(k));
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
      await this.profileChanged(tenantId);
      return record(res.Attributes ?? {});
    } catch (err) {
      if (isConditionFailure(err)) throw new NotFoundError('tenant');
      throw err;
    }
  }

  /**
   * Tells the media nodes' copies of the profile (media-node TenantProfiles) that they are behind: bumps the
   * profile's version on the tenant's call-slots item, which every admission of a call checks, so the next
   * call reads the profile again. After the profile's write, never before: a copy read in between carries
   * the old version and is read again at the next call. (No transactions: dynalite has none.)
   */
  private async profileChanged(tenantId: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.callSlots(tenantId),
        UpdateExpression: 'ADD profileVersion :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  /**
   * Every tenant, newest first, a page at a time (the admin API). The cursor carries only the last
   * index sort key. Tenants created before the index existed are not listed (docs/table-design.md).
   */
  async listTenants(opts: { limit: number; cursor?: string | undefined }): Promise<{
    tenants: TenantRecord[];
    nextCursor?: string;
  }> {
    let start: Record<string, string> | undefined;
    if (opts.cursor) {
      const gsi1sk = Buffer.from(opts.cursor, 'base64url').toString('utf8');
      const m = /^\d{4}-\d{2}-\d{2}T[0-9:.]+Z#(t[0-9a-z]{16})$/.exec(gsi1sk);
      if (!m) throw new ValidationError('cursor', 'not a cursor this API returned');
      start = { gsi1pk: TENANTS_INDEX, gsi1sk, ...keys.tenant(m[1]!) };
    }
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': TENANTS_INDEX },
        ScanIndexForward: false,
        Limit: opts.limit,
        ExclusiveStartKey: start,
      }),
    );
    const items = res.Items ?? [];
    const last = items.at(-1);
    return {
      tenants: items.map(record),
      ...(res.LastEvaluatedKey && last
        ? { nextCursor: Buffer.from(String(last.gsi1sk), 'utf8').toString('base64url') }
        : {}),
    };
  }

  /**
   * Suspends (`{reason?}`) or resumes (`null`) a tenant. Suspension is read on every authenticated
   * request and every inbound call, so it takes effect at once. Idempotent; the first suspension time is kept.
   */
  async setSuspended(tenantId: string, suspension: { reason?: string | undefined } | null): Promise<TenantRecord> {
    const values: Record<string, unknown> = { ':state': suspension ? 'suspended' : 'active' };
    let expression = 'SET #state = :state REMOVE suspendedAt, suspendedReason';
    if (suspension) {
      values[':now'] = new Date().toISOString();
      expression = 'SET #state = :state, suspendedAt = if_not_exists(suspendedAt, :now)';
      if (suspension.reason) values[':reason'] = suspension.reason;
      expression += suspension.reason ? ', suspendedReason = :reason' : ' REMOVE suspendedReason';
    }
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.tenant(tenantId),
          UpdateExpression: expression,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      await this.profileChanged(tenantId);
      return record(res.Attributes ?? {});
    } catch (err) {
      if (isConditionFailure(err)) throw new NotFoundError('tenant');
      throw err;
    }
  }

  /** The operator's suspension of a tenant, or undefined while it is active (a consistent read). */
  async suspension(tenantId: string): Promise<{ reason: string | undefined } | undefined> {
    const res = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.tenant(tenantId),
        ConsistentRead: true,
        ProjectionExpression: '#state, suspendedReason',
        ExpressionAttributeNames: { '#state': 'state' },
      }),
    );
    if (res.Item?.state !== 'suspended') return undefined;
    return { reason: res.Item.suspendedReason as string | undefined };
  }

  /**
   * Merges the operator's limits into the tenant's: an absent field is kept, null removes it (back to the
   * deployment default). Guarded by `limitsVersion`, so concurrent changes cannot lose one another.
   */
  async setLimits(tenantId: string, patch: TenantLimitsInput): Promise<TenantRecord> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const tenant = await this.require(tenantId);
      const merged: Record<string, unknown> = { ...(tenant.limits ?? {}) };
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete merged[k];
        else if (v !== undefined) merged[k] = v;
      }
      const version = tenant.limitsVersion;
      try {
        const res = await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keys.tenant(tenantId),
            UpdateExpression: 'SET limits = :l, limitsVersion = :next',
            ConditionExpression:
              version === undefined
                ? 'attribute_exists(pk) AND attribute_not_exists(limitsVersion)'
                : 'limitsVersion = :v',
            ExpressionAttributeValues: {
              ':l': merged as TenantLimits,
              ':next': (version ?? 0) + 1,
              ...(version === undefined ? {} : { ':v': version }),
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        await this.profileChanged(tenantId);
        return record(res.Attributes ?? {});
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    }
    throw new ConflictError("the tenant's limits were changed concurrently; try again");
  }

  /** Counts a tenant's numbers into `numberCount` once, for tenants created before the count existed. */
  private async initNumberCount(tenantId: string): Promise<void> {
    const held = await this.listNumbers(tenantId);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.tenant(tenantId),
          UpdateExpression: 'SET numberCount = :n',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(numberCount)',
          ExpressionAttributeValues: { ':n': held.length },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err; // counted concurrently: that count stands
    }
  }

  /** Adds `delta` to the tenant's number count; +1 only while the count is below `max`. */
  private async adjustNumberCount(tenantId: string, delta: 1 | -1, max = NO_LIMIT): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.tenant(tenantId),
          UpdateExpression: 'ADD numberCount :d',
          ConditionExpression: delta > 0 ? 'numberCount < :max' : 'numberCount > :zero',
          ExpressionAttributeValues: delta > 0 ? { ':d': 1, ':max': max } : { ':d': -1, ':zero': 0 },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Takes one of the tenant's number slots (below `max`), counting its numbers first if it never has. */
  private async takeNumberSlot(tenantId: string, max: number): Promise<boolean> {
    if (await this.adjustNumberCount(tenantId, 1, max)) return true;
    const tenant = await this.require(tenantId);
    if (tenant.numberCount !== undefined) return false;
    await this.initNumberCount(tenantId);
    return this.adjustNumberCount(tenantId, 1, max);
  }

  /**
   * Claims a number for a tenant; idempotent for its owner, 409 when another tenant holds it, 409
   * limit_exceeded when the tenant already holds `maxNumbers`. A slot of the tenant's count is taken
   * first (a conditional ADD) and given back when the number is not won, so concurrent claims can
   * neither exceed the cap nor claim one number twice.
   */
  async claimNumber(tenantId: string, number: string, maxNumbers = NO_LIMIT): Promise<{ created: boolean }> {
    if (!(await this.takeNumberSlot(tenantId, Math.min(maxNumbers, NO_LIMIT)))) {
      const owner = await this.numberOwner(number);
      if (owner === tenantId) return { created: false };
      if (owner) throw new ConflictError(`number ${number} is claimed by another tenant`);
      throw new AppError('limit_exceeded', `a tenant holds at most ${maxNumbers} numbers; release one first`, {
        details: { limit: maxNumbers },
      });
    }
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
      // Not won (or not written): the slot goes back before anything else is decided.
      await this.adjustNumberCount(tenantId, -1).catch((countErr) => {
        throw new AggregateError([err, countErr], 'number not claimed, and its slot could not be given back');
      });
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
    await this.adjustNumberCount(tenantId, -1);
  }

  async listNumbers(tenantId: string): Promise<{ number: string; claimedAt: string }[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': keys.tenantNumbersIndex(tenantId) },
    });
    return items.map((item) => ({ number: item.number as string, claimedAt: item.claimedAt as string }));
  }

  /**
   * The owner of a domain or number an INVITE names; with `routingCacheMs` (the media node), found owners
   * are kept that long: a released number may still route to its old tenant for that time, a newly claimed
   * one routes at once. The tenant item is not cached here (the node's copies: media-node TenantProfiles).
   */
  private routeOwner(kind: 'domain' | 'number', key: string): Promise<string | undefined> {
    if (!this.routes) return kind === 'domain' ? this.domainOwner(key) : this.numberOwner(key);
    return this.routes.get(`${kind}\u0000${key}`);
  }

  async numberOwner(number: string): Promise<string | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.number(number) }));
    return res.Item?.tenantId as string | undefined;
  }

  async domainOwner(domain: string): Promise<string | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.domain(domain) }));
    return res.Item?.tenantId as string | undefined;
  }

  /**
   * Whose call an inbound Request-URI is (docs/contract.md): the tenant whose domain the host is, else the
   * one that claimed the user part as a number; undefined when neither. The tenant item is not read.
   */
  async inboundTenantId(host: string, user: string): Promise<string | undefined> {
    const h = host.toLowerCase();
    let tenantId: string | undefined;
    if (h.endsWith(`.${this.sipDomain.toLowerCase()}`)) tenantId = await this.routeOwner('domain', h);
    if (!tenantId && user) tenantId = await this.routeOwner('number', user);
    return tenantId;
  }

  /**
   * Where an inbound call's Request-URI leads (inboundTenantId), with the tenant item read. Tells a
   * suspended tenant apart from an unknown target at no extra cost (the tenant item is read either way).
   */
  async inboundTarget(host: string, user: string): Promise<InboundTarget | undefined> {
    const tenantId = await this.inboundTenantId(host, user);
    const tenant = tenantId ? await this.get(tenantId) : undefined;
    if (!tenant) return undefined;
    return { tenant, suspended: tenant.state === 'suspended' };
  }

  /**
   * The tenant a call is for, or undefined, so the node answers 404 with no callback and no state. A
   * suspended tenant is undefined too (docs/security.md).
   */
  async resolveInbound(host: string, user: string): Promise<TenantRecord | undefined> {
    const target = await this.inboundTarget(host, user);
    return target && !target.suspended ? target.tenant : undefined;
  }
}
