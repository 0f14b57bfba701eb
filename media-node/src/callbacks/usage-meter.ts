import type { UsageStore } from '@sipms/shared/data/usage-store';
import type { Logger } from '@sipms/shared/util/logger';
import type { UsageMeter } from '../ports/call-data.js';

type Counters = Parameters<UsageMeter['record']>[1];

/**
 * The UsageMeter on the usage store. Counters are summed per tenant and written every `intervalMs` (one
 * UpdateItem per tenant instead of several per call: docs/table-design.md); a call's end never waits for
 * the write (failures are logged), but a stopping node does (`flush`), so no usage is lost with the process.
 * Each write carries this node's write id, so a retried request adds nothing twice; a tenant's writes go one
 * after the other, as the store needs for that.
 */
export function usageMeter(
  store: Pick<UsageStore, 'record'>,
  logger: Logger,
  writer: string,
  intervalMs = 1000,
): UsageMeter & { flush(): Promise<void> } {
  let pending = new Map<string, Record<string, number>>();
  let timer: NodeJS.Timeout | undefined;
  const writing = new Set<Promise<void>>();
  const lastWrite = new Map<string, Promise<void>>();
  // Unique across this process's writes and its restarts (a restarted node keeps its id).
  const epoch = Date.now().toString(36);
  let writes = 0;

  const writeAll = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    for (const [tenantId, counters] of batch) {
      const at = new Date();
      const id = `${epoch}-${++writes}`;
      const write = (lastWrite.get(tenantId) ?? Promise.resolve())
        .then(() => store.record(tenantId, counters, at, { writer, id }))
        .then(
          () => undefined,
          (err) => logger.warn({ err, tenantId, counters }, 'usage not recorded'),
        );
      lastWrite.set(tenantId, write);
      writing.add(write);
      void write.finally(() => {
        writing.delete(write);
        if (lastWrite.get(tenantId) === write) lastWrite.delete(tenantId);
      });
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
