/**
 * Server transactions after their work is done (RFC 3261 §17.2: INVITE "Accepted" per RFC 6026 and
 * non-INVITE "Completed"): for 64*T1 they only absorb retransmitted requests, answering with the
 * last response where there is one. At a thousand calls per second that is tens of thousands of
 * transactions, so they are kept as compact records (key → response bytes and destination) that
 * expire in FIFO order from one sweep timer, instead of objects with a timer each.
 */

import type { Destination } from './transport.js';

interface Retired {
  /** The final response to resend on a retransmitted request; absent for an accepted INVITE. */
  response?: Buffer;
  dest: Destination;
  expiresAt: number;
}

export class RetiredTransactions {
  private readonly entries = new Map<string, Retired>();
  /** Keys in expiry order; the lifetime is one constant, so insertion order is expiry order. */
  private queue: { key: string; expiresAt: number }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sweepMs = 1000) {}

  add(key: string, entry: { response?: Buffer; dest: Destination }, ttlMs: number): void {
    const expiresAt = Date.now() + ttlMs;
    this.entries.set(key, { ...entry, expiresAt });
    this.queue.push({ key, expiresAt });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  get(key: string): Retired | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt > Date.now() ? entry : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = Date.now();
    while (this.head < this.queue.length && this.queue[this.head]!.expiresAt <= now) {
      const { key, expiresAt } = this.queue[this.head]!;
      // A key reused later (not expected with unique branches) keeps its newer entry.
      if (this.entries.get(key)?.expiresAt === expiresAt) this.entries.delete(key);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.queue = [];
      this.head = 0;
    }
  }

  clear(): void {
    this.entries.clear();
    this.queue = [];
    this.head = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
