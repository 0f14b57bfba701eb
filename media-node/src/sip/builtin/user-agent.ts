/**
 * The UA core (RFC 3261 §8, §12, §17 dispatch): routes each inbound message to a transaction,
 * a dialog or a new InboundCall, and sends our own requests (choosing transport and Via).
 */

import type {
  InboundCall,
  OutboundCallRequest,
  OutboundDialog,
  SipTransport,
  SourceAddress,
} from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { dialogHeadersProblem, dialogKey, type RequestTarget, type SipDialog } from './dialog.js';
import { newBranch, newTag } from './ids.js';
import { type InboundCallHost, PendingInboundCall } from './inbound-call.js';
import type { SipLogger } from './logger.js';
import {
  Headers,
  type ParsedRequest,
  type ParsedResponse,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js';
import { OutboundCall, type OutboundHost } from './outbound-call.js';
import { type ParseLimits, parseMessage, SipParseError } from './parser.js';
import { type DnsClient, resolveSipUri, systemDns } from './resolver.js';
import {
  buildResponse,
  type ResponseOptions,
  responseDestination,
  stampTopVia,
  stampTopViaHeader,
  statelessToTag,
} from './responses.js';
import { RetiredTransactions } from './retired-transactions.js';
import { serializeMessage } from './serializer.js';
import {
  checkSessionTimerSettings,
  DEFAULT_SESSION_TIMER,
  negotiateAsUas,
  type SessionTimerSettings,
} from './session-timer.js';
import { type InviteRateLimit, InviteRateLimiter, LogThrottle } from './source-limits.js';
import type { BrokenStreamHandler } from './stream-transport.js';
import type { TimerSettings } from './timers.js';
import {
  ClientInviteTransaction,
  ClientNonInviteTransaction,
  clientTransactionKey,
  ServerInviteTransaction,
  ServerNonInviteTransaction,
  serverTransactionKey,
} from './transactions.js';
import type { Destination, Transport } from './transport.js';
import { formatHostPort } from './uri.js';
import { checkExtraHeaders, checkMaxForwards, checkSipUri, checkText, hasControl } from './wire-safety.js';

export const SUPPORTED_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'UPDATE'] as const;
/** Methods we know but do not implement: 405 with Allow (§8.2.1); anything else is 501. */
const KNOWN_UNSUPPORTED_METHODS = new Set(['REGISTER', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'PUBLISH', 'REFER', 'PRACK']);
const ALLOW = SUPPORTED_METHODS.join(', ');
const ACCEPT = 'application/sdp, application/dtmf-relay, application/dtmf';
/** Option tags we implement: RFC 4028 session timers. A Require of anything else gets 420 (§8.2.2.3). */
const SUPPORTED_OPTION_TAGS = new Set(['timer']);
/**
 * §18.1.1: a request within 200 bytes of the path MTU, or larger than 1300 bytes when the MTU is
 * unknown, goes over a congestion-controlled transport. We do not know the MTU.
 */
const UDP_SIZE_LIMIT = 1300;
/** Default for the safety timer on INVITEs the application never answers (see docs/sip.md). */
export const DEFAULT_INVITE_SAFETY_TIMEOUT_MS = 180_000;

/** What the UA needs of its transport beyond sending (TransportSet provides it; a bare UDP transport need not). */
export interface TransportCapabilities {
  supports?(protocol: SipTransport): boolean;
  hasFlow?(dest: Destination): boolean;
  onBroken?: BrokenStreamHandler;
}

export interface UserAgentOptions {
  /** Host and port for Via/Contact on UDP and TCP (they share the port, §18). */
  advertised: { host: string; port: number };
  /** Port for Via/Contact on TLS. */
  advertisedTlsPort?: number;
  /** Port put in Via and Contact for SIP over WebSocket (WS or WSS). */
  advertisedWsPort?: number;
  timers: TimerSettings;
  logger: SipLogger;
  limits: ParseLimits;
  /** Sent as User-Agent/Server; omitted when empty. */
  productName?: string;
  /** DNS for RFC 3263 resolution; the system resolver by default. */
  dns?: DnsClient;
  /** Hostname → IP only (A/AAAA), for tests that want no NAPTR/SRV; overrides `dns.lookup`. */
  lookupHost?: (host: string, family: 4 | 6 | undefined) => Promise<string>;
  /** An INVITE without a final response this long after it arrived gets 500 (default 180 s, Timer C's floor). */
  inviteSafetyTimeoutMs?: number;
  /** New INVITEs per source IP (token bucket): over it 503 + Retry-After, far over dropped. Off when absent. */
  inviteRateLimit?: InviteRateLimit;
  /**
   * The outbound address policy for every request this stack originates (a call it places, in-dialog
   * requests to a remote target): why an address may not be sent to, or undefined when it may. Checked
   * on the address each RFC 3263 resolution actually yields, so DNS cannot point past it.
   */
  destinationPolicy?: (address: string) => string | undefined;
  /** RFC 4028 session timers: the interval we want and the minimum we accept (default 1800 s / 90 s). */
  sessionTimer?: SessionTimerSettings;
}

type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;
type ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction;

export class UserAgent implements InboundCallHost, OutboundHost {
  readonly timers: TimerSettings;
  readonly logger: SipLogger;
  readonly capabilityHeaders = { Allow: ALLOW, Accept: ACCEPT, Supported: 'timer' };
  readonly sessionTimer: SessionTimerSettings;
  private readonly limits: ParseLimits;
  private readonly dns: DnsClient;
  private readonly serverTransactions = new Map<string, ServerTransaction>();
  private readonly retired = new RetiredTransactions();
  private readonly clientTransactions = new Map<string, ClientTransaction>();
  private readonly pendingCalls = new Map<string, PendingInboundCall>();
  private readonly outboundCalls = new Set<OutboundCall>();
  private readonly dialogs = new Map<string, SipDialog>();
  private onInvite: ((call: InboundCall) => void) | undefined;
  private accepting = false;
  private readonly inviteLimiter: InviteRateLimiter | undefined;
  /** One warning per source and interval for dropped garbage and rate-limited INVITEs, not one per packet. */
  private readonly malformedLog = new LogThrottle();
  private readonly rateLog = new LogThrottle();

  constructor(
    private readonly transport: Transport & TransportCapabilities,
    private readonly options: UserAgentOptions,
  ) {
    this.timers = options.timers;
    this.logger = options.logger;
    this.limits = options.limits;
    this.sessionTimer = options.sessionTimer ?? DEFAULT_SESSION_TIMER;
    checkSessionTimerSettings(this.sessionTimer);
    const base = options.dns ?? systemDns();
    this.dns = options.lookupHost ? { ...base, lookup: options.lookupHost } : base;
    this.inviteLimiter = options.inviteRateLimit ? new InviteRateLimiter(options.inviteRateLimit) : undefined;
    transport.onMessage = (data, source) => this.receive(data, source);
    transport.onBroken = (head, source, reason) => this.handleBrokenStream(head, source, reason);
  }

  get advertised(): { host: string; port: number } {
    return this.options.advertised;
  }

  get productName(): string | undefined {
    return this.options.productName;
  }

  get inviteSafetyTimeoutMs(): number {
    return this.options.inviteSafetyTimeoutMs ?? DEFAULT_INVITE_SAFETY_TIMEOUT_MS;
  }

  /** Open dialogs (for tests and the benchmark). */
  get dialogCount(): number {
    return this.dialogs.size;
  }

  /** Server transactions held, live and retired (for tests: stateless answers leave none). */
  get serverTransactionCount(): number {
    return this.serverTransactions.size + this.retired.size;
  }

  start(onInvite: (call: InboundCall) => void): void {
    this.onInvite = onInvite;
    this.accepting = true;
  }

  /** Entry point for every datagram or framed stream message. Never throws. */
  receive(data: Buffer, source: SourceAddress): void {
    try {
      let message: ParsedRequest | ParsedResponse;
      try {
        message = parseMessage(data, this.limits);
      } catch (err) {
        this.handleParseError(err, source);
        return;
      }
      if (message.type === 'request') this.handleRequest(message, source);
      else this.handleResponse(message);
    } catch (err) {
      this.logger.error({ err, source }, 'unexpected error handling a SIP message');
    }
  }

  /**
   * A malformed message (parser.ts). A request whose top Via could be read gets `400 <fault>` (or
   * 505/513) sent statelessly (§8.2.7): no transaction is created, nothing is kept, a retransmission
   * is answered again the same way (same To tag). Responses, ACKs and anything without a readable Via
   * are dropped (§18.3: a bad response is discarded), logged once per source and interval.
   */
  private handleParseError(err: unknown, source: SourceAddress): void {
    const parseError = err instanceof SipParseError ? err : undefined;
    const reason = parseError?.reason ?? 'Bad Request';
    const request = parseError?.request;
    if (!request || request.method === 'ACK') {
      const { log, suppressed } = this.malformedLog.hit(source.address);
      if (log) {
        this.logger.warn(
          { source, reason, detail: parseError?.detail, suppressedSinceLastLog: suppressed },
          'malformed SIP message dropped (no readable Via, a response, or an ACK)',
        );
      }
      return;
    }
    this.logger.debug(
      { source, reason, detail: parseError.detail, method: request.method },
      'malformed SIP request answered',
    );
    try {
      const top = stampTopViaHeader(request.headers, source);
      const response = buildResponse(request, parseError.status, { reason, toTag: statelessToTag(request) });
      if (this.options.productName) response.headers.add('Server', this.options.productName);
      this.sendRaw(response, responseDestination(top, source));
    } catch (failure) {
      // parser.ts guarantees a readable top Via; anything else is a bug, reported but survived.
      this.logger.warn({ err: failure, source, reason }, 'could not answer a malformed SIP request');
    }
  }

  /** A stream whose framing broke: answer 400 if the head is a readable request; the transport then closes it. */
  private handleBrokenStream(head: Buffer, source: SourceAddress, reason: string): void {
    this.logger.warn({ source, reason }, 'SIP stream framing broken; closing the connection');
    if (head.length === 0) return;
    let message: ParsedRequest | ParsedResponse;
    try {
      message = parseMessage(head, this.limits);
    } catch (err) {
      this.handleParseError(err, source);
      return;
    }
    if (message.type !== 'request' || message.method === 'ACK') return;
    stampTopVia(message, source);
    const response = buildResponse(message, 400, { reason, toTag: statelessToTag(message) });
    this.sendRaw(response, responseDestination(message.vias[0]!, source));
  }

  /**
   * The per-source INVITE rate (source-limits.ts): true to go on; otherwise 503 with Retry-After was
   * sent statelessly, or nothing when the source is far over its rate.
   */
  private admitInvite(request: ParsedRequest, source: SourceAddress, dest: Destination): boolean {
    if (!this.inviteLimiter) return true;
    const verdict = this.inviteLimiter.take(source.address);
    if (verdict.kind === 'accept') return true;
    const { log, suppressed } = this.rateLog.hit(source.address);
    if (log) {
      this.logger.warn(
        {
          source: source.address,
          perSecond: this.inviteLimiter.perSecond,
          burst: this.inviteLimiter.burst,
          verdict: verdict.kind,
          limitedSinceLastLog: suppressed,
        },
        'INVITE rate per source exceeded: answering 503 Retry-After, dropping when far over',
      );
    }
    if (verdict.kind === 'refuse') {
      // Stateless (§8.2.7): a flood must not leave a transaction per INVITE behind.
      const response = this.buildResponse(request, 503, {
        toTag: statelessToTag(request),
        headers: { 'Retry-After': String(verdict.retryAfterS) },
      });
      this.sendRaw(response, dest);
    }
    return false;
  }

  // ---- outbound ----

  private sendBytes(data: Buffer, dest: Destination): void {
    const send = this.transport.sendBuffer ? this.transport.sendBuffer(data, dest) : Promise.resolve();
    send.catch((err: unknown) => this.logger.warn({ err, dest }, 'SIP send failed'));
  }

  sendRaw(message: SipMessage, dest: Destination): void {
    this.transport.send(message, dest).catch((err: unknown) => {
      this.logger.warn({ err, dest }, 'SIP send failed');
    });
  }

  buildResponse(request: ParsedRequest, status: number, options?: ResponseOptions): SipResponse {
    const response = buildResponse(request, status, options);
    if (this.options.productName) response.headers.add('Server', this.options.productName);
    return response;
  }

  supportsTransport(protocol: SipTransport): boolean {
    return this.transport.supports ? this.transport.supports(protocol) : protocol === this.transport.protocol;
  }

  /** The Contact for a dialog over `transport` (RFC 3261 §8.1.1.8), with `user` if given. */
  contactFor(transport: SipTransport, user = ''): string {
    const { host } = this.options.advertised;
    const port = this.sentByPort(transport);
    const userPart = user === '' ? '' : `${user}@`;
    const param = transport === 'udp' ? '' : `;transport=${transport}`;
    return `<sip:${userPart}${formatHostPort(host, port)}${param}>`;
  }

  private sentByPort(transport: SipTransport): number {
    if (transport === 'tls') return this.options.advertisedTlsPort ?? this.options.advertised.port;
    if (transport === 'ws' || transport === 'wss') return this.options.advertisedWsPort ?? this.options.advertised.port;
    return this.options.advertised.port;
  }

  /** Resolves a target URI (or outbound proxy `host[:port]`) per RFC 3263. */
  async resolve(uriText: string, transport?: SipTransport): Promise<Destination> {
    try {
      const enabled = new Set<SipTransport>((['udp', 'tcp', 'tls'] as const).filter((t) => this.supportsTransport(t)));
      const dest = await resolveSipUri(uriText, {
        enabled,
        dns: this.dns,
        onLookupFailure: (err, name) => this.logger.debug({ err, name }, 'DNS lookup failed; trying the next step'),
        ...(transport ? { transport } : {}),
        ...(this.family() ? { family: this.family()! } : {}),
      });
      if (!this.supportsTransport(dest.transport ?? 'udp')) {
        throw new Error(`transport ${dest.transport} is not enabled here`);
      }
      const refusal = this.options.destinationPolicy?.(dest.address);
      if (refusal) throw new Error(`destination not allowed by the outbound address policy: ${refusal}`);
      return dest;
    } catch (err) {
      throw new SignalingError('transport-error', `cannot route to ${uriText}: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
  }

  async resolveTarget(target: RequestTarget): Promise<Destination> {
    if (target.flow && this.transport.hasFlow?.(target.flow)) return target.flow;
    const explicit = /;\s*transport=/i.test(target.uri) || /^sips:/i.test(target.uri);
    return this.resolve(target.uri, explicit ? undefined : target.transport);
  }

  /** §18.1.1: large requests leave UDP for TCP when TCP is enabled. */
  chooseTransport(request: SipRequest, dest: Destination): Destination {
    if ((dest.transport ?? 'udp') !== 'udp' || !this.supportsTransport('tcp')) return dest;
    let size: number;
    try {
      size = serializeMessage(request).length;
    } catch (err) {
      // Refused text: the send itself fails with this SipWireError, and the call with it.
      this.logger.debug({ err }, 'request refused by the serializer');
      return dest;
    }
    if (size + 120 <= UDP_SIZE_LIMIT) return dest;
    return { ...dest, transport: 'tcp' };
  }

  /** Adds our top Via for `dest`'s transport (replacing any), with `branch` or a new one. */
  stampVia(request: SipRequest, dest: Destination, branch = newBranch()): string {
    const transport = dest.transport ?? 'udp';
    const sentBy = formatHostPort(this.options.advertised.host, this.sentByPort(transport));
    request.headers.remove('via');
    request.headers.prepend('Via', `SIP/2.0/${transport.toUpperCase()} ${sentBy};branch=${branch};rport`);
    if (this.options.productName && !request.headers.has('user-agent')) {
      request.headers.add('User-Agent', this.options.productName);
    }
    return branch;
  }

  /** Sends a non-INVITE request through a new client transaction (§17.1.2). */
  async sendRequest(request: SipRequest, target: RequestTarget): Promise<SipResponse> {
    const dest = this.chooseTransport(request, await this.resolveTarget(target));
    return this.sendRequestTo(request, dest);
  }

  sendRequestTo(request: SipRequest, dest: Destination, branch?: string): Promise<SipResponse> {
    const viaBranch = this.stampVia(request, dest, branch);
    const key = clientTransactionKey(viaBranch, request.method);
    const transaction = new ClientNonInviteTransaction(request, dest, {
      send: (message, to) => this.transport.send(message, to),
      timers: this.timers,
      logger: this.logger,
      onTerminated: () => this.clientTransactions.delete(key),
    });
    this.clientTransactions.set(key, transaction);
    transaction.start();
    return transaction.result;
  }

  async sendInvite(
    request: SipRequest,
    target: RequestTarget,
    onResponse?: (response: ParsedResponse, dest: Destination) => void,
  ): Promise<{ response: ParsedResponse; dest: Destination }> {
    const dest = this.chooseTransport(request, await this.resolveTarget(target));
    return new Promise((resolve, reject) => {
      let settled = false;
      this.startInvite(request, dest, {
        onResponse: (response) => {
          onResponse?.(response, dest);
          if (response.status >= 200 && !settled) {
            settled = true;
            resolve({ response, dest });
          }
        },
        onFailure: (err) => {
          if (!settled) reject(err);
        },
      });
    });
  }

  /** Starts an INVITE client transaction (§17.1.1) to `dest`, adding our Via. */
  startInvite(
    request: SipRequest,
    dest: Destination,
    handlers: { onResponse: (response: ParsedResponse) => void; onFailure: (err: SignalingError) => void },
  ): ClientInviteTransaction {
    const branch = this.stampVia(request, dest);
    const key = clientTransactionKey(branch, 'INVITE');
    const transaction = new ClientInviteTransaction(request, dest, {
      send: (message, to) => this.transport.send(message, to),
      timers: this.timers,
      logger: this.logger,
      onTerminated: () => this.clientTransactions.delete(key),
      onResponse: handlers.onResponse,
      onFailure: handlers.onFailure,
      buildAck: (response) => ackForNon2xx(request, response),
    });
    this.clientTransactions.set(key, transaction);
    transaction.start();
    return transaction;
  }

  placeCall(request: OutboundCallRequest): Promise<OutboundDialog> {
    if (!this.accepting) return Promise.reject(new SignalingError('invalid-state', 'the SIP stack is not running'));
    try {
      checkOutboundRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    const call = new OutboundCall(this, request);
    this.outboundCalls.add(call);
    const result = call.run();
    result.then(
      () => this.outboundCalls.delete(call),
      (err: unknown) => {
        this.outboundCalls.delete(call);
        // The caller of placeCall gets this error; logged at debug in case it does not wait.
        this.logger.debug({ err, target: request.target }, 'outbound call not established');
      },
    );
    return result;
  }

  // ---- inbound ----

  private handleResponse(response: ParsedResponse): void {
    const transaction = this.clientTransactions.get(
      clientTransactionKey(response.vias[0]?.branch, response.cseq.method),
    );
    if (transaction) {
      transaction.receive(response);
      return;
    }
    // A 2xx retransmitted after its transaction ended: the UAC core resends the ACK (§13.2.2.4).
    if (response.cseq.method === 'INVITE' && response.status >= 200 && response.status < 300) {
      const dialog = this.dialogs.get(dialogKey(response.callId, response.from.tag ?? '', response.to.tag ?? ''));
      if (dialog?.role === 'uac') {
        dialog.acknowledge2xx(response);
        return;
      }
    }
    this.logger.debug({ status: response.status, callId: response.callId }, 'stray response dropped');
  }

  private handleRequest(request: ParsedRequest, source: SourceAddress): void {
    stampTopVia(request, source);
    const dest = responseDestination(request.vias[0]!, source);

    if (request.method === 'ACK') {
      this.handleAck(request);
      return;
    }
    const key = serverTransactionKey(request);
    const existing = this.serverTransactions.get(key);
    if (existing) {
      existing.receive(request); // retransmission (§17.2.3)
      return;
    }
    const retired = this.retired.get(key);
    if (retired) {
      if (retired.response) this.sendBytes(retired.response, retired.dest);
      return;
    }
    // A new INVITE outside a dialog (not a retransmission, which matched above) counts against its source.
    if (request.method === 'INVITE' && request.to.tag === undefined && !this.admitInvite(request, source, dest)) return;
    const transaction = this.createServerTransaction(key, request, dest);
    const respond = (status: number, options?: ResponseOptions): SipResponse => {
      const response = this.buildResponse(request, status, { toTag: newTag(), ...options });
      transaction.respond(response);
      return response;
    };

    if (request.method === 'CANCEL') {
      this.handleCancel(request, respond);
      return;
    }
    if (!this.passesRequestChecks(request, respond)) return;

    const toTag = request.to.tag;
    if (toTag !== undefined) {
      const dialog = this.dialogs.get(dialogKey(request.callId, toTag, request.from.tag ?? ''));
      if (!dialog) {
        respond(481);
        return;
      }
      // The re-INVITE's answer may wait on the app; stop the peer's retransmissions (§17.2.1).
      if (request.method === 'INVITE') respond(100);
      dialog.handleRequest({ request, respond, dest });
      return;
    }

    switch (request.method) {
      case 'INVITE':
        this.handleInitialInvite(request, source, transaction as ServerInviteTransaction, key);
        return;
      case 'OPTIONS':
        respond(200, { headers: this.capabilityHeaders });
        return;
      default:
        // BYE / INFO outside a dialog (§12.2.2).
        respond(481);
    }
  }

  /** §8.2.1-8.2.2 and §16.3 checks shared by every request except ACK and CANCEL. */
  private passesRequestChecks(
    request: ParsedRequest,
    respond: (status: number, options?: ResponseOptions) => SipResponse,
  ): boolean {
    const maxForwards = request.headers.get('max-forwards');
    if (maxForwards !== undefined && Number(maxForwards) === 0 && request.method !== 'OPTIONS') {
      respond(483);
      return false;
    }
    if (!(SUPPORTED_METHODS as readonly string[]).includes(request.method)) {
      if (KNOWN_UNSUPPORTED_METHODS.has(request.method)) respond(405, { headers: { Allow: ALLOW } });
      else respond(501);
      return false;
    }
    if (!/^sips?:/i.test(request.uri)) {
      respond(416);
      return false;
    }
    const dialogProblem = request.method === 'INVITE' ? dialogHeadersProblem(request) : undefined;
    if (dialogProblem !== undefined) {
      respond(400, { reason: dialogProblem });
      return false;
    }
    const unsupported = request.headers
      .getAll('require')
      .filter((tag) => !SUPPORTED_OPTION_TAGS.has(tag.toLowerCase()));
    if (unsupported.length > 0) {
      respond(420, { headers: { Unsupported: unsupported.join(', ') } });
      return false;
    }
    return true;
  }

  private createServerTransaction(key: string, request: ParsedRequest, dest: Destination): ServerTransaction {
    const callId = request.callId; // not the request: the transaction outlives it by 64*T1
    const ctx = {
      send: (message: SipMessage, to: Destination) => this.transport.send(message, to),
      timers: this.timers,
      logger: this.logger,
      onTerminated: () => {
        this.serverTransactions.delete(key);
        this.pendingCalls.delete(key);
      },
      onAckTimeout: () => this.logger.info({ callId }, 'no ACK for a final non-2xx response (timer H)'),
      retire: (response: SipResponse | undefined, ttlMs: number) => {
        let bytes: Buffer | undefined;
        try {
          bytes = response ? serializeMessage(response) : undefined;
        } catch (err) {
          // Refused by the serializer: its send failed too; there is nothing to resend.
          this.logger.debug({ err, callId }, 'response refused by the serializer; not kept for retransmissions');
          bytes = undefined;
        }
        this.retired.add(key, { dest, ...(bytes ? { response: bytes } : {}) }, ttlMs);
      },
    };
    const transaction =
      request.method === 'INVITE' ? new ServerInviteTransaction(dest, ctx) : new ServerNonInviteTransaction(dest, ctx);
    this.serverTransactions.set(key, transaction);
    return transaction;
  }

  private handleAck(ack: ParsedRequest): void {
    // ACK for a non-2xx final response belongs to the INVITE transaction (§17.2.3).
    const transaction = this.serverTransactions.get(serverTransactionKey(ack));
    if (transaction instanceof ServerInviteTransaction && transaction.state === 'completed') {
      transaction.receive(ack);
      return;
    }
    // ACK for a 2xx is its own transaction, matched to the dialog (§13.3.1.4).
    const dialog = this.dialogs.get(dialogKey(ack.callId, ack.to.tag ?? '', ack.from.tag ?? ''));
    if (dialog) dialog.handleAck(ack);
    else this.logger.debug({ callId: ack.callId }, 'ACK matching nothing dropped');
  }

  /** §9.2: match the INVITE by branch; 200 to the CANCEL, then 487 to the INVITE. */
  private handleCancel(
    cancel: ParsedRequest,
    respond: (status: number, options?: ResponseOptions) => SipResponse,
  ): void {
    const inviteKey = serverTransactionKey(cancel, 'INVITE');
    const invite = this.serverTransactions.get(inviteKey);
    if (!(invite instanceof ServerInviteTransaction)) {
      // Already answered 2xx (the transaction retired): the CANCEL has no effect, but it matched (§9.2).
      respond(this.retired.get(inviteKey) ? 200 : 481);
      return;
    }
    respond(200);
    this.pendingCalls.get(inviteKey)?.cancel();
  }

  private handleInitialInvite(
    request: ParsedRequest,
    source: SourceAddress,
    transaction: ServerInviteTransaction,
    key: string,
  ): void {
    if (!this.accepting || !this.onInvite) {
      transaction.respond(this.buildResponse(request, 503, { toTag: newTag() }));
      return;
    }
    // RFC 4028 §9: an interval below our minimum is refused before the application sees the call.
    const timer = negotiateAsUas(request, this.sessionTimer);
    if (timer.kind === 'too-small') {
      const headers = { 'Min-SE': String(timer.minSeSec) };
      transaction.respond(this.buildResponse(request, 422, { toTag: newTag(), headers }));
      return;
    }
    if (timer.kind === 'invalid') {
      transaction.respond(this.buildResponse(request, 400, { toTag: newTag(), reason: timer.reason }));
      return;
    }
    transaction.respond(this.buildResponse(request, 100)); // at once, §17.2.1
    const call = new PendingInboundCall(
      this,
      request,
      source,
      transaction,
      newTag(),
      () => this.pendingCalls.delete(key),
      timer,
    );
    this.pendingCalls.set(key, call);
    call.armSafetyTimer(this.inviteSafetyTimeoutMs);
    try {
      this.onInvite(call);
    } catch (err) {
      this.logger.error({ err, callId: request.callId }, 'onInvite threw; answering 500');
      call.reject(500);
    }
  }

  registerDialog(dialog: SipDialog): void {
    this.dialogs.set(dialog.key, dialog);
  }

  forgetDialog(dialog: SipDialog): void {
    if (this.dialogs.get(dialog.key) === dialog) this.dialogs.delete(dialog.key);
  }

  private family(): 4 | 6 | undefined {
    const local = this.transport.local.address;
    if (local === '' || local === '0.0.0.0') return local === '0.0.0.0' ? 4 : undefined;
    return local.includes(':') ? 6 : 4;
  }

  /** Stops accepting calls, refuses unanswered INVITEs, cancels outbound ones and BYEs every dialog, bounded by `boundMs`. */
  async shutdown(boundMs: number): Promise<void> {
    this.accepting = false;
    for (const call of this.pendingCalls.values()) call.refuseForShutdown();
    for (const call of this.outboundCalls)
      call.abandon(new SignalingError('transport-error', 'the SIP stack is stopping'));
    const byes = [...this.dialogs.values()].map((dialog) => dialog.shutdown());
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    await Promise.race([Promise.allSettled(byes), bound]);
    clearTimeout(timer);
    for (const transaction of this.serverTransactions.values()) transaction.terminate();
    for (const transaction of this.clientTransactions.values()) transaction.terminate();
    this.retired.clear();
  }
}

/** §17.1.1.3: the ACK for a non-2xx carries the INVITE's Request-URI, top Via, Route, From, Call-ID and the response's To. */
export function ackForNon2xx(invite: SipRequest, response: ParsedResponse): SipRequest {
  const headers = new Headers();
  const topVia = invite.headers.get('via');
  if (topVia !== undefined) headers.add('Via', topVia);
  headers.add('Max-Forwards', invite.headers.get('max-forwards') ?? '70');
  for (const route of invite.headers.lines('route')) headers.add('Route', route);
  headers.add('From', invite.headers.get('from') ?? '');
  headers.add('To', response.headers.get('to') ?? '');
  headers.add('Call-ID', invite.headers.get('call-id') ?? '');
  headers.add('CSeq', `${response.cseq.seq} ACK`);
  return { type: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/**
 * What placeCall takes from the call core, checked before anything is built or sent (wire-safety.ts):
 * SIP URIs for target and From, no control characters in the display name, the credentials' user
 * name or the outbound proxy, extra headers that are tokens with clean values and not the stack's own,
 * Max-Forwards 0-255. Throws SignalingError('invalid-input').
 */
export function checkOutboundRequest(request: OutboundCallRequest): void {
  checkSipUri(request.target, 'target');
  checkSipUri(request.from.uri, 'From URI');
  checkText(request.from.displayName, 'From display name');
  checkExtraHeaders(request.headers, 'placeCall headers');
  checkMaxForwards(request.maxForwards);
  checkText(request.credentials?.username, 'credentials user name');
  const proxy = request.outboundProxy;
  if (proxy !== undefined && (hasControl(proxy) || /\s/.test(proxy))) {
    throw new SignalingError('invalid-input', 'outboundProxy contains whitespace or a control character');
  }
}
