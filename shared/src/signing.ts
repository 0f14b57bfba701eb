import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Callback signatures: `X-Mediaserver-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>`,
 * one `v1=` per active secret, so a tenant that rotates keeps verifying with either secret.
 * Signing the raw body (not the URL) survives proxies, tunnels and URL rewriting.
 */

export const SIGNATURE_HEADER = 'x-mediaserver-signature';

export function computeSignature(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function signatureHeader(secrets: readonly string[], rawBody: string | Buffer, timestamp: number): string {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${computeSignature(s, timestamp, rawBody)}`)].join(',');
}

export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: string };

/**
 * Verifies a signature header against the raw body. Tenants call this in their webhook: pass every secret
 * they consider valid (during rotation, the old and the new one) and a tolerance against replays.
 */
export function verifySignature(
  header: string | undefined,
  rawBody: string | Buffer,
  secrets: string | readonly string[],
  options: { toleranceSec?: number; now?: number } = {},
): VerifyResult {
  if (!header) return { ok: false, reason: 'missing signature header' };
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1') candidates.push(value);
  }
  if (timestamp === undefined || !Number.isInteger(timestamp)) return { ok: false, reason: 'no timestamp' };
  if (candidates.length === 0) return { ok: false, reason: 'no v1 signature' };
  const tolerance = options.toleranceSec ?? 300;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > tolerance) return { ok: false, reason: 'timestamp outside tolerance' };
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = Buffer.from(computeSignature(secret, timestamp, rawBody), 'hex');
    for (const candidate of candidates) {
      const given = Buffer.from(candidate, 'hex');
      if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true, timestamp };
    }
  }
  return { ok: false, reason: 'signature mismatch' };
}
