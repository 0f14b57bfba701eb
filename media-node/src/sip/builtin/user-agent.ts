/**
 * The UA core (RFC 3261 §8.2, §12, §17 dispatch): routes each inbound message to a transaction,
 * a dialog or a new InboundCall, and sends our own requests.
 */

import { lookup } from 'node:dns/promises';
import type { InboundCall, SourceAddress } from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { dialogHeadersProblem, dialogKey, type UasDialog } from './dialog.js';
import { newBranch, newTag } from './ids.js';
import { type InboundCallHost, PendingInboundCall } from './inbound-call.js';
import type { SipLogger } from './logger.js';
import type { ParsedRequest, ParsedResponse, SipMessage, SipRequest, SipResponse } from './message.js';
import { type ParseLimits, parseMessage, SipParseError } from './parser.js';
import { buildResponse, type ResponseOptions, responseDestination, stampTopVia } from './responses.js';
import type { TimerSettings } from './timers.js';
import {
  ClientNonInviteTransaction,
  clientTransactionKey,
  ServerInviteTransaction,
  ServerNonInviteTransaction,
  serverTransactionKey,
} from './transactions.js';
import type { Destination, Transport } from './transport.js';
import { isIpAddress, parseSipUri, parseVia } from './uri.js';

export const SUPPORTED_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO'] as const;
/** Methods we know but do not implement: 405 with Allow (§8.2.1); anything else is 501. */
const KNOWN_UNSUPPORTED_METHODS = new Set([
  'REGISTER',
  'SUBSCRIBE',
  'NOTIFY',
  'MESSAGE',
  'PUBLISH',
  'REFER',
  'UPDATE',
  'PRACK',
]);
const ALLOW = SUPPORTED_METHODS.join(', ');
const ACCEPT = 'application/sdp, application/dtmf-relay, application/dtmf';

export interface UserAgentOptions {
  advertised: { host: string; port: number };
  timers: TimerSettings;
  logger: SipLogger;
  limits: ParseLimits;
  /** Sent as User-Agent/Server; omitted when empty. */
  productName?: string;
  /** Hostname → IP for next hops; default dns.lookup (A/AAAA, /etc/hosts). Injectable for tests. */
  lookupHost?: (host: string, family: 4 | 6 | undefined) => Promise<string>;
}

async function dnsLookup(host: string, family: 4 | 6 | undefined): Promise<string> {
  const { address } = await lookup(host, family === undefined ? {} : { family });
  return address;
}

type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;

export class UserAgent implements InboundCallHost {
  readonly timers: TimerSettings;
  readonly logger: SipLogger;
  readonly capabilityHeaders = { Allow: ALLOW, Accept: ACCEPT };
  private readonly limits: ParseLimits;
  private readonly serverTransactions = new Map<string, ServerTransaction>();
  private readonly clientTransactions = new Map<string, ClientNonInviteTransaction>();
  private readonly pendingCalls = new Map<string, PendingInboundCall>();
  private readonly dialogs = new Map<string, UasDialog>();
  private onInvite: ((call: InboundCall) => void) | undefined;
  private accepting = false;

  constructor(
    private readonly transport: Transport,
    private readonly options: UserAgentOptions,
  ) {
    this.timers = options.timers;
    this.logger = options.logger;
    this.limits = options.limits;
    transport.onMessage = (data, source) => this.receive(data, source);
  }

  get advertised(): { host: string; port: number } {
    return this.options.advertised;
  }

  start(onInvite: (call: InboundCall) => void): void {
    this.onInvite = onInvite;
    this.accepting = true;
  }

  /** Entry point for every datagram. Never throws. */
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

  private handleParseError(err: unknown, source: SourceAddress): void {
    const reason = err instanceof SipParseError ? err.reason : 'Malformed message';
    this.logger.warn({ source, reason }, 'malformed SIP message');
    if (!(err instanceof SipParseError) || !err.request || err.request.method === 'ACK') return;
    const top = parseVia(err.request.headers.get('via')!);
    const response = buildResponse(err.request, err.status, { reason: sanitizeReason(reason) });
    this.sendRaw(response, responseDestination(top, source));
  }

  // ---- outbound ----

  sendRaw(message: SipMessage, dest: Destination): void {
    this.transport.send(message, dest).catch((err: unknown) => {
      this.logger.warn({ err, dest }, 'SIP send failed');
    });
  }

  newBranch(): string {
    return newBranch();
  }

  buildResponse(request: ParsedRequest, status: number, options?: ResponseOptions): SipResponse {
    const response = buildResponse(request, status, options);
    if (this.options.productName) response.headers.add('Server', this.options.productName);
    return response;
  }

  /** Sends a request through a new non-INVITE client transaction (§17.1.2) to `nextHop` (§8.1.2). */
  async sendRequest(request: SipRequest, nextHop: string): Promise<SipResponse> {
    const dest = await this.resolveNextHop(nextHop);
    const branch = parseVia(request.headers.get('via')!).branch ?? '';
    const key = clientTransactionKey(branch, request.method);
    const transaction = new ClientNonInviteTransaction(request, dest, {
      send: (message, to) => this.transport.send(message, to),
      timers: this.timers,
      onTerminated: () => this.clientTransactions.delete(key),
    });
    this.clientTransactions.set(key, transaction);
    transaction.start();
    return transaction.result;
  }

  /** URI → address and port. No NAPTR/SRV (RFC 3263) yet: A/AAAA via dns.lookup, port default 5060/5061. */
  private async resolveNextHop(uriText: string): Promise<Destination> {
    let uri: ReturnType<typeof parseSipUri>;
    try {
      uri = parseSipUri(uriText);
    } catch (err) {
      throw new SignalingError('transport-error', `cannot route to ${uriText}: ${(err as Error).message}`);
    }
    const maddr = uri.params.get('maddr');
    const host = maddr ? maddr : uri.host;
    const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
    if (isIpAddress(host)) return { address: host, port };
    try {
      const address = await (this.options.lookupHost ?? dnsLookup)(host, this.transportFamily());
      return { address, port };
    } catch (err) {
      throw new SignalingError('transport-error', `cannot resolve ${host}: ${(err as Error).message}`);
    }
  }

  private transportFamily(): 4 | 6 | undefined {
    const local = this.transport.local.address;
    if (local === '') return undefined;
    return local.includes(':') ? 6 : 4;
  }

  // ---- inbound ----

  private handleResponse(response: ParsedResponse): void {
    const transaction = this.clientTransactions.get(
      clientTransactionKey(response.vias[0]?.branch, response.cseq.method),
    );
    if (!transaction) {
      this.logger.debug({ status: response.status, callId: response.callId }, 'stray response dropped');
      return;
    }
    transaction.receive(response);
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
    const required = request.headers.getAll('require');
    if (required.length > 0) {
      respond(420, { headers: { Unsupported: required.join(', ') } });
      return false;
    }
    return true;
  }

  private createServerTransaction(key: string, request: ParsedRequest, dest: Destination): ServerTransaction {
    const ctx = {
      send: (message: SipMessage, to: Destination) => this.transport.send(message, to),
      timers: this.timers,
      onTerminated: () => {
        this.serverTransactions.delete(key);
        this.pendingCalls.delete(key);
      },
      onAckTimeout: () => this.logger.info({ callId: request.callId }, 'no ACK for a final non-2xx response (timer H)'),
    };
    const transaction =
      request.method === 'INVITE'
        ? new ServerInviteTransaction(request, dest, ctx)
        : new ServerNonInviteTransaction(request, dest, ctx);
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
      respond(481);
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
    transaction.respond(this.buildResponse(request, 100)); // at once, §17.2.1
    const call = new PendingInboundCall(this, request, source, transaction, newTag());
    this.pendingCalls.set(key, call);
    try {
      this.onInvite(call);
    } catch (err) {
      this.logger.error({ err, callId: request.callId }, 'onInvite threw; answering 500');
      call.reject(500);
    }
  }

  registerDialog(dialog: UasDialog): void {
    this.dialogs.set(dialog.key, dialog);
  }

  forgetDialog(dialog: UasDialog): void {
    if (this.dialogs.get(dialog.key) === dialog) this.dialogs.delete(dialog.key);
  }

  /** Stops accepting calls, refuses unanswered INVITEs and BYEs every dialog, bounded by `boundMs`. */
  async shutdown(boundMs: number): Promise<void> {
    this.accepting = false;
    for (const call of this.pendingCalls.values()) call.refuseForShutdown();
    const byes = [...this.dialogs.values()].map((dialog) => dialog.shutdown());
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    await Promise.race([Promise.allSettled(byes), bound]);
    clearTimeout(timer);
    for (const transaction of this.serverTransactions.values()) transaction.terminate();
    for (const transaction of this.clientTransactions.values()) transaction.terminate();
  }
}

/** Reason phrases must stay on one line of printable text. */
function sanitizeReason(reason: string): string {
  return reason.replace(/[^\x20-\x7e]/g, ' ').slice(0, 120);
}
