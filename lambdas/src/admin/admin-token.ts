import { timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '@sipms/shared/util/ids';

/**
 * The operator's admin token, as the admin API checks it: only its SHA-256 is held, and a presented
 * token is hashed and compared in constant time. Where the hash comes from is a source: the local
 * deployment hands it over in ADMIN_TOKEN_SHA256 (made from ADMIN_TOKEN or DATA_DIR/run/admin-token);
 * on AWS it is read from the Secrets Manager secret the stack made (ADMIN_TOKEN_SECRET_ARN), which only
 * the admin Lambda may read.
 */
export interface AdminTokenSource {
  /** The SHA-256 (hex) of the valid token, or undefined when this deployment has none configured. */
  expectedHash(): Promise<string | undefined>;
}

/** A hash given in the configuration (the local deployment). */
export function fixedHash(hex: string | undefined): AdminTokenSource {
  return { expectedHash: async () => hex?.toLowerCase() };
}

/** What the source needs of a Secrets Manager client (the AWS SDK's `GetSecretValueCommand` sent through it). */
export type ReadSecret = (secretId: string) => Promise<string | undefined>;

/**
 * The token kept in a secret: read once, then again at most every `ttlMs`, so a rotated token applies within
 * that time without a request for every check (and a flood of bad tokens costs no secret reads).
 */
export class SecretTokenSource implements AdminTokenSource {
  private cached: { at: number; hash: Promise<string | undefined> } | undefined;

  constructor(
    private readonly read: ReadSecret,
    private readonly secretId: string,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  expectedHash(): Promise<string | undefined> {
    const at = this.now();
    if (this.cached && at - this.cached.at < this.ttlMs) return this.cached.hash;
    const hash = this.read(this.secretId).then(
      (value) => (value?.trim() ? sha256Hex(value.trim()) : undefined),
      (err: unknown) => {
        this.cached = undefined; // a failed read is not kept; the request fails (500) and the next one tries again
        throw err;
      },
    );
    this.cached = { at, hash };
    return hash;
  }
}

/** True only for the configured token; constant-time in the token's content. */
export async function verifyAdminToken(source: AdminTokenSource, presented: string): Promise<boolean> {
  const expected = await source.expectedHash();
  if (!expected || !/^[0-9a-f]{64}$/.test(expected)) return false;
  const given = Buffer.from(sha256Hex(presented), 'hex');
  return timingSafeEqual(given, Buffer.from(expected, 'hex'));
}
