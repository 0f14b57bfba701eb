import type { UsageStore } from '@sipms/shared/data/usage-store';
import type { Logger } from '@sipms/shared/util/logger';
import type { UsageMeter } from '../ports/call-data.js';

type Counters = Parameters<UsageMeter['record']>[1];

/**
 * The UsageMeter on the usage store. Counters are summed per tenant and written every `intervalMs` (one
 * UpdateItem per tenant instead of several per call: docs/table-design.md); a call's end never waits for
 * the write (failures are logged), but a stopping node does (`flush`), so no usage is lost with the process.
 */
export function usageMeter(
  store: Pick<UsageStore, 'record'>,
  logger: Logger,
  intervalMs = 1000,
): UsageMeter & { flush(): Promise<void> } {
  let pending = new Map<string, Record<string, number>>();
  let timer: NodeJS.Timeout | undefined;
  const writing = new Set<Promise<void>>();

  const writeAll = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    for (const [tenantId, counters] of batch) {
      const write = store.record(tenantId, counters).then(
        () => undefined,
        (err) => logger.warn({ err, tenantId, counters }, 'usage not recorded'),
      );
      writing.add(write);
      void write.finally(() => writing.delete(write));
    }
  };

  return {
    record(tenantId, counters: Counters) {
      const sum = pending.get(tenantId) ?? {};
      for (const [name, value] of Object.entries(counters)) {
        if (typeof value === 'number' && value !== 0) sum[name] = (sum[name] ?? 0) + value;
      }
      if (Object.keys(sum).length === 0) return;
      pending.set(tenantId, sum);
      if (!timer) {
        timer = setTimeout(writeAll, intervalMs);
        timer.unref();
      }
    },
    async flush() {
      writeAll();
      await Promise.all(writing);
    },
  };
}
