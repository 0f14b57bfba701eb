/** SignalingPort backed by the built-in RFC 3261 stack (UDP today; TCP/TLS slot into Transport). */

import { networkInterfaces } from 'node:os';
import type { InboundCall, SignalingPort } from '../../ports/signaling.js';
import { type SipLogger, silentLogger } from './logger.js';
import { DEFAULT_PARSE_LIMITS } from './parser.js';
import { resolveTimers, type TimerSettings } from './timers.js';
import { UdpTransport } from './udp-transport.js';
import { UserAgent } from './user-agent.js';

export interface BuiltinSignalingOptions {
  /** Address to bind, e.g. '0.0.0.0' or '127.0.0.1'. Default '0.0.0.0'. */
  bindHost?: string;
  /** UDP port to bind; 0 picks a free port. Default 5060. */
  port?: number;
  /** Host put in Via and Contact. Default: bindHost (the first external IPv4 when bindHost is a wildcard). */
  advertisedHost?: string;
  /** Port put in Via and Contact. Default: the bound port. */
  advertisedPort?: number;
  /** Timer overrides (tests shorten T1). */
  timers?: Partial<TimerSettings>;
  logger?: SipLogger;
  /** Largest datagram accepted, default 65535 bytes. */
  maxMessageSize?: number;
  /** How long stop() waits for BYEs to be answered, default 2000 ms. */
  shutdownTimeoutMs?: number;
  /** Server header value; omitted by default. */
  productName?: string;
}

export class BuiltinSignaling implements SignalingPort {
  private readonly transport: UdpTransport;
  private readonly userAgent: UserAgent;
  private readonly advertisedAddress: { host: string; port: number };
  private readonly explicitAdvertisedPort: boolean;
  private readonly shutdownTimeoutMs: number;
  private started = false;

  constructor(options: BuiltinSignalingOptions = {}) {
    const bindHost = options.bindHost ?? '0.0.0.0';
    const port = options.port ?? 5060;
    this.transport = new UdpTransport(bindHost, port);
    this.advertisedAddress = {
      host: options.advertisedHost ?? defaultAdvertisedHost(bindHost),
      port: options.advertisedPort ?? port,
    };
    this.explicitAdvertisedPort = options.advertisedPort !== undefined;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 2000;
    this.userAgent = new UserAgent(this.transport, {
      advertised: this.advertisedAddress,
      timers: resolveTimers(options.timers),
      logger: options.logger ?? silentLogger,
      limits: {
        ...DEFAULT_PARSE_LIMITS,
        maxMessageBytes: options.maxMessageSize ?? DEFAULT_PARSE_LIMITS.maxMessageBytes,
      },
      ...(options.productName === undefined ? {} : { productName: options.productName }),
    });
  }

  get advertised(): { host: string; port: number } {
    return { ...this.advertisedAddress };
  }

  /** The bound UDP address (useful with port 0). */
  get local(): { address: string; port: number } {
    return this.transport.local;
  }

  async start(onInvite: (call: InboundCall) => void): Promise<void> {
    if (this.started) throw new Error('BuiltinSignaling already started');
    await this.transport.listen();
    this.started = true;
    // Mutated in place: the UA core holds the same object.
    if (!this.explicitAdvertisedPort) this.advertisedAddress.port = this.transport.local.port;
    this.userAgent.start(onInvite);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.userAgent.shutdown(this.shutdownTimeoutMs);
    await this.transport.close();
  }
}

function defaultAdvertisedHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const addr of addresses ?? []) {
      if (addr.family === 'IPv4' && !addr.internal) return addr.address;
    }
  }
  return '127.0.0.1';
}
