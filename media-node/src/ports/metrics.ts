/**
 * What the call-flow core reports for the node's metrics (docs/operations.md, "Metrics"). The core sees only
 * this interface; the Prometheus adapter (media-node/src/observability/prometheus-metrics.ts) implements it.
 * Every method is cheap and never throws: a metric must not be able to break a call.
 */

/** Which way a call goes: a call to this node's SIP port, or one the node places (placeivrcall). */
export type CallDirection = 'inbound' | 'outbound';

/**
 * How a callback's wait ended: the tenant's reply, the defined fallback (timeout, error, invalid reply), or
 * `notified` for a callback without a reply (published, then its delivery record or the deadline).
 */
export type CallbackOutcome = 'reply' | 'fallback' | 'notified';

export interface CallMetrics {
  /** A call is taken on: its session (or participant) exists. Always followed by one `callEnded`. */
  callStarted(direction: CallDirection): void;
  /** The call has ended, with the reason its sessionCompleted reports (e.g. `callingPartyDrop`, `hangup`). */
  callEnded(reason: string): void;
  /**
   * A final SIP response to an INVITE: sent by this node (`inbound`, the default) or received by it for a
   * call it placed (`outbound`).
   */
  sipResponse(code: number, direction?: CallDirection): void;
  /** A callback's round trip, publish → reply (or delivery record), in seconds. */
  callbackRoundTrip(type: string, seconds: number, outcome?: CallbackOutcome): void;
  /** From the key that ended a digit collection to the first prompt of the next IVR command, in seconds. */
  dtmfToNextPrompt(seconds: number): void;
}

/** Reports nothing: for tests, fakes and flows built without metrics. */
export const NO_METRICS: CallMetrics = Object.freeze({
  callStarted: () => undefined,
  callEnded: () => undefined,
  sipResponse: () => undefined,
  callbackRoundTrip: () => undefined,
  dtmfToNextPrompt: () => undefined,
});
