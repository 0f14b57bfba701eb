import type { TenantView } from '../contracts/rest.js';

/** A tenant as the platform keeps it, and the pure rules about it. */

export interface SigningSecret {
  secret: string;
  createdAt: string;
  /** Set on the previous secret after a rotation; it stays valid until then. */
  expiresAt?: string;
}

/** The trunk as stored: the password sealed (SecretBox), never in the clear. */
export interface StoredTrunk {
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  username?: string;
  passwordSealed?: string;
}

export interface TenantRecord extends Omit<TenantView, 'outboundTrunk'> {
  signingSecrets: SigningSecret[];
  outboundTrunk?: StoredTrunk | null;
  /** Bumped by every rotation: the optimistic-concurrency guard of `signingSecrets`. */
  secretsVersion?: number;
  /** Active API keys; guards the per-tenant limit and "never revoke the last key" without transactions. */
  apiKeyCount?: number;
}

/** Who a valid API key belongs to. */
export interface Principal {
  tenantId: string;
  keyId: string;
}

/** What a tenant may see of its record: no secrets, no bookkeeping. */
export function tenantView(t: TenantRecord): TenantView {
  return {
    tenantId: t.tenantId,
    name: t.name,
    domain: t.domain,
    callbackUrl: t.callbackUrl ?? null,
    fallbackUrl: t.fallbackUrl ?? null,
    callbackTimeoutMs: t.callbackTimeoutMs,
    callbackRetries: t.callbackRetries,
    codecs: t.codecs,
    outboundTrunk: t.outboundTrunk
      ? {
          host: t.outboundTrunk.host,
          port: t.outboundTrunk.port,
          transport: t.outboundTrunk.transport,
          username: t.outboundTrunk.username ?? null,
          hasPassword: Boolean(t.outboundTrunk.passwordSealed),
        }
      : null,
    createdAt: t.createdAt,
    ...(t.updatedAt ? { updatedAt: t.updatedAt } : {}),
  };
}

/** Secrets a callback must be signed with now: the current one and any rotated one not yet expired. */
export function activeSecrets(t: TenantRecord, now = Date.now()): string[] {
  return t.signingSecrets.filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now).map((s) => s.secret);
}
