import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
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

/**
 * Callbacks to EventBridge (or the local endpoint speaking its API): what the media node publishes its
 * callbacks with, and what the dead-node sweeper publishes `sessionCompleted` with for a node that died.
 */
export class EventBridgeCallbackPublisher implements CallbackPublisher {
  constructor(
    private readonly events: Pick<EventBridgeClient, 'send'>,
    private readonly busName: string,
  ) {}

  async publish(envelope: CallbackEnvelope): Promise<void> {
    const res = await this.events.send(new PutEventsCommand({ Entries: [callbackEntry(this.busName, envelope)] }));
    if (res.FailedEntryCount) {
      const entry = res.Entries?.[0];
      throw new Error(`PutEvents refused the event: ${entry?.ErrorCode ?? ''} ${entry?.ErrorMessage ?? ''}`.trim());
    }
  }
}
