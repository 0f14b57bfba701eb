import type { UsageStore } from '@sipms/shared/data/usage-store';
import type { Logger } from '@sipms/shared/util/logger';
import type { UsageMeter } from '../ports/call-data.js';

/** The UsageMeter on the usage store: fire and forget, failures logged. */
export function usageMeter(store: Pick<UsageStore, 'record'>, logger: Logger): UsageMeter {
  return {
    record(tenantId, counters) {
      void store.record(tenantId, counters).catch((err) => logger.warn({ err, tenantId }, 'usage not recorded'));
    },
  };
}
