import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { messageOf } from '../errors.js';
import { CALLBACK_DETAIL_TYPE, type CallbackEnvelope, EVENT_SOURCE } from './envelope.js';

/** Puts one callback envelope on the bus; rejects when the bus refused it. */
export interface CallbackPublisher {
  publish(envelope: CallbackEnvelope): Promise<void>;
}

/** The PutEvents entry of a callback: the one shape the bus rules (rules.ts) and the dispatcher expect. */
export function callbackEntry(busName: string, envelope: CallbackEnvelope): PutEventsRequestEntry {
  return {
    EventBusName: busName,
    Source: EVENT_SOURCE,
    DetailType: CALLBACK_DETAIL_TYPE,
    Detail: JSON.stringify(envelope),
  };
}

/** PutEvents takes at most 10 entries and 256 KB per request (EventBridge quotas). */
export const MAX_ENTRIES_PER_PUT = 10;
export const MAX_BYTES_PER_PUT = 256 * 1024;

/** An entry's size as EventBridge counts it: its strings' UTF-8 bytes, and 14 for the time. */
export function entrySize(entry: {
  Source?: string | undefined;
  DetailType?: string | undefined;
  Detail?: string | undefined;
  EventBusName?: string | undefined;
  Resources?: string[] | undefined;
}): number {
  const bytes = (s: string | undefined) => (s ? Buffer.byteLength(s, 'utf8') : 0);
  const resources = (entry.Resources ?? []).reduce((sum, r) => sum + bytes(r), 0);
  return (
    14 + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + bytes(entry.EventBusName) + resources
  );
}

interface Pending {
  entry: PutEventsRequestEntry;
  size: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Callbacks to EventBridge (or the local endpoint speaking its API): what the media node publishes its
 * callbacks with, and what the dead-node sweeper publishes `sessionCompleted` with for a node that died.
 *
 * Envelopes published in the same turn of the event loop share PutEvents requests (up to 10 entries and
 * 256 KB each), sent right after it (`setImmediate`): no timer, so a lone callback waits for nothing, and
 * on a busy node the callbacks one reply poll releases (each session's next one) leave together. Batching
 * never reorders a session: a node publishes a session's next callback only after the previous one has
 * its outcome. Each entry succeeds or fails on its own, as PutEvents reports it.
 */
export class EventBridgeCallbackPublisher implements CallbackPublisher {
  private queue: Pending[] = [];
  private flushScheduled = false;

  constructor(
    private readonly events: Pick<EventBridgeClient, 'send'>,
    private readonly busName: string,
  ) {}

  publish(envelope: CallbackEnvelope): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = callbackEntry(this.busName, envelope);
      this.queue.push({ entry, size: entrySize(entry), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.queue;
    this.queue = [];
    let batch: Pending[] = [];
    let bytes = 0;
    for (const p of pending) {
      if (batch.length > 0 && (batch.length === MAX_ENTRIES_PER_PUT || bytes + p.size > MAX_BYTES_PER_PUT)) {
        void this.put(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(p);
      bytes += p.size;
    }
    if (batch.length > 0) void this.put(batch);
  }

  /** One PutEvents request; settles every entry's promise (never rejects itself). */
  private async put(batch: Pending[]): Promise<void> {
    try {
      const res = await this.events.send(new PutEventsCommand({ Entries: batch.map((p) => p.entry) }));
      batch.forEach((p, i) => {
        const result = res.Entries?.[i];
        if (result?.ErrorCode || (!result && res.FailedEntryCount)) {
          p.reject(
            new Error(`PutEvents refused the event: ${result?.ErrorCode ?? ''} ${result?.ErrorMessage ?? ''}`.trim()),
          );
        } else p.resolve();
      });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(messageOf(err));
      for (const p of batch) p.reject(error);
    }
  }
}
