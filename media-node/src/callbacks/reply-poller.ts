import type { ReplyRecord } from '@sipms/shared/domain/session';
import type { Logger } from '@sipms/shared/util/logger';

export interface BatchReplyReader {
  getReplies(keys: { sessionId: string; eventId: string }[]): Promise<ReplyRecord[]>;
}

/**
 * Poll delays for one waiter: fast while a quick webhook has likely answered, then backing off; after the
 * list, every `MAX_POLL_MS`. This is the latency/cost setting (REPLY_POLL_SCHEDULE_MS): each poll is a
 * consistent read. On AWS, where EventBridge delivery alone takes tens of ms, a first delay of ~40 ms
 * costs nothing in latency and saves the early reads.
 */
export const REPLY_POLL_SCHEDULE_MS = [2, 2, 2, 2, 2, 3, 3, 5, 5, 10, 10, 20, 20, 40, 40, 80];
const MAX_POLL_MS = 100;
const BATCH_LIMIT = 100;

interface Waiter {
  sessionId: string;
  eventId: string;
  polls: number;
  dueAt: number;
  deadline: number;
  resolve: (record: ReplyRecord | undefined) => void;
}

/**
 * One read loop per node for every callback reply it waits on: each tick reads all waiters that are due
 * with a single consistent BatchGetItem, so the number of DynamoDB requests grows with time, not with
 * the number of calls. Each waiter keeps its own adaptive schedule and deadline; no busy loop — the
 * timer sleeps until the earliest due waiter.
 */
export class ReplyPoller {
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private nextTickAt = Number.POSITIVE_INFINITY;
  private reading = false;

  constructor(
    private readonly reader: BatchReplyReader,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
    private readonly delays: readonly number[] = REPLY_POLL_SCHEDULE_MS,
  ) {}

  /** Resolves with the reply record, or undefined when the deadline passes (or the signal aborts). */
  wait(sessionId: string, eventId: string, deadlineMs: number, signal?: AbortSignal): Promise<ReplyRecord | undefined> {
    return new Promise((resolve) => {
      const t = this.now();
      const waiter: Waiter = {
        sessionId,
        eventId,
        polls: 0,
        dueAt: t + (this.delays[0] ?? MAX_POLL_MS),
        deadline: t + deadlineMs,
        resolve,
      };
      const finish = (record: ReplyRecord | undefined) => {
        if (this.waiters.get(eventId) !== waiter) return;
        this.waiters.delete(eventId);
        signal?.removeEventListener('abort', onAbort);
        resolve(record);
      };
      const onAbort = () => finish(undefined);
      waiter.resolve = finish;
      if (signal?.aborted) return resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(eventId, waiter);
      this.schedule();
    });
  }

  get pending(): number {
    return this.waiters.size;
  }

  private schedule(): void {
    if (this.reading || this.waiters.size === 0) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const w of this.waiters.values()) earliest = Math.min(earliest, w.dueAt, w.deadline);
    if (earliest >= this.nextTickAt && this.timer) return;
    clearTimeout(this.timer);
    this.nextTickAt = earliest;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, earliest - this.now()));
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.nextTickAt = Number.POSITIVE_INFINITY;
    const t = this.now();
    const due = [...this.waiters.values()].filter((w) => w.dueAt <= t + 1).slice(0, BATCH_LIMIT);
    if (due.length > 0) {
      this.reading = true;
      try {
        const records = await this.reader.getReplies(due.map((w) => ({ sessionId: w.sessionId, eventId: w.eventId })));
        const byId = new Map(records.map((r) => [r.eventId, r]));
        for (const w of due) {
          const record = byId.get(w.eventId);
          if (record) w.resolve(record);
        }
      } catch (err) {
        this.logger.warn({ err, waiting: due.length }, 'reply poll failed; retrying');
      } finally {
        this.reading = false;
      }
      const after = this.now();
      for (const w of due) {
        if (!this.waiters.has(w.eventId)) continue;
        w.polls += 1;
        w.dueAt = after + (this.delays[w.polls] ?? MAX_POLL_MS);
      }
    }
    const now = this.now();
    for (const w of [...this.waiters.values()]) if (now >= w.deadline) w.resolve(undefined);
    this.schedule();
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of [...this.waiters.values()]) w.resolve(undefined);
  }
}
