/**
 * SIP over WebSocket (RFC 7118), for browsers: the console's softphone. Each WebSocket message is one SIP
 * message. Browsers connect and never accept connections, so this transport only answers: a message to a
 * peer goes over the connection it opened, or fails. Every connection is authenticated before it is
 * upgraded: the URL's `token` query parameter is the tenant's short-lived softphone credential, and the
 * principal it names travels with every message (SourceAddress.principal), so the call flow can refuse
 * other tenants' numbers. Limits: connections in all and per address, failed upgrades per address, message
 * size (the WebSocket's maxPayload), idle time, and a ping that finds dead peers.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { SourceAddress, SourcePrincipal } from '../../ports/signaling.js';
import type { SipLogger } from './logger.js';
import type { SipMessage } from './message.js';
import type { TlsMaterial } from './stream-transport.js';
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

/** Admits an upgrade: the principal the connection will speak for, or undefined to refuse it (401). */
export type WsAuthorizer = (token: string) => Promise<SourcePrincipal | undefined>;

export interface WsTransportOptions {
  protocol: 'ws' | 'wss';
  bindHost: string;
  port: number;
  maxMessageBytes: number;
  authorize: WsAuthorizer;
  /** Open connections in all; default 10,000. */
  maxConnections?: number;
  /** Open connections from one IP address; default 64. */
  maxConnectionsPerAddress?: number;
  /** Refused upgrades (bad or missing token) one address may make per minute before it is refused unheard; default 20. */
  maxFailedUpgradesPerMinute?: number;
  /** A connection with no SIP message either way for this long is closed; default one hour (longer than a session refresh). */
  idleTimeoutMs?: number;
  /** Pings go out this often; a peer that did not answer the previous one is dropped. Default 30 s. */
  pingIntervalMs?: number;
  /** `wss` only. */
  tls?: TlsMaterial;
  logger: SipLogger;
}

interface Connection {
  socket: WebSocket;
  source: SourceAddress;
  local: { address: string; port: number };
  lastTraffic: number;
  alive: boolean;
}

/** RFC 7118 §4: the WebSocket subprotocol a SIP client asks for. */
const SIP_SUBPROTOCOL = 'sip';
/** Longest token read from the URL; a real one is about 75 characters. */
const MAX_TOKEN_LENGTH = 256;

export class WsTransport implements Transport {
  readonly protocol: 'ws' | 'wss';
  onMessage: MessageHandler = () => undefined; // replaced by the UA core before listen()
  onCapture: CaptureHook | undefined;
  private server: Server | undefined;
  private readonly wss: WebSocketServer;
  private bound = { address: '', port: 0 };
  private readonly connections = new Map<string, Connection>();
  private readonly perAddress = new Map<string, number>();
  private readonly failures = new Map<string, { minute: number; count: number }>();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private readonly maxFailures: number;
  private readonly idleTimeoutMs: number;
  private readonly pingIntervalMs: number;

  constructor(private readonly options: WsTransportOptions) {
    this.protocol = options.protocol;
    if (options.protocol === 'wss' && !options.tls) throw new Error('the WSS transport needs a certificate and key');
    this.maxConnections = options.maxConnections ?? 10_000;
    this.maxPerAddress = options.maxConnectionsPerAddress ?? 64;
    this.maxFailures = options.maxFailedUpgradesPerMinute ?? 20;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 3_600_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 30_000;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
  }

  get local(): { address: string; port: number } {
    return this.bound;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Whether the peer's connection is open (its dialogs' requests go over it). */
  hasConnection(dest: Destination): boolean {
    return this.connections.has(peerKey(dest.address, dest.port));
  }

  listen(): Promise<void> {
    const { bindHost, port, tls } = this.options;
    const server =
      this.protocol === 'wss' && tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createServer();
    // Plain HTTP requests get a short answer; only upgrades are served.
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
      res.end('SIP over WebSocket (RFC 7118): connect with the "sip" subprotocol\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err: unknown) => {
        this.options.logger.warn({ err }, 'SIP WebSocket upgrade failed');
        refuse(socket, 500, 'Internal Server Error');
      });
    });
    server.on('tlsClientError', (err) => this.options.logger.debug({ err }, 'WSS handshake failed'));
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(listenError(this.protocol, bindHost, port, err));
      server.once('error', onError);
      server.listen(port, bindHost, () => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger.warn({ err, protocol: this.protocol }, 'SIP server error'));
        const addr = server.address();
        if (addr && typeof addr === 'object') this.bound = { address: addr.address, port: addr.port };
        this.server = server;
        this.pingTimer = setInterval(() => this.sweep(), this.pingIntervalMs);
        this.pingTimer.unref();
        resolve();
      });
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const address = stripMapped(req.socket.remoteAddress ?? '');
    const port = req.socket.remotePort ?? 0;
    socket.on('error', (err) => this.options.logger.debug({ err, peer: address }, 'SIP WebSocket socket error'));
    if (this.connections.size >= this.maxConnections || (this.perAddress.get(address) ?? 0) >= this.maxPerAddress) {
      this.options.logger.warn(
        { peer: address, protocol: this.protocol },
        'SIP WebSocket refused: too many connections',
      );
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    if (this.failedRecently(address)) {
      refuse(socket, 429, 'Too Many Requests');
      return;
    }
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase());
    if (!protocols.includes(SIP_SUBPROTOCOL)) {
      refuse(socket, 400, 'Bad Request', 'the WebSocket subprotocol must be "sip" (RFC 7118)');
      return;
    }
    const token = tokenOf(req.url);
    const principal = token ? await this.options.authorize(token) : undefined;
    if (!principal || principal.expiresAtMs <= Date.now()) {
      this.countFailure(address);
      this.options.logger.info({ peer: address }, 'SIP WebSocket refused: no valid softphone credential');
      refuse(socket, 401, 'Unauthorized', 'a valid softphone credential is required (?token=)');
      return;
    }
    if (socket.destroyed) return; // the peer left while the credential was checked
    this.wss.handleUpgrade(req, socket, head, (ws) => this.adopt(ws, address, port, principal, req));
  }

  private adopt(ws: WebSocket, address: string, port: number, principal: SourcePrincipal, req: IncomingMessage): void {
    const connKey = peerKey(address, port);
    const source: SourceAddress = { address, port, transport: this.protocol, principal };
    const local = { address: stripMapped(req.socket.localAddress ?? ''), port: req.socket.localPort ?? 0 };
    const connection: Connection = { socket: ws, source, local, lastTraffic: Date.now(), alive: true };
    this.connections.set(connKey, connection);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    ws.on('pong', () => {
      connection.alive = true;
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      connection.lastTraffic = Date.now();
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.onCapture?.(this.captured('in', connection, bytes));
      this.onMessage(bytes, source);
    });
    ws.on('error', (err) => {
      // Oversized messages and protocol errors close the connection (ws sends the close code); the node carries on.
      this.options.logger.debug({ err, peer: source }, 'SIP WebSocket error; closing it');
    });
    ws.on('close', () => {
      if (this.connections.get(connKey) === connection) this.connections.delete(connKey);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  /** Pings every connection; drops those that did not answer the last ping or have been idle too long. */
  private sweep(): void {
    const now = Date.now();
    for (const connection of this.connections.values()) {
      if (!connection.alive || now - connection.lastTraffic > this.idleTimeoutMs) {
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  private failedRecently(address: string): boolean {
    const entry = this.failures.get(address);
    return entry !== undefined && entry.minute === currentMinute() && entry.count >= this.maxFailures;
  }

  private countFailure(address: string): void {
    const minute = currentMinute();
    const entry = this.failures.get(address);
    if (entry && entry.minute === minute) entry.count++;
    else {
      // One entry per address, dropped when its minute is over: memory follows the addresses failing this minute.
      if (this.failures.size > 10_000) {
        for (const [a, e] of this.failures) if (e.minute !== minute) this.failures.delete(a);
      }
      this.failures.set(address, { minute, count: 1 });
    }
  }

  send(message: SipMessage, dest: Destination): Promise<void> {
    return serialized(message, (data) => this.sendBuffer(data, dest));
  }

  sendBuffer(data: Buffer, dest: Destination): Promise<void> {
    const connection = this.connections.get(peerKey(dest.address, dest.port));
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) {
      return Promise.reject(new Error(`no open WebSocket from ${formatHostPort(dest.address, dest.port)}`));
    }
    connection.lastTraffic = Date.now();
    this.onCapture?.(this.captured('out', connection, data));
    return new Promise((resolve, reject) =>
      // Text frames: SIP is text, and browsers' SIP stacks read text frames.
      connection.socket.send(data, { binary: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  private captured(direction: 'in' | 'out', connection: Connection, bytes: Buffer): CapturedMessage {
    return {
      direction,
      transport: this.protocol,
      local: connection.local,
      remote: { address: connection.source.address, port: connection.source.port },
      bytes,
      at: Date.now(),
    };
  }

  close(): Promise<void> {
    clearInterval(this.pingTimer);
    const server = this.server;
    this.server = undefined;
    for (const { socket } of this.connections.values()) socket.terminate();
    this.connections.clear();
    this.wss.close();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** The `token` query parameter of the upgrade's URL, if it has a plausible length. */
function tokenOf(url: string | undefined): string | undefined {
  const base = 'http://ws.invalid';
  if (!url || !URL.canParse(url, base)) return undefined;
  const token = new URL(url, base).searchParams.get('token');
  return token && token.length <= MAX_TOKEN_LENGTH ? token : undefined;
}

/** Answers an upgrade with an HTTP error and closes the socket (no WebSocket is made). */
function refuse(socket: Duplex, status: number, reason: string, detail = reason): void {
  if (socket.destroyed) return;
  const body = `${detail}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function currentMinute(): number {
  return Math.floor(Date.now() / 60_000);
}
