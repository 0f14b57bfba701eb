import type { TenantRecord } from '@sipms/shared/domain/tenant';

/**
 * The dispatcher reads the tenant (callback URLs, timeouts, secrets) for every callback; a warm Lambda or
 * the local dispatcher keeps it for a few seconds. A changed URL or a rotated secret applies within `ttlMs`
 * (the previous secret stays valid for 24 h anyway, so signatures never break).
 */
export class TenantCache {
  private readonly entries = new Map<string, { at: number; tenant: Promise<TenantRecord | undefined> }>();

  constructor(
    private readonly load: (tenantId: string) => Promise<TenantRecord | undefined>,
    private readonly ttlMs = 2000,
    private readonly max = 1000,
  ) {}

  get(tenantId: string): Promise<TenantRecord | undefined> {
    const now = Date.now();
    const hit = this.entries.get(tenantId);
    if (hit && now - hit.at < this.ttlMs) return hit.tenant;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    const tenant = this.load(tenantId).catch((err: unknown) => {
      this.entries.delete(tenantId); // a failed read is not cached; the caller gets its error
      throw err;
    });
    this.entries.set(tenantId, { at: now, tenant });
    return tenant;
  }
}
