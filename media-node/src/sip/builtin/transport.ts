/**
 * Transport abstraction (RFC 3261 §18). Only UDP exists today; a TCP/TLS transport implements the
 * same interface and reports the transport of each source so responses go back on the same flow.
 */

import type { SipTransport, SourceAddress } from '../../ports/signaling.js';
import type { SipMessage } from './message.js';

export interface Destination {
  /** An IP address (hostnames are resolved before they reach a transport). */
  address: string;
  port: number;
}

export type MessageHandler = (data: Buffer, source: SourceAddress) => void;

export interface Transport {
  readonly protocol: SipTransport;
  /** Receives every inbound datagram / framed message. Set before listen(). */
  onMessage: MessageHandler;
  /** Binds; rejects with an Error naming the address if it is taken. */
  listen(): Promise<void>;
  send(message: SipMessage, dest: Destination): Promise<void>;
  close(): Promise<void>;
  /** The bound address (after listen). */
  readonly local: { address: string; port: number };
}
