import type { SipTransport } from './signaling.js';

/** One SIP message of a call as the journal shows it: enough to draw the call as a ladder. */
export interface SipMessageSummary {
  /** ISO 8601, with milliseconds. */
  at: string;
  direction: 'in' | 'out';
  transport: SipTransport;
  /** The peer's `address:port`. */
  peer: string;
  /** The request line or status line. */
  firstLine: string;
  /** The headers that matter for reading a call (From, To, CSeq, Via, Contact, Reason, …), by full name. */
  headers: Record<string, string>;
}

/** The SIP messages seen for a Call-ID, handed over once (the journal keeps them). */
export interface SipMessageLog {
  /** Removes and returns what was recorded for `callId`; `omitted` counts messages over the per-call cap. */
  take(callId: string): { messages: SipMessageSummary[]; omitted: number } | undefined;
}
