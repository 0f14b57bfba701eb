/**
 * UDP, TCP, TLS and WebSocket behind one Transport: sends pick the transport named by the destination, and
 * every inbound message carries the transport it came on (so responses return the same way).
 */

import type { SipTransport } from '../../ports/signaling.js';
import type { SipMessage } from './message.js';
import type { BrokenStreamHandler, StreamTransport } from './stream-transport.js';
import type { CaptureHook, Destination, MessageHandler, Transport } from './transport.js';
import type { UdpTransport } from './udp-transport.js';
import type { WsTransport } from './ws-transport.js';

export class TransportSet implements Transport {
  readonly protocol = 'udp' as const;
  // Replaced by the UA core before listen().
  private handler: MessageHandler = () => undefined;
  private brokenHandler: BrokenStreamHandler = () => undefined;
  private readonly byProtocol = new Map<SipTransport, Transport>();

  constructor(
    readonly udp: UdpTransport,
    readonly streams: StreamTransport[],
    /** SIP over WebSocket (browsers): answered only, over the connection each peer opened. */
    readonly webSockets: WsTransport[] = [],
  ) {
    this.byProtocol.set('udp', udp);
    for (const stream of streams) this.byProtocol.set(stream.protocol, stream);
    for (const ws of webSockets) this.byProtocol.set(ws.protocol, ws);
  }

  get onMessage(): MessageHandler {
    return this.handler;
  }

  set onMessage(handler: MessageHandler) {
    this.handler = handler;
    for (const t of this.byProtocol.values()) t.onMessage = handler;
  }

  set onBroken(handler: BrokenStreamHandler) {
    this.brokenHandler = handler;
    for (const stream of this.streams) stream.onBroken = handler;
  }

  get onBroken(): BrokenStreamHandler {
    return this.brokenHandler;
  }

  get onCapture(): CaptureHook | undefined {
    return this.udp.onCapture;
  }

  set onCapture(hook: CaptureHook | undefined) {
    for (const t of this.byProtocol.values()) t.onCapture = hook;
  }

  get local(): { address: string; port: number } {
    return this.udp.local;
  }

  /** Which transports are listening. */
  supports(protocol: SipTransport): boolean {
    return this.byProtocol.has(protocol);
  }

  localOf(protocol: SipTransport): { address: string; port: number } | undefined {
    return this.byProtocol.get(protocol)?.local;
  }

  hasFlow(dest: Destination): boolean {
    const stream =
      this.streams.find((s) => s.protocol === dest.transport) ??
      this.webSockets.find((s) => s.protocol === dest.transport);
    return stream?.hasConnection(dest) ?? false;
  }

  async listen(): Promise<void> {
    // With an ephemeral port, the port UDP got may be taken for TCP by someone else: try another.
    for (let attempt = 1; ; attempt++) {
      await this.udp.listen();
      try {
        // TCP listens on the port UDP got (they share it, §18); TLS has its own.
        for (const stream of this.streams) {
          await (stream.protocol === 'tcp' ? stream.listen(this.udp.local.port) : stream.listen());
        }
        for (const ws of this.webSockets) await ws.listen();
        return;
      } catch (err) {
        await this.close();
        const inUse = /in use|EADDRINUSE/.test(String((err as Error).message));
        if (!(inUse && this.udp.ephemeral && attempt < 5)) throw err;
      }
    }
  }

  send(message: SipMessage, dest: Destination): Promise<void> {
    const transport = this.byProtocol.get(dest.transport ?? 'udp');
    if (!transport) return Promise.reject(new Error(`transport ${dest.transport} is not enabled`));
    return transport.send(message, dest);
  }

  sendBuffer(data: Buffer, dest: Destination): Promise<void> {
    const transport = this.byProtocol.get(dest.transport ?? 'udp');
    if (!transport?.sendBuffer) return Promise.reject(new Error(`transport ${dest.transport} is not enabled`));
    return transport.sendBuffer(data, dest);
  }

  async close(): Promise<void> {
    await Promise.all([...this.byProtocol.values()].map((t) => t.close()));
  }
}
