import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomSecret, sha256Hex } from '../util/ids.js';
import { isConditionFailure } from './condition-failure.js';
import { keys } from './table-design.js';

/** RFC 4648 base32, lower case, no padding: 16 random bytes are 26 characters. */
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** `sc_<26 base32>.<43 base64url>`: checked before any table read, so garbage costs nothing. */
const TOKEN = /^(sc_[a-z2-7]{26})\.([A-Za-z0-9_-]{43})$/;

/** A collision of 128-bit random ids is not expected ever; a few tries keep even that from failing a request. */
const ISSUE_ATTEMPTS = 3;

export interface IssuedSipCredential {
  credentialId: string;
  /** `<credentialId>.<secret>`: shown to the caller once; only the secret's hash is stored. */
  token: string;
  expiresAtMs: number;
}

export interface VerifiedSipCredential {
  credentialId: string;
  tenantId: string;
  expiresAtMs: number;
}

interface SipCredentialItem {
  tenantId: string;
  secretHash: string;
  /** Epoch seconds: the table's TTL attribute. */
  expiresAt: number;
}

/**
 * Short-lived credentials that admit a browser to the SIP WebSocket transport for its tenant's numbers
 * (docs/api.md). One item per credential, found by id; the secret is kept only as its SHA-256, so a
 * table read leaks nothing that admits anyone. Expiry is checked on every verify: TTL deletion is lazy
 * (and dynalite has none).
 */
export class SipCredentialStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async issue(tenantId: string, ttlSec: number, now = Date.now()): Promise<IssuedSipCredential> {
    if (!Number.isInteger(ttlSec) || ttlSec < 1) throw new RangeError(`ttlSec must be a positive integer: ${ttlSec}`);
    // Whole seconds, as the TTL attribute holds them, so issue and verify agree on the instant.
    const expiresAtSec = Math.floor(now / 1000) + ttlSec;
    for (let attempt = 1; ; attempt++) {
      const credentialId = `sc_${base32(randomBytes(16))}`;
      const secret = randomSecret(32);
      const item: SipCredentialItem = { tenantId, secretHash: sha256Hex(secret), expiresAt: expiresAtSec };
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...keys.sipCredential(credentialId), ...item, createdAt: new Date(now).toISOString() },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (err) {
        if (isConditionFailure(err) && attempt < ISSUE_ATTEMPTS) continue;
        throw err;
      }
      return { credentialId, token: `${credentialId}.${secret}`, expiresAtMs: expiresAtSec * 1000 };
    }
  }

  /** The credential a token stands for while it is valid; undefined for anything else (never throws on input). */
  async verify(token: string, now = Date.now()): Promise<VerifiedSipCredential | undefined> {
    const m = typeof token === 'string' ? TOKEN.exec(token) : null;
    if (!m) return undefined;
    const credentialId = m[1]!;
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.sipCredential(credentialId), ConsistentRead: true }),
    );
    const item = res.Item as Partial<SipCredentialItem> | undefined;
    if (typeof item?.secretHash !== 'string' || typeof item.tenantId !== 'string') return undefined;
    if (typeof item.expiresAt !== 'number') return undefined;
    const given = Buffer.from(sha256Hex(m[2]!), 'hex');
    const stored = Buffer.from(item.secretHash, 'hex');
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return undefined;
    const expiresAtMs = item.expiresAt * 1000;
    if (now >= expiresAtMs) return undefined;
    return { credentialId, tenantId: item.tenantId, expiresAtMs };
  }
}
