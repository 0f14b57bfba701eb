/**
 * RFC 3261 §17 transaction state machines, with RFC 6026's "Accepted" states. Over a reliable
 * transport (TCP/TLS, `dest.transport`) nothing is retransmitted and the wait timers D, I, J and K
 * are zero, as §17 specifies. Transactions only retransmit and absorb; the UA core decides what to
 * answer.
 */

import { SignalingError } from '../../ports/signaling.js';
import { BRANCH_MAGIC_COOKIE } from './ids.js';
import type { SipLogger } from './logger.js';
import type { ParsedRequest, ParsedResponse, SipMessage, SipRequest, SipResponse } from './message.js';
import { TimerGroup, type TimerSettings } from './timers.js';
import { type Destination, isReliable } from './transport.js';
import type { Via } from './uri.js';

/** Sends a message; failures are reported through the promise. */
export type SendFn = (message: SipMessage, dest: Destination) => Promise<void>;

function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/**
 * Server transaction key (§17.2.3). With the magic cookie: branch + sent-by + method, where ACK
 * maps to INVITE. Without it (RFC 2543 peers): Call-ID, CSeq number, From tag and top Via.
 */
export function serverTransactionKey(request: ParsedRequest, methodOverride?: string): string {
  const top = request.vias[0]!;
  const method = methodOverride ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  if (top.branch?.startsWith(BRANCH_MAGIC_COOKIE)) return `${top.branch}|${sentBy(top)}|${method}`;
  return `2543|${request.callId}|${request.cseq.seq}|${request.from.tag ?? ''}|${sentBy(top)}|${method}`;
}

/** Client transaction key (§17.1.3): top Via branch + CSeq method. */
export function clientTransactionKey(branch: string | undefined, method: string): string {
  return `${branch ?? ''}|${method}`;
}

export interface ServerTransactionContext {
  send: SendFn;
  timers: TimerSettings;
  /** Where a response that could not be sent is reported (the peer retransmits its request, or gives up). */
  logger: SipLogger;
  /** Called once when the transaction reaches Terminated. */
  onTerminated: () => void;
  /** Timer H fired: a non-2xx final response to INVITE was never acknowledged. */
  onAckTimeout?: () => void;
  /**
   * The transaction only absorbs retransmissions from now on (INVITE Accepted, non-INVITE Completed):
   * the UA keeps a compact record for `ttlMs` instead of this object, which terminates at once.
   */
  retire?: (response: SipResponse | undefined, ttlMs: number) => void;
}

type ServerInviteState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** INVITE server transaction (§17.2.1, RFC 6026 §7.1). */
export class ServerInviteTransaction {
  state: ServerInviteState = 'proceeding';
  private lastResponse: SipResponse | undefined;
  private readonly timerGroup = new TimerGroup();

  /** The request itself is not kept: transactions outlive calls by 64*T1 and must stay small. */
  constructor(
    readonly dest: Destination,
    private readonly ctx: ServerTransactionContext,
  ) {}

  /** True once a final response has been sent. */
  get finalSent(): boolean {
    return this.state !== 'proceeding';
  }

  respond(response: SipResponse): void {
    if (this.state !== 'proceeding') return;
    this.lastResponse = response;
    void this.ctx.send(response, this.dest).catch((err) => this.sendFailed(err, response));
    if (response.status < 200) return;
    const { t1Ms, t2Ms } = this.ctx.timers;
    if (response.status < 300) {
      // RFC 6026: absorb INVITE retransmissions for 64*T1 (timer L); the UAS core retransmits the 2xx.
      this.state = 'accepted';
      this.lastResponse = undefined;
      if (this.ctx.retire) {
        this.ctx.retire(undefined, 64 * t1Ms);
        this.terminate();
      } else {
        this.timerGroup.after(64 * t1Ms, () => this.terminate());
      }
      return;
    }
    this.state = 'completed';
    const retransmit = (interval: number): void => {
      this.timerGroup.after(interval, () => {
        if (this.state !== 'completed' || !this.lastResponse) return;
        const last = this.lastResponse;
        void this.ctx.send(last, this.dest).catch((err) => this.sendFailed(err, last));
        retransmit(Math.min(interval * 2, t2Ms)); // timer G
      });
    };
    if (!isReliable(this.dest.transport)) retransmit(t1Ms);
    this.timerGroup.after(64 * t1Ms, () => {
      // Timer H
      if (this.state !== 'completed') return;
      this.ctx.onAckTimeout?.();
      this.terminate();
    });
  }

  /** A request matching this transaction: a retransmitted INVITE or the ACK for a non-2xx. */
  receive(request: SipRequest): void {
    if (request.method === 'ACK') {
      if (this.state !== 'completed') return;
      this.state = 'confirmed';
      this.timerGroup.clear();
      if (isReliable(this.dest.transport)) this.terminate();
      else this.timerGroup.after(this.ctx.timers.t4Ms, () => this.terminate()); // timer I
      return;
    }
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) {
      const last = this.lastResponse;
      void this.ctx.send(last, this.dest).catch((err) => this.sendFailed(err, last));
    }
  }

  private sendFailed(err: unknown, response: SipResponse): void {
    this.ctx.logger.warn({ err, status: response.status, dest: this.dest }, 'SIP response not sent');
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timerGroup.clear();
    this.ctx.onTerminated();
  }
}

type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Non-INVITE server transaction (§17.2.2). */
export class ServerNonInviteTransaction {
  state: ServerNonInviteState = 'trying';
  private lastResponse: SipResponse | undefined;
  private readonly timerGroup = new TimerGroup();

  /** The request itself is not kept: transactions outlive calls by 64*T1 and must stay small. */
  constructor(
    readonly dest: Destination,
    private readonly ctx: ServerTransactionContext,
  ) {}

  respond(response: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    this.lastResponse = response;
    void this.ctx.send(response, this.dest).catch((err) => this.sendFailed(err, response));
    if (response.status < 200) {
      this.state = 'proceeding';
      return;
    }
    this.state = 'completed';
    // Timer J: absorb retransmissions for 64*T1; a reliable transport has none to absorb.
    if (isReliable(this.dest.transport)) {
      this.terminate();
    } else if (this.ctx.retire) {
      this.ctx.retire(response, 64 * this.ctx.timers.t1Ms);
      this.terminate();
    } else {
      this.timerGroup.after(64 * this.ctx.timers.t1Ms, () => this.terminate());
    }
  }

  /** A retransmission of the request: resend the last response, if any (§17.2.2). */
  receive(): void {
    if (this.lastResponse && (this.state === 'proceeding' || this.state === 'completed')) {
      const last = this.lastResponse;
      void this.ctx.send(last, this.dest).catch((err) => this.sendFailed(err, last));
    }
  }

  private sendFailed(err: unknown, response: SipResponse): void {
    this.ctx.logger.warn({ err, status: response.status, dest: this.dest }, 'SIP response not sent');
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timerGroup.clear();
    this.ctx.onTerminated();
  }
}

export interface ClientTransactionContext {
  send: SendFn;
  timers: TimerSettings;
  logger: SipLogger;
  onTerminated: () => void;
}

type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Non-INVITE client transaction (§17.1.2). `result` settles with the final response. */
export class ClientNonInviteTransaction {
  state: ClientNonInviteState = 'trying';
  readonly result: Promise<SipResponse>;
  private settle!: { resolve: (r: SipResponse) => void; reject: (e: Error) => void };
  private readonly timerGroup = new TimerGroup();

  constructor(
    readonly request: SipRequest,
    readonly dest: Destination,
    private readonly ctx: ClientTransactionContext,
  ) {
    this.result = new Promise<SipResponse>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Callers may ignore the outcome (a BYE on shutdown): an ignored failure is logged here rather than lost or
    // left unhandled; a caller that waits gets the same error from `result`.
    this.result.catch((err: unknown) =>
      this.ctx.logger.debug({ err, method: request.method, dest }, 'SIP request failed'),
    );
  }

  start(): void {
    const { t1Ms, t2Ms } = this.ctx.timers;
    this.transmit();
    const retransmit = (interval: number): void => {
      this.timerGroup.after(interval, () => {
        if (this.state !== 'trying' && this.state !== 'proceeding') return;
        this.transmit();
        // Timer E doubles up to T2; in Proceeding it stays at T2.
        retransmit(this.state === 'proceeding' ? t2Ms : Math.min(interval * 2, t2Ms));
      });
    };
    if (!isReliable(this.dest.transport)) retransmit(t1Ms);
    this.timerGroup.after(64 * t1Ms, () => {
      // Timer F
      if (this.state !== 'trying' && this.state !== 'proceeding') return;
      this.fail(new SignalingError('transaction-timeout', `${this.request.method} timed out (timer F)`));
    });
  }

  receive(response: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return; // absorbed
    if (response.status < 200) {
      this.state = 'proceeding';
      return;
    }
    this.state = 'completed';
    this.timerGroup.clear();
    this.settle.resolve(response);
    if (isReliable(this.dest.transport)) this.terminate();
    else this.timerGroup.after(this.ctx.timers.t4Ms, () => this.terminate()); // timer K
  }

  private transmit(): void {
    this.ctx.send(this.request, this.dest).catch((err: unknown) => {
      const detail = err instanceof Error ? err.message : String(err);
      this.fail(new SignalingError('transport-error', `${this.request.method} could not be sent: ${detail}`));
    });
  }

  private fail(error: Error): void {
    if (this.state === 'terminated') return;
    this.settle.reject(error);
    this.terminate();
  }

  /** Ends the transaction; a caller still waiting gets a 'transport-error' (e.g. on shutdown). */
  terminate(): void {
    if (this.state === 'terminated') return;
    if (this.state === 'trying' || this.state === 'proceeding') {
      this.settle.reject(new SignalingError('transport-error', `${this.request.method} aborted`));
    }
    this.state = 'terminated';
    this.timerGroup.clear();
    this.ctx.onTerminated();
  }
}

type ClientInviteState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export interface ClientInviteContext extends ClientTransactionContext {
  /** Every response the transaction passes up: provisional, the first non-2xx final, each 2xx. */
  onResponse: (response: ParsedResponse) => void;
  /** Timer B fired, or the request could not be sent. */
  onFailure: (error: SignalingError) => void;
  /** The ACK for a non-2xx final response (§17.1.1.3). */
  buildAck: (response: ParsedResponse) => SipRequest;
}

/** INVITE client transaction (§17.1.1, RFC 6026 §7.2): timers A, B, D and M; ACK for non-2xx. */
export class ClientInviteTransaction {
  state: ClientInviteState = 'calling';
  private readonly timerGroup = new TimerGroup();

  constructor(
    readonly request: SipRequest,
    readonly dest: Destination,
    private readonly ctx: ClientInviteContext,
  ) {}

  start(): void {
    const { t1Ms } = this.ctx.timers;
    this.transmit();
    const retransmit = (interval: number): void => {
      this.timerGroup.after(interval, () => {
        if (this.state !== 'calling') return;
        this.transmit();
        retransmit(interval * 2); // timer A
      });
    };
    if (!isReliable(this.dest.transport)) retransmit(t1Ms);
    this.timerGroup.after(64 * t1Ms, () => {
      if (this.state === 'calling') this.fail(new SignalingError('transaction-timeout', 'INVITE timed out (timer B)'));
    });
  }

  private transmit(): void {
    this.ctx.send(this.request, this.dest).catch((err: unknown) => {
      const detail = err instanceof Error ? err.message : String(err);
      this.fail(new SignalingError('transport-error', `INVITE could not be sent: ${detail}`));
    });
  }

  receive(response: ParsedResponse): void {
    if (response.status < 200) {
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.state = 'proceeding';
        this.ctx.onResponse(response);
      }
      return;
    }
    if (response.status < 300) {
      // 2xx retransmissions in Accepted go straight to the TU (RFC 6026 §7.2).
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.state = 'accepted';
        this.timerGroup.clear();
        this.timerGroup.after(64 * this.ctx.timers.t1Ms, () => this.terminate()); // timer M
      }
      if (this.state === 'accepted') this.ctx.onResponse(response);
      return;
    }
    if (this.state === 'accepted' || this.state === 'terminated') return;
    // Every non-2xx final, first or retransmitted, is ACKed by the transaction (§17.1.1.2).
    void this.ctx
      .send(this.ctx.buildAck(response), this.dest)
      .catch((err) => this.ctx.logger.warn({ err, status: response.status, dest: this.dest }, 'SIP ACK not sent'));
    if (this.state === 'calling' || this.state === 'proceeding') {
      this.state = 'completed';
      this.timerGroup.clear();
      // Timer D: 64*T1 (32 s with the default T1) on UDP to absorb retransmitted finals; zero on a reliable transport.
      const timerD = isReliable(this.dest.transport) ? 0 : 64 * this.ctx.timers.t1Ms;
      this.timerGroup.after(timerD, () => this.terminate());
      this.ctx.onResponse(response);
    }
  }

  private fail(error: SignalingError): void {
    if (this.state === 'terminated') return;
    const wasPending = this.state === 'calling' || this.state === 'proceeding';
    this.terminate();
    if (wasPending) this.ctx.onFailure(error);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timerGroup.clear();
    this.ctx.onTerminated();
  }
}
