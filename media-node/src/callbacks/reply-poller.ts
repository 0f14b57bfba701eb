import type { ReplyRecord } from '@sipms/shared/domain/session';
import type { Logger } from '@sipms/shared/util/logger';

export interface BatchReplyReader {
  getReplies(keys: { sessionId: string; eventId: string }[], signal?: AbortSignal): Promise<ReplyRecord[]>;
}

/**
 * Poll delays for one waiter: fast while a quick webhook has likely answered, then backing off; after the
 * list, every `MAX_POLL_MS`. This is the latency/cost setting (REPLY_POLL_SCHEDULE_MS): each poll is a
 * consistent read. The first delay is only the floor of the first poll, which follows where recent
 * replies arrived (ARRIVAL_SAMPLES): on AWS, where EventBridge delivery alone takes tens of ms, the early
 * reads that could not find anything are skipped without tuning.
 */
export const REPLY_POLL_SCHEDULE_MS = [2, 2, 2, 2, 2, 3, 3, 5, 5, 10, 10, 20, 20, 40, 40, 80];
const MAX_POLL_MS = 100;
const BATCH_LIMIT = 100;
/**
 * A waiter's first poll goes where recent replies arrived: at the 10th percentile of the last
 * ARRIVAL_SAMPLES arrivals (each estimated as the middle of the gap between the read that missed it and
 * the read that found it), at most MAX_FIRST_POLL_MS, never before the schedule's own first delay. An
 * unloaded local round trip takes ~20-30 ms; reading from 2 ms on cost five or six reads a callback, each a
 * request on both sides. The estimate cannot drift upward by itself: a reply found by the first poll
 * counts as arrived three quarters of the way to it, so when round trips get shorter the first poll
 * follows within a few dozen replies. Until MIN_ARRIVALS replies were seen, the schedule applies as given.
 */
export const ARRIVAL_SAMPLES = 32;
const MIN_ARRIVALS = 8;
export const MAX_FIRST_POLL_MS = 250;
/**
 * A read that has not answered by then is abandoned (aborted) and the next one started: one request lost
 * on the network must not stop every reply on the node. Far above a consistent read's latency.
 */
export const READ_TIMEOUT_MS = 3000;

interface Waiter {
  sessionId: string;
  eventId: string;
  polls: number;
  /** The schedule's entry that spaces the next read (past its short steps when the first poll came late). */
  step: number;
  startedAt: number;
  /** When the last read that did not find the reply was sent (startedAt before the first). */
  missedAt: number;
  dueAt: number;
  deadline: number;
  resolve: (record: ReplyRecord | undefined) => void;
}

/**
 * One read loop per node for every callback reply it waits on: each tick reads all waiters that are due
 * with a single consistent BatchGetItem, so the number of DynamoDB requests grows with time, not with
 * the number of calls. Each waiter keeps its own adaptive schedule and deadline; no busy loop — the
 * timer sleeps until the earliest due waiter. Deadlines do not wait for a read: a read in flight (even a
 * hung one, until READ_TIMEOUT_MS) still lets every waiter's deadline end its wait on time.
 */
export class ReplyPoller {
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private nextTickAt = Number.POSITIVE_INFINITY;
  private reading = false;
  /** Aborts the read in flight (close). */
  private abortRead: (() => void) | undefined;
  /** Recent replies' arrival estimates (ms after their wait began), a ring of ARRIVAL_SAMPLES. */
  private readonly arrivals: number[] = [];
  private arrivalsSeen = 0;
  /** The schedule's own first delay: the earliest a first poll may go. */
  private readonly firstFloor: number;
  /** The first poll's delay, from the arrivals (recomputed every few of them). */
  private firstDelay: number;
  /** The schedule's entry that spaces the read after the first. */
  private firstStep = 1;

  constructor(
    private readonly reader: BatchReplyReader,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
    private readonly delays: readonly number[] = REPLY_POLL_SCHEDULE_MS,
    private readonly readTimeoutMs = READ_TIMEOUT_MS,
  ) {
    this.firstFloor = this.delays[0] ?? MAX_POLL_MS;
    this.firstDelay = this.firstFloor;
  }

  /** Where a new waiter's first poll goes (ms after it begins). */
  get firstPollMs(): number {
    return this.firstDelay;
  }

  private arrived(ms: number): void {
    this.arrivals[this.arrivalsSeen % ARRIVAL_SAMPLES] = ms;
    this.arrivalsSeen += 1;
    if (this.arrivalsSeen < MIN_ARRIVALS || this.arrivalsSeen % 4 !== 0) return;
    const sorted = [...this.arrivals].sort((a, b) => a - b);
    const fast = sorted[Math.floor(sorted.length / 10)] ?? 0;
    this.firstDelay = Math.max(this.firstFloor, Math.min(MAX_FIRST_POLL_MS, Math.floor(fast)));
    // Replies spread around where they arrive: after a later first poll, steps of an eighth of it or more.
    const index = this.delays.findIndex((d, i) => i > 0 && d >= this.firstDelay / 8);
    this.firstStep = index < 0 ? this.delays.length : index;
  }

  /** Resolves with the reply record, or undefined when the deadline passes (or the signal aborts). */
  wait(sessionId: string, eventId: string, deadlineMs: number, signal?: AbortSignal): Promise<ReplyRecord | undefined> {
    return new Promise((resolve) => {
      const t = this.now();
      const waiter: Waiter = {
        sessionId,
        eventId,
        polls: 0,
        step: this.firstStep,
        startedAt: t,
        missedAt: t,
        dueAt: t + this.firstDelay,
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

  /** Sets the timer for the earliest deadline and, unless a read is in flight, the earliest due poll. */
  private schedule(): void {
    if (this.waiters.size === 0) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const w of this.waiters.values())
      earliest = Math.min(earliest, w.deadline, this.reading ? w.deadline : w.dueAt);
    if (earliest >= this.nextTickAt && this.timer) return;
    clearTimeout(this.timer);
    this.nextTickAt = earliest;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, earliest - this.now()));
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.nextTickAt = Number.POSITIVE_INFINITY;
    this.expire();
    if (!this.reading) {
      const t = this.now();
      const due = [...this.waiters.values()].filter((w) => w.dueAt <= t + 1).slice(0, BATCH_LIMIT);
      if (due.length > 0) await this.read(due);
      this.expire();
    }
    this.schedule();
  }

  /** Resolves every waiter whose deadline has passed with undefined. */
  private expire(): void {
    const now = this.now();
    for (const w of [...this.waiters.values()]) if (now >= w.deadline) w.resolve(undefined);
  }

  private async read(due: Waiter[]): Promise<void> {
    this.reading = true;
    const sentAt = this.now();
    // Deadlines keep their timer while the read is in flight.
    this.schedule();
    const abort = new AbortController();
    this.abortRead = () => abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`reply poll: no answer within ${this.readTimeoutMs} ms; abandoned`));
      }, this.readTimeoutMs);
    });
    const reading = this.reader.getReplies(
      due.map((w) => ({ sessionId: w.sessionId, eventId: w.eventId })),
      abort.signal,
    );
    // The race below handles this read's error unless it was abandoned first; then its later rejection
    // (aborted) is expected, not an unhandled one.
    reading.catch((err: unknown) => {
      if (abort.signal.aborted) this.logger.debug({ err }, 'abandoned reply poll ended');
    });
    let looked = false;
    try {
      const records = await Promise.race([reading, timedOut]);
      looked = true;
      const byId = new Map(records.map((r) => [r.eventId, r]));
      for (const w of due) {
        const record = byId.get(w.eventId);
        if (!record || !this.waiters.has(w.eventId)) continue;
        // Found by the first read: it arrived before it, when is unknown; counted at three quarters of the way.
        const arrivedAt = w.polls === 0 ? w.startedAt + (sentAt - w.startedAt) * 0.75 : (w.missedAt + sentAt) / 2;
        this.arrived(arrivedAt - w.startedAt);
        w.resolve(record);
      }
    } catch (err) {
      this.logger.warn({ err, waiting: due.length }, 'reply poll failed; retrying');
    } finally {
      clearTimeout(timer);
      this.reading = false;
      this.abortRead = undefined;
    }
    const after = this.now();
    for (const w of due) {
      if (!this.waiters.has(w.eventId)) continue;
      if (looked) w.missedAt = sentAt;
      w.polls += 1;
      w.dueAt = after + (this.delays[w.step] ?? MAX_POLL_MS);
      w.step += 1;
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abortRead?.();
    for (const w of [...this.waiters.values()]) w.resolve(undefined);
  }
}
