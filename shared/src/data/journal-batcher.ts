import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BATCH_WRITE_MAX as BATCH_MAX, batchWrite, type WriteRequest } from './batch-write.js';

type Item = Record<string, unknown>;

interface Pending {
  request: WriteRequest;
  done: (err?: Error) => void;
}

/**
 * Journal items of many sessions written together: every `delayMs` (or at 25 items), one BatchWriteItem
 * instead of one PutItem per entry. A busy media node writes a handful of entries per call, so this is most
 * of its table requests (docs/table-design.md). Each write's promise settles when its item is stored;
 * `flush` writes what is queued now (a stopping node calls it).
 */
export class JournalBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly delayMs: number,
  ) {}

  write(item: Item): Promise<void> {
    return this.enqueue({ PutRequest: { Item: item } });
  }

  /** A deletion that may wait for the next batch (a session's node marker once the session ended). */
  remove(key: Item): Promise<void> {
    return this.enqueue({ DeleteRequest: { Key: key } });
  }

  private enqueue(request: Pending['request']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, done: (err) => (err ? reject(err) : resolve()) });
      if (this.queue.length >= BATCH_MAX) this.send();
      else this.timer ??= setTimeout(() => this.send(), this.delayMs);
    });
  }

  async flush(): Promise<void> {
    while (this.queue.length > 0) this.send();
    await Promise.all(this.inFlight);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, BATCH_MAX);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.send(), this.delayMs);
    if (batch.length === 0) return;
    const run = batchWrite(
      this.doc,
      this.tableName,
      batch.map((p) => p.request),
    ).then(
      () => {
        for (const p of batch) p.done();
      },
      (err: Error) => {
        for (const p of batch) p.done(err);
      },
    );
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }
}
