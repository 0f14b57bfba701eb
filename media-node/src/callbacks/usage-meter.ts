import type { UsageStore } from '@sipms/shared/data/usage-store';
import type { Logger } from '@sipms/shared/util/logger';
import type { UsageMeter } from '../ports/call-data.js';

/**
 * The UsageMeter on the usage store: a call's end never waits for the write (failures are logged), but a
 * stopping node does (`flush`), so the usage of the calls it ended is not lost with the process.
 */
export function usageMeter(store: Pick<UsageStore, 'record'>, logger: Logger): UsageMeter & { flush(): Promise<void> } {
  const writing = new Set<Promise<void>>();
  return {
    record(tenantId, counters) {
      const write = store.record(tenantId, counters).then(
        () => undefined,
        (err) => logger.warn({ err, tenantId }, 'usage not recorded'),
      );
      writing.add(write);
      void write.finally(() => writing.delete(write));
    },
    async flush() {
      await Promise.all(writing);
    },
  };
}
