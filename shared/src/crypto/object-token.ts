import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The local deployment's stand-in for an S3 presigned URL: `<API>/_objects/<token>`, where the token says
 * what one request may do (method, tenant, name, exact size and type of an upload, expiry) and an HMAC-SHA256
 * under the control plane's object-URL key makes it unforgeable. Only the signature is checked here; the
 * object endpoint checks the claims against the request (local-object-server.ts).
 */
export const ObjectTokenClaims = z.strictObject({
  /** The only method the URL allows. */
  m: z.enum(['PUT', 'GET']),
  /** Tenant id and stored name: re-validated by the endpoint, the signature alone never opens a path. */
  t: z.string(),
  n: z.string(),
  /** PUT only: the exact Content-Length and Content-Type. */
  s: z.number().int().nonnegative().optional(),
  c: z.string().optional(),
  /** Expiry, epoch milliseconds. */
  e: z.number().int(),
});
export type ObjectTokenClaims = z.infer<typeof ObjectTokenClaims>;

/** Domain separation: a MAC over these bytes means nothing anywhere else the key might be misused. */
const CONTEXT = 'sipms-object-url:v1:';
/** HMAC-SHA256 keys shorter than this are refused: the key is the whole of the URLs' security. */
export const OBJECT_URL_KEY_MIN_BYTES = 32;

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(CONTEXT).update(payload).digest();
}

function checkKey(key: Buffer): void {
  if (key.length < OBJECT_URL_KEY_MIN_BYTES) {
    throw new Error(`the object URL key must be at least ${OBJECT_URL_KEY_MIN_BYTES} bytes`);
  }
}

export function signObjectToken(key: Buffer, claims: ObjectTokenClaims): string {
  checkKey(key);
  const payload = Buffer.from(JSON.stringify(ObjectTokenClaims.parse(claims)), 'utf8').toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/** The token's claims when its signature is valid (expiry is not checked here); otherwise undefined. */
export function verifyObjectToken(key: Buffer, token: string): ObjectTokenClaims | undefined {
  checkKey(key);
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return undefined;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, payload);
  // Lengths first (timingSafeEqual throws on a mismatch); the length of a MAC is no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  // Our MAC is over it, so it is our own JSON: a parse failure would be a bug, and throws.
  const parsed = ObjectTokenClaims.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  return parsed.success ? parsed.data : undefined;
}
