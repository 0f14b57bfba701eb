import type { TenantView } from '../contracts/rest.js';
import type { OutboundDestinations } from './outbound-policy.js';

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

/**
 * What the operator set for one tenant (admin API); an absent field falls back to the deployment's
 * default. The media node reads maxConcurrentCalls and callsPerSecond from here for every call.
 */
export interface TenantLimits {
  maxConcurrentCalls?: number;
  callsPerSecond?: number;
  /** Longest call in seconds; no bound when absent. */
  maxCallDurationSec?: number;
  /** Numbers the tenant may hold at once. */
  maxNumbers?: number;
  /** Narrows the deployment's outbound allow-list (outbound-policy.ts); the deployment's alone when absent. */
  outboundDestinations?: OutboundDestinations;
  /** Callbacks that may wait on the tenant's webhook longer than SLOW_CALLBACK_MS at once (dispatcher). */
  maxSlowCallbacks?: number;
}

/** The deployment's defaults for TenantLimits (settings TENANT_MAX_CONCURRENT_CALLS, …). */
export interface LimitDefaults {
  maxConcurrentCalls: number;
  callsPerSecond: number;
  maxNumbers: number;
  maxSlowCallbacks: number;
}

export interface EffectiveLimits extends LimitDefaults {
  maxCallDurationSec: number | null;
  /** The tenant's own list, or null: the deployment's list alone applies. */
  outboundDestinations: OutboundDestinations | null;
}

/** The limits that apply to a tenant: its own where the operator set them, else the deployment's. */
export function effectiveLimits(limits: TenantLimits | undefined, defaults: LimitDefaults): EffectiveLimits {
  return {
    maxConcurrentCalls: limits?.maxConcurrentCalls ?? defaults.maxConcurrentCalls,
    callsPerSecond: limits?.callsPerSecond ?? defaults.callsPerSecond,
    maxNumbers: limits?.maxNumbers ?? defaults.maxNumbers,
    maxSlowCallbacks: limits?.maxSlowCallbacks ?? defaults.maxSlowCallbacks,
    maxCallDurationSec: limits?.maxCallDurationSec ?? null,
    outboundDestinations: limits?.outboundDestinations ?? null,
  };
}

/** A participant's call ends at this age unless the tenant set its own (a tenant may set 10 s to 24 h). */
export const DEFAULT_MAX_CALL_DURATION_SEC = 14_400;

export interface TenantRecord extends Omit<TenantView, 'outboundTrunk' | 'maxCallDurationSec'> {
  /** The tenant's own setting; absent: DEFAULT_MAX_CALL_DURATION_SEC. */
  maxCallDurationSec?: number;
  signingSecrets: SigningSecret[];
  /** Absent means active. A suspended tenant's keys get 403 and its numbers and domain take no calls. */
  state?: 'active' | 'suspended';
  suspendedAt?: string;
  suspendedReason?: string;
  limits?: TenantLimits;
  /** Bumped by every change of `limits`: the optimistic-concurrency guard of the merge. */
  limitsVersion?: number;
  /** Claimed numbers; guards maxNumbers with conditional `ADD`s, like apiKeyCount. */
  numberCount?: number;
  outboundTrunk?: StoredTrunk | null;
  /** Bumped by every rotation: the optimistic-concurrency guard of `signingSecrets`. */
  secretsVersion?: number;
  /** Active API keys; guards the per-tenant limit and "never revoke the last key" without transactions. */
  apiKeyCount?: number;
}

export function isSuspended(t: Pick<TenantRecord, 'state'>): boolean {
  return t.state === 'suspended';
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
    maxCallDurationSec: t.maxCallDurationSec ?? DEFAULT_MAX_CALL_DURATION_SEC,
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

/**
 * How long one participant's call may last: the tenant's setting, bounded by the operator's limit for
 * the tenant when one is set (the stricter wins).
 */
export function maxCallDurationMs(t: Pick<TenantRecord, 'maxCallDurationSec' | 'limits'>): number {
  const own = t.maxCallDurationSec ?? DEFAULT_MAX_CALL_DURATION_SEC;
  const operator = t.limits?.maxCallDurationSec;
  return (operator === undefined ? own : Math.min(own, operator)) * 1000;
}
