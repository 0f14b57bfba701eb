import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BATCH_WRITE_MAX as BATCH_MAX, batchWrite, type WriteRequest } from './batch-write.js';

type Item = Record<string, unknown>;

interface Pending {
  request: WriteRequest;
  done: (err?: Error) => void;
  /** Items of one group (a session's journal entries) queued together are written as what `combine` makes of them. */
  group?: string;
}

/** A write to queue, with the promise its `done` settles (stored, or the batch's error). */
function pending(request: WriteRequest, group?: string): { entry: Pending; stored: Promise<void> } {
  let entry: Pending | undefined;
  const stored = new Promise<void>((resolve, reject) => {
    entry = { request, group, done: (err) => (err ? reject(err) : resolve()) };
  });
  return { entry: entry!, stored };
}

/** Makes the items to store of one group's queued items (in the order queued): fewer, each within DynamoDB's size limit. */
export type CombineItems = (items: Item[]) => Item[];

/**
 * Journal items of many sessions written together: every `delayMs` (or at 25 items), one BatchWriteItem
 * instead of one PutItem per entry. A busy media node writes a handful of entries per call, so this is most
 * of its table requests (docs/table-design.md). The items of one group (a session) queued together become
 * what `combine` makes of them (one item holding the entries): DynamoDB's write units go by items. Each write's promise settles when its item is stored; `flush` writes what is queued now, of
 * one group or of all (a session that ends; a stopping node).
 */
export class JournalBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly delayMs: number,
    private readonly combine?: CombineItems,
  ) {}

  write(item: Item, group?: string): Promise<void> {
    return this.enqueue({ PutRequest: { Item: item } }, group);
  }

  /**
   * Writes `items` now (a session's creation, which the call waits for), in one BatchWriteItem with what is
   * queued, up to 25 requests: the queued entries go along instead of in a request of their own. Settles when
   * `items` are stored; the queued entries' own promises settle with the same request.
   */
  writeNow(items: Item[]): Promise<void> {
    if (items.length > BATCH_MAX) throw new Error(`writeNow takes at most ${BATCH_MAX} items`);
    const mine = items.map((item) => pending({ PutRequest: { Item: item } }));
    const along = this.queue.splice(0, BATCH_MAX - mine.length);
    if (this.queue.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.store([...mine.map((p) => p.entry), ...along]);
    return Promise.all(mine.map((p) => p.stored)).then(() => undefined);
  }

  /** A deletion that may wait for the next batch (a session's node marker once the session ended). */
  remove(key: Item): Promise<void> {
    return this.enqueue({ DeleteRequest: { Key: key } });
  }

  private enqueue(request: Pending['request'], group?: string): Promise<void> {
    const { entry, stored } = pending(request, group);
    this.queue.push(entry);
    if (this.queue.length >= BATCH_MAX) this.send();
    else this.timer ??= setTimeout(() => this.send(), this.delayMs);
    return stored;
  }

  /**
   * Writes what is queued now: the group's items (the rest keep waiting for their batch), or everything; and
   * waits for the writes in flight.
   */
  async flush(group?: string): Promise<void> {
    if (group !== undefined) {
      const mine = this.queue.filter((p) => p.group === group);
      // A timer left with nothing queued sends nothing.
      this.queue = this.queue.filter((p) => p.group !== group);
      for (let i = 0; i < mine.length; i += BATCH_MAX) this.store(mine.slice(i, i + BATCH_MAX));
    } else while (this.queue.length > 0) this.send();
    await Promise.all(this.inFlight);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, BATCH_MAX);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.send(), this.delayMs);
    this.store(batch);
  }

  /** Requests of a batch: each group's items combined. */
  private requests(batch: Pending[]): WriteRequest[] {
    const groups = new Map<string, Item[]>();
    const out: WriteRequest[] = [];
    for (const p of batch) {
      if (!this.combine || p.group === undefined || !('PutRequest' in p.request)) out.push(p.request);
      else if (groups.has(p.group)) groups.get(p.group)!.push(p.request.PutRequest.Item);
      else groups.set(p.group, [p.request.PutRequest.Item]);
    }
    for (const items of groups.values()) {
      for (const Item of items.length === 1 ? items : this.combine!(items)) out.push({ PutRequest: { Item } });
    }
    return out;
  }

  private store(batch: Pending[]): void {
    if (batch.length === 0) return;
    const run = batchWrite(this.doc, this.tableName, this.requests(batch)).then(
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
