import { createHash, randomBytes, randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford-style base32, lower case

/**
 * Random bytes drawn from the CSPRNG a few kilobytes at a time, each used once: a call takes about fifteen
 * ids, and one `randomBytes` per id cost the media node ~2 % of its CPU (as Node's own randomUUID, pooled).
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function take(n: number): number {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/** A random id of `length` base32 characters (5 bits each), optionally prefixed. */
export function randomId(prefix = '', length = 20): string {
  if (length > pool.length) throw new RangeError(`randomId: length ${length} > ${pool.length}`);
  const at = take(length);
  let out = prefix;
  for (let i = 0; i < length; i++) out += ALPHABET[pool[at + i]! & 31];
  return out;
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
