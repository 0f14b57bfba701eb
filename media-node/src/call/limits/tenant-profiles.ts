import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type { TenantDirectory } from '../../ports/call-data.js';
import type { CallSlotStore } from './call-limits.js';

/** A tenant's profile as this node holds it, and the profile version it was read at. */
export interface TenantProfile {
  tenant: TenantRecord;
  profileVersion: number;
}

/** How long a copy serves at most, checked or not: a writer that died between its two writes is this late. */
export const PROFILE_MAX_AGE_MS = 10_000;
const MAX_COPIES = 10_000;

/**
 * The media node's copies of tenant profiles, so that a new call reads no tenant item. Each copy carries the
 * profile version it was read at (read first from the tenant's call-slots item, then the profile: the copy
 * is at least that new). Every write of a profile bumps the version after it (TenantStore), and the call's
 * admission, one write of that item anyway, refuses a copy whose version is behind (CallLimits.admitInbound):
 * the flow then reads the profile again (`fresh`) and admits the call under it. So suspension, limits and
 * every other setting apply from the next call on, as when the profile was read for every call.
 *
 * A copy serves PROFILE_MAX_AGE_MS at most either way. Suspended tenants are not kept: their calls are
 * refused before admission, so no admission would tell a copy of theirs that it is behind.
 */
export class TenantProfiles {
  private readonly copies = new Map<string, { at: number; profile: Promise<TenantProfile | undefined> }>();

  constructor(
    private readonly directory: Pick<TenantDirectory, 'inboundTenantId' | 'get'>,
    private readonly slots: Pick<CallSlotStore, 'profileVersion'>,
    private readonly maxAgeMs = PROFILE_MAX_AGE_MS,
  ) {}

  /** The tenant an inbound Request-URI is for; undefined when unknown or suspended (the call gets 404). */
  async inbound(host: string, user: string): Promise<TenantProfile | undefined> {
    const tenantId = await this.directory.inboundTenantId(host, user);
    return tenantId ? this.profile(tenantId) : undefined;
  }

  /** The tenant's profile (`fresh`: read again, the copy is behind); undefined when gone or suspended. */
  async profile(tenantId: string, options: { fresh?: boolean } = {}): Promise<TenantProfile | undefined> {
    const now = Date.now();
    const hit = this.copies.get(tenantId);
    if (hit && !options.fresh && now - hit.at < this.maxAgeMs) return hit.profile;
    this.copies.delete(tenantId);
    if (this.copies.size >= MAX_COPIES) this.copies.delete(this.copies.keys().next().value as string);
    const copy = { at: now, profile: this.read(tenantId) };
    this.copies.set(tenantId, copy);
    const forget = () => {
      if (this.copies.get(tenantId) === copy) this.copies.delete(tenantId);
    };
    copy.profile.then(
      (p) => {
        if (!p) forget();
      },
      forget, // not kept: the next call reads again (its caller gets the error)
    );
    return copy.profile;
  }

  private async read(tenantId: string): Promise<TenantProfile | undefined> {
    const profileVersion = await this.slots.profileVersion(tenantId);
    const tenant = await this.directory.get(tenantId);
    return tenant && tenant.state !== 'suspended' ? { tenant, profileVersion } : undefined;
  }
}
