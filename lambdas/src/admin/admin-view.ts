import type { AdminTenantView } from '@sipms/shared/contracts/admin';
import type { OutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import { effectiveLimits, type LimitDefaults, type TenantRecord, tenantView } from '@sipms/shared/domain/tenant';

function destinations(d: OutboundDestinations | null | undefined) {
  return d ? { numberPrefixes: [...d.numberPrefixes], sipDomains: [...d.sipDomains] } : null;
}

/** A tenant as the operator sees it: its settings (never secrets), state, limits as set and as they apply. */
export function adminTenantView(t: TenantRecord, defaults: LimitDefaults): AdminTenantView {
  const limits = t.limits ?? {};
  const suspended = t.state === 'suspended';
  const effective = effectiveLimits(t.limits, defaults);
  return {
    ...tenantView(t),
    state: suspended ? 'suspended' : 'active',
    suspendedAt: suspended ? (t.suspendedAt ?? null) : null,
    suspendedReason: suspended ? (t.suspendedReason ?? null) : null,
    numberCount: t.numberCount ?? 0,
    limits: {
      maxConcurrentCalls: limits.maxConcurrentCalls ?? null,
      callsPerSecond: limits.callsPerSecond ?? null,
      maxCallDurationSec: limits.maxCallDurationSec ?? null,
      maxNumbers: limits.maxNumbers ?? null,
      maxSlowCallbacks: limits.maxSlowCallbacks ?? null,
      outboundDestinations: destinations(limits.outboundDestinations),
    },
    effectiveLimits: { ...effective, outboundDestinations: destinations(effective.outboundDestinations) },
  };
}
