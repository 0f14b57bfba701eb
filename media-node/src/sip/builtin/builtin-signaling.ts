/** SignalingPort backed by the built-in RFC 3261 stack: UDP and TCP on one port, TLS when configured. */

import { networkInterfaces } from 'node:os';
import type {
  InboundCall,
  OutboundCallRequest,
  OutboundDialog,
  SignalingPort,
  SipTransport,
} from '../../ports/signaling.js';
import { type SipLogger, silentLogger } from './logger.js';
import { DEFAULT_PARSE_LIMITS } from './parser.js';
import type { DnsClient } from './resolver.js';
import { DEFAULT_SESSION_TIMER } from './session-timer.js';
import type { InviteRateLimit } from './source-limits.js';
import { StreamTransport, type TlsMaterial } from './stream-transport.js';
import { resolveTimers, type TimerSettings } from './timers.js';
import type { CaptureHook } from './transport.js';
import { TransportSet } from './transport-set.js';
import { UdpTransport } from './udp-transport.js';
import { UserAgent, type UserAgentOptions } from './user-agent.js';
import { type WsAuthorizer, WsTransport } from './ws-transport.js';

export interface BuiltinSignalingOptions {
  /** Address to bind, e.g. '0.0.0.0' or '127.0.0.1'. Default '0.0.0.0'. */
  bindHost?: string;
  /** UDP and TCP port to bind; 0 picks a free port. Default 5060. */
  port?: number;
  /** Transports besides TLS; default ['udp', 'tcp']. UDP is always on. */
  transports?: ('udp' | 'tcp')[];
  /** Enables TLS (RFC 3261 §26.2) with this certificate and key. */
  tls?: TlsMaterial & {
    /** Default 5061; 0 picks a free port. */
    port?: number;
  };
  /** The outbound address policy for requests this stack originates (see UserAgentOptions). */
  destinationPolicy?: (address: string) => string | undefined;
  /** Host put in Via and Contact. Default: bindHost (the first external IPv4 when bindHost is a wildcard). */
  advertisedHost?: string;
  /** Port put in Via and Contact for UDP and TCP. Default: the bound port. */
  advertisedPort?: number;
  /** Port put in Via and Contact for TLS. Default: the bound TLS port. */
  advertisedTlsPort?: number;
  /**
   * SIP over WebSocket (RFC 7118) for browsers: WSS with `tls`'s certificate when `secure`, else WS. Every
   * connection is admitted by `authorize` (the softphone credential in the URL's `token`); 0 picks a free port.
   */
  webSocket?: { port: number; secure: boolean; authorize: WsAuthorizer };
  /** Timer overrides (tests shorten T1). */
  timers?: Partial<TimerSettings>;
  logger?: SipLogger;
  /** Largest message accepted (datagram or framed), default 65535 bytes. */
  maxMessageSize?: number;
  /** TCP/TLS connections at most (accepted and opened), default 10,000. */
  maxConnections?: number;
  /** TCP/TLS connections accepted from one IP address at once, default 64; more are closed at once. */
  maxConnectionsPerAddress?: number;
  /**
   * New INVITEs (outside a dialog) per source IP: a token bucket of `burst` (default 2 × perSecond)
   * refilled at `perSecond`. Over it: 503 with Retry-After, sent statelessly; more than `perSecond`
   * refusals in a second: dropped. Off when absent (the media node sets it from configuration,
   * SIP_INVITE_RATE_PER_SOURCE).
   */
  inviteRateLimit?: InviteRateLimit;
  /** TCP/TLS connections idle this long are closed, default 10 minutes. */
  connectionIdleTimeoutMs?: number;
  /** How long stop() waits for BYEs to be answered, default 2000 ms. */
  shutdownTimeoutMs?: number;
  /** An INVITE the application leaves unanswered this long gets 500, default 180 s. */
  inviteSafetyTimeoutMs?: number;
  /**
   * RFC 4028 session timers (docs/sip.md): the session interval we ask for and apply, default 1800 s
   * (SESSION_EXPIRES_SEC), and the smallest we accept, default 90 s, the RFC's floor
   * (SESSION_MIN_SE_SEC); a shorter Session-Expires gets 422. Values below 90 s are for tests.
   */
  sessionExpiresSec?: number;
  sessionMinSeSec?: number;
  /** Server / User-Agent header value; omitted by default. */
  productName?: string;
  /** DNS client for RFC 3263 resolution (tests inject one). */
  dns?: DnsClient;
  /** Sees every SIP message sent and received on every transport (the media node's HEP capture). */
  capture?: CaptureHook;
}

export class BuiltinSignaling implements SignalingPort {
  private readonly transport: TransportSet;
  private readonly userAgent: UserAgent;
  private readonly advertisedAddress: { host: string; port: number };
  private readonly explicitAdvertisedPort: boolean;
  private readonly explicitTlsPort: boolean;
  private readonly uaOptions: UserAgentOptions;
  private readonly shutdownTimeoutMs: number;
  private started = false;

  constructor(options: BuiltinSignalingOptions = {}) {
    const bindHost = options.bindHost ?? '0.0.0.0';
    const port = options.port ?? 5060;
    const maxMessageBytes = options.maxMessageSize ?? DEFAULT_PARSE_LIMITS.maxMessageBytes;
    const logger = options.logger ?? silentLogger;
    const connectionCommon = {
      bindHost,
      maxMessageBytes,
      logger,
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.maxConnectionsPerAddress === undefined
        ? {}
        : { maxConnectionsPerAddress: options.maxConnectionsPerAddress }),
    };
    const streamCommon = {
      ...connectionCommon,
      ...(options.connectionIdleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.connectionIdleTimeoutMs }),
    };
    const streams: StreamTransport[] = [];
    if ((options.transports ?? ['udp', 'tcp']).includes('tcp')) {
      streams.push(new StreamTransport({ ...streamCommon, protocol: 'tcp', port }));
    }
    if (options.tls) {
      streams.push(
        new StreamTransport({ ...streamCommon, protocol: 'tls', port: options.tls.port ?? 5061, tls: options.tls }),
      );
    }
    const webSockets: WsTransport[] = [];
    if (options.webSocket) {
      const { secure, port: wsPort, authorize } = options.webSocket;
      if (secure && !options.tls) throw new Error('SIP over secure WebSocket (WSS) needs the TLS certificate and key');
      webSockets.push(
        new WsTransport({
          // Not the TCP idle timeout: a browser's call may carry no SIP for longer than that (ping finds dead peers).
          ...connectionCommon,
          protocol: secure ? 'wss' : 'ws',
          port: wsPort,
          authorize,
          ...(secure && options.tls ? { tls: options.tls } : {}),
        }),
      );
    }
    this.transport = new TransportSet(new UdpTransport(bindHost, port, logger), streams, webSockets);
    if (options.capture) this.transport.onCapture = options.capture;
    this.advertisedAddress = {
      host: options.advertisedHost ?? defaultAdvertisedHost(bindHost),
      port: options.advertisedPort ?? port,
    };
    this.explicitAdvertisedPort = options.advertisedPort !== undefined;
    this.explicitTlsPort = options.advertisedTlsPort !== undefined;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 2000;
    // Mutated in start() when ports were 0: the UA core reads the same objects.
    this.uaOptions = {
      advertised: this.advertisedAddress,
      timers: resolveTimers(options.timers),
      logger,
      limits: { ...DEFAULT_PARSE_LIMITS, maxMessageBytes },
      ...(options.tls ? { advertisedTlsPort: options.advertisedTlsPort ?? options.tls.port ?? 5061 } : {}),
      ...(options.productName === undefined ? {} : { productName: options.productName }),
      ...(options.dns === undefined ? {} : { dns: options.dns }),
      ...(options.inviteSafetyTimeoutMs === undefined ? {} : { inviteSafetyTimeoutMs: options.inviteSafetyTimeoutMs }),
      ...(options.inviteRateLimit === undefined ? {} : { inviteRateLimit: options.inviteRateLimit }),
      ...(options.destinationPolicy ? { destinationPolicy: options.destinationPolicy } : {}),
      sessionTimer: {
        expiresSec: options.sessionExpiresSec ?? DEFAULT_SESSION_TIMER.expiresSec,
        minSeSec: options.sessionMinSeSec ?? DEFAULT_SESSION_TIMER.minSeSec,
      },
    };
    this.userAgent = new UserAgent(this.transport, this.uaOptions);
  }

  get advertised(): { host: string; port: number } {
    return { ...this.advertisedAddress };
  }

  /** The bound UDP address (useful with port 0). */
  get local(): { address: string; port: number } {
    return this.transport.local;
  }

  /** The bound address of each enabled transport. */
  localOf(protocol: SipTransport): { address: string; port: number } | undefined {
    return this.transport.supports(protocol) ? this.transport.localOf(protocol) : undefined;
  }

  /** Open dialogs (the benchmark reports it). */
  get dialogCount(): number {
    return this.userAgent.dialogCount;
  }

  async start(onInvite: (call: InboundCall) => void): Promise<void> {
    if (this.started) throw new Error('BuiltinSignaling already started');
    await this.transport.listen();
    this.started = true;
    if (!this.explicitAdvertisedPort) this.advertisedAddress.port = this.transport.local.port;
    const tlsLocal = this.transport.localOf('tls');
    if (tlsLocal && !this.explicitTlsPort) this.uaOptions.advertisedTlsPort = tlsLocal.port;
    const wsLocal = this.transport.localOf('ws') ?? this.transport.localOf('wss');
    if (wsLocal) this.uaOptions.advertisedWsPort = wsLocal.port;
    this.userAgent.start(onInvite);
  }

  placeCall(request: OutboundCallRequest): Promise<OutboundDialog> {
    return this.userAgent.placeCall(request);
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
