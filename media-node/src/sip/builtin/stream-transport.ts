/**
 * TCP and TLS transports (RFC 3261 §18, RFC 3261 §26.2 for TLS). Connections are kept in a table
 * keyed by the peer's address and port and reused in both directions: responses go back on the
 * connection the request came in on (§18.2.2), and requests to a peer we already have a
 * connection with use it. Limits: connection count (in all, and accepted per peer address), bytes
 * per message (framing), idle time. A connection to a carrier is shared by every tenant's calls
 * through it: each message is serialized into one Buffer, framed by its own Content-Length
 * (serializer.ts) and written with one write, so nothing written can run into the next message.
 */

import { createServer, isIP, connect as netConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { SourceAddress } from '../../ports/signaling.js';
import type { SipLogger } from './logger.js';
import type { SipMessage } from './message.js';
import { LogThrottle } from './source-limits.js';
import { StreamFramer } from './stream-framer.js';
import {
  type CapturedMessage,
  type CaptureHook,
  type Destination,
  listenError,
  type MessageHandler,
  peerKey,
  serialized,
  stripMapped,
  type Transport,
} from './transport.js';
import { formatHostPort } from './uri.js';

export interface TlsMaterial {
  /** PEM certificate chain. */
  cert: string | Buffer;
  /** PEM private key. */
  key: string | Buffer;
  /** Extra CAs for verifying peers we connect to (tests use a self-signed one). */
  ca?: string | Buffer;
  /** Verify the peer's certificate on outbound connections; default true. */
  verifyPeer?: boolean;
}

export interface StreamTransportOptions {
  protocol: 'tcp' | 'tls';
  bindHost: string;
  port: number;
  maxMessageBytes: number;
  /** Accepted and opened connections together; default 10,000. */
  maxConnections?: number;
  /** Connections accepted from one IP address at once; more are closed at once. Default 64. */
  maxConnectionsPerAddress?: number;
  /** A connection with no traffic for this long is closed; default 10 minutes. */
  idleTimeoutMs?: number;
  /** How long an outbound connect may take; default 5 s. */
  connectTimeoutMs?: number;
  tls?: TlsMaterial;
  /** Where socket and connection errors go (they close the connection; the process carries on). */
  logger: SipLogger;
}

/** Called when a stream's framing broke: `head` (possibly empty) may be answered, then the connection closes. */
export type BrokenStreamHandler = (head: Buffer, source: SourceAddress, reason: string) => void;

interface Connection {
  socket: Socket;
  ready: Promise<void>;
}

export class StreamTransport implements Transport {
  readonly protocol: 'tcp' | 'tls';
  // Replaced by the UA core before listen().
  onMessage: MessageHandler = () => undefined;
  onBroken: BrokenStreamHandler = () => undefined;
  onCapture: CaptureHook | undefined;
  private server: Server | undefined;
  private bound = { address: '', port: 0 };
  private readonly connections = new Map<string, Connection>();
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  /** Accepted connections per peer IP (opened ones are ours and not counted). */
  private readonly acceptedPerAddress = new Map<string, number>();
  private readonly refusalLog = new LogThrottle();
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(private readonly options: StreamTransportOptions) {
    this.protocol = options.protocol;
    if (options.protocol === 'tls' && !options.tls) throw new Error('TLS transport needs a certificate and key');
    this.maxConnections = options.maxConnections ?? 10_000;
    this.maxPerAddress = options.maxConnectionsPerAddress ?? 64;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  get local(): { address: string; port: number } {
    return this.bound;
  }

  /** Whether a connection to `dest` is open (flows are reused only while they are). */
  hasConnection(dest: Destination): boolean {
    const connection = this.connections.get(peerKey(dest.address, dest.port));
    return connection !== undefined && !connection.socket.destroyed;
  }

  /** Open connections (for tests and metrics). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Binds to `port`, or the configured port; TCP shares the UDP port (§18), so the set passes it in. */
  listen(port = this.options.port): Promise<void> {
    const { bindHost, tls } = this.options;
    const onSocket = (socket: Socket): void => {
      if (socket.destroyed) return; // refused by the per-address cap
      this.adopt(socket, peerKey(socket.remoteAddress, socket.remotePort));
    };
    const server =
      this.protocol === 'tls' && tls
        ? createTlsServer({ cert: tls.cert, key: tls.key }, onSocket)
        : createServer(onSocket);
    server.maxConnections = this.maxConnections;
    // Runs before anything else sees the connection (and before a TLS handshake is spent on it).
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(listenError(this.protocol, bindHost, port, err));
      server.once('error', onError);
      server.listen(port, bindHost, () => {
        server.off('error', onError);
        // Later server errors must not crash the process; accepted connections report their own.
        server.on('error', (err) => this.options.logger.warn({ err, protocol: this.protocol }, 'SIP server error'));
        // A failed TLS handshake (scanners, wrong certificates) must not surface as an unhandled error.
        server.on('tlsClientError', (err, tlsSocket) =>
          this.options.logger.debug({ err, peer: tlsSocket.remoteAddress }, 'TLS handshake failed'),
        );
        const addr = server.address();
        if (addr && typeof addr === 'object') this.bound = { address: addr.address, port: addr.port };
        this.server = server;
        resolve();
      });
    });
  }

  /** The per-address cap on accepted connections: counts the socket, or closes it when its address is at the cap. */
  private admit(socket: Socket): void {
    const address = stripMapped(socket.remoteAddress ?? '');
    const count = this.acceptedPerAddress.get(address) ?? 0;
    if (count >= this.maxPerAddress) {
      const { log, suppressed } = this.refusalLog.hit(address);
      if (log) {
        this.options.logger.warn(
          { peer: address, protocol: this.protocol, limit: this.maxPerAddress, refusedSinceLastLog: suppressed },
          'SIP connection refused: too many connections from this address',
        );
      }
      socket.destroy();
      return;
    }
    this.acceptedPerAddress.set(address, count + 1);
    socket.once('close', () => {
      const left = (this.acceptedPerAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.acceptedPerAddress.delete(address);
      else this.acceptedPerAddress.set(address, left);
    });
  }

  /** Accepted connections from `address` now open (for tests and metrics). */
  acceptedFrom(address: string): number {
    return this.acceptedPerAddress.get(address) ?? 0;
  }

  /** Wires a socket (accepted or opened) into the connection table and the framer. */
  private adopt(socket: Socket, connKey: string, ready: Promise<void> = Promise.resolve()): Connection {
    const source: SourceAddress = {
      address: stripMapped(socket.remoteAddress ?? ''),
      port: socket.remotePort ?? 0,
      transport: this.protocol,
    };
    const connection: Connection = { socket, ready };
    this.connections.set(connKey, connection);
    const framer = new StreamFramer({ maxMessageBytes: this.options.maxMessageBytes });
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        if (frame.kind === 'message') {
          this.onCapture?.(this.captured('in', socket, frame.data));
          this.onMessage(frame.data, source);
        } else if (frame.kind === 'keepalive')
          socket.write('\r\n'); // RFC 5626 §4.4.1 pong
        else {
          this.onBroken(frame.data, source, frame.reason);
          // After the 400 (written a microtask later) has been queued.
          setImmediate(() => socket.end());
        }
      }
    });
    socket.on('error', (err) => {
      // Resets and timeouts are routine on long-lived connections: the connection closes, a later send reopens it.
      this.options.logger.debug({ err, peer: source }, 'SIP connection error; closing it');
      socket.destroy();
    });
    socket.on('close', () => {
      if (this.connections.get(connKey) === connection) this.connections.delete(connKey);
    });
    return connection;
  }

  send(message: SipMessage, dest: Destination): Promise<void> {
    return serialized(message, (data) => this.sendBuffer(data, dest));
  }

  sendBuffer(data: Buffer, dest: Destination): Promise<void> {
    if (!this.server) return Promise.reject(new Error(`${this.protocol.toUpperCase()} transport is not listening`));
    const connKey = peerKey(dest.address, dest.port);
    let connection = this.connections.get(connKey);
    if (!connection) {
      if (this.connections.size >= this.maxConnections) return Promise.reject(new Error('too many SIP connections'));
      connection = this.open(dest, connKey);
    }
    const open = connection;
    return connection.ready.then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (open.socket.destroyed) {
            reject(new Error(`connection to ${formatHostPort(dest.address, dest.port)} is closed`));
            return;
          }
          this.onCapture?.(this.captured('out', open.socket, data));
          open.socket.write(data, (err) => (err ? reject(err) : resolve()));
        }),
    );
  }

  /** A message on `socket` for the capture tap: the connection's own addresses (an opened one's port is ephemeral). */
  private captured(direction: 'in' | 'out', socket: Socket, bytes: Buffer): CapturedMessage {
    return {
      direction,
      transport: this.protocol,
      local: { address: stripMapped(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      remote: { address: stripMapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 },
      bytes,
      at: Date.now(),
    };
  }

  private open(dest: Destination, connKey: string): Connection {
    const tls = this.options.tls;
    let socket: Socket | TLSSocket;
    let readyEvent: string;
    if (this.protocol === 'tls' && tls) {
      socket = tlsConnect({
        host: dest.address,
        port: dest.port,
        ...(dest.hostname && !isIP(dest.hostname) ? { servername: dest.hostname } : {}),
        ...(tls.ca ? { ca: tls.ca } : {}),
        rejectUnauthorized: tls.verifyPeer ?? true,
      });
      readyEvent = 'secureConnect';
    } else {
      socket = netConnect({ host: dest.address, port: dest.port });
      readyEvent = 'connect';
    }
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${formatHostPort(dest.address, dest.port)} timed out`));
      }, this.connectTimeoutMs);
      timer.unref();
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    // The send that opened the connection fails with this error; here it is only kept from going unhandled.
    ready.catch((err: unknown) => this.options.logger.debug({ err, dest }, 'SIP connection not established'));
    return this.adopt(socket, connKey, ready);
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const { socket } of this.connections.values()) socket.destroy();
    this.connections.clear();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
