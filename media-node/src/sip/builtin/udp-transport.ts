/** UDP transport over node:dgram. */

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { SipLogger } from './logger.js';
import type { SipMessage } from './message.js';
import { type CaptureHook, type Destination, type MessageHandler, serialized, type Transport } from './transport.js';
import { formatHostPort } from './uri.js';

export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const;
  onMessage: MessageHandler = () => undefined; // replaced by the UA core before listen()
  onCapture: CaptureHook | undefined;
  private socket: Socket | undefined;
  private bound = { address: '', port: 0 };

  constructor(
    private readonly bindHost: string,
    private readonly bindPort: number,
    private readonly logger: SipLogger,
  ) {}

  /** True when the port was left to the system (0): a new listen() may get another one. */
  get ephemeral(): boolean {
    return this.bindPort === 0;
  }

  get local(): { address: string; port: number } {
    return this.bound;
  }

  listen(): Promise<void> {
    // Large socket buffers ride out event-loop pauses (GC) at high call rates; the kernel caps them
    // at net.core.rmem_max / wmem_max.
    const socket = createSocket({
      type: isIPv6(this.bindHost) ? 'udp6' : 'udp4',
      recvBufferSize: 4 * 1024 * 1024,
      sendBufferSize: 4 * 1024 * 1024,
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        socket.close();
        const where = formatHostPort(this.bindHost, this.bindPort);
        const why = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.code ?? err.message})`;
        reject(new Error(`SIP UDP address ${where} ${why}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.bind(this.bindPort, this.bindHost, () => {
        socket.off('error', onError);
        // Later socket errors (e.g. ICMP port unreachable from a peer that went away) must not crash the process.
        socket.on('error', (err) => this.logger.debug({ err }, 'SIP UDP socket error'));
        const addr = socket.address();
        this.bound = { address: addr.address, port: addr.port };
        socket.on('message', (data, rinfo) => {
          // Captured before it is handled, so a capture shows a request before the responses it causes.
          this.onCapture?.({
            direction: 'in',
            transport: 'udp',
            local: this.bound,
            remote: { address: rinfo.address, port: rinfo.port },
            bytes: data,
            at: Date.now(),
          });
          this.onMessage(data, { address: rinfo.address, port: rinfo.port, transport: 'udp' });
        });
        this.socket = socket;
        resolve();
      });
    });
  }

  send(message: SipMessage, dest: Destination): Promise<void> {
    return serialized(message, (data) => this.sendBuffer(data, dest));
  }

  sendBuffer(data: Buffer, dest: Destination): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error('UDP transport is not listening'));
    this.onCapture?.({
      direction: 'out',
      transport: 'udp',
      local: this.bound,
      remote: { address: dest.address, port: dest.port },
      bytes: data,
      at: Date.now(),
    });
    return new Promise((resolve, reject) => {
      socket.send(data, dest.port, dest.address, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
