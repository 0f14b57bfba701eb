/**
 * Transport abstraction (RFC 3261 §18). UDP, TCP and TLS implement it; `TransportSet` multiplexes
 * them behind one interface so the UA core picks a transport per destination.
 */

import type { SipTransport, SourceAddress } from '../../ports/signaling.js';
import type { SipMessage } from './message.js';
import { serializeMessage } from './serializer.js';
import { formatHostPort } from './uri.js';

export interface Destination {
  /** An IP address (hostnames are resolved before they reach a transport). */
  address: string;
  port: number;
  /** Default 'udp'. On TCP/TLS an open connection to address:port is reused (§18.2.2). */
  transport?: SipTransport;
  /** The host name this address was resolved from: TLS server name (RFC 5922). */
  hostname?: string;
}

export type MessageHandler = (data: Buffer, source: SourceAddress) => void;

/** One SIP message as it crossed the wire, with the addresses of both ends (for HEP capture). */
export interface CapturedMessage {
  direction: 'in' | 'out';
  transport: SipTransport;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  /** The message's bytes as sent or received (TLS: the cleartext). Must not be modified. */
  bytes: Buffer;
  /** Wall-clock time, epoch milliseconds. */
  at: number;
}

/** Sees every message in and out, retransmissions included; must return at once and never throw. */
export type CaptureHook = (message: CapturedMessage) => void;

export interface Transport {
  readonly protocol: SipTransport;
  /** Receives every inbound datagram / framed message. Set before listen(). */
  onMessage: MessageHandler;
  /** Optional capture tap (HEP); unset, it costs one check per message. */
  onCapture?: CaptureHook | undefined;
  /** Binds; rejects with an Error naming the address if it is taken. */
  listen(): Promise<void>;
  send(message: SipMessage, dest: Destination): Promise<void>;
  /** Sends bytes already serialized (stored responses resent on retransmissions). */
  sendBuffer?(data: Buffer, dest: Destination): Promise<void>;
  close(): Promise<void>;
  /** The bound address (after listen). */
  readonly local: { address: string; port: number };
}

export function isReliable(transport: SipTransport | undefined): boolean {
  return transport !== undefined && transport !== 'udp';
}

/** Serializes a message to send; a SipWireError (text the wire must not carry) rejects and nothing is written. */
export function serialized(message: SipMessage, write: (data: Buffer) => Promise<void>): Promise<void> {
  let data: Buffer;
  try {
    data = serializeMessage(message);
  } catch (err) {
    return Promise.reject(err);
  }
  return write(data);
}

/** A listener's bind failure, naming the transport and address (an address in use is the usual one). */
export function listenError(protocol: SipTransport, host: string, port: number, err: NodeJS.ErrnoException): Error {
  const where = formatHostPort(host, port);
  const why = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.code ?? err.message})`;
  return new Error(`SIP ${protocol.toUpperCase()} address ${where} ${why}`, { cause: err });
}

/** An IPv4 peer as a dual-stack socket reports it (::ffff:a.b.c.d), as the plain address. */
export function stripMapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The key of a connection-oriented peer (TCP, TLS, WebSocket): its address and port. */
export function peerKey(address: string | undefined, port: number | undefined): string {
  return `${stripMapped(address ?? '')}|${port ?? 0}`;
}
