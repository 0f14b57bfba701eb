/**
 * SIP dialogs (RFC 3261 §12), UAS and UAC alike: state, in-dialog request handling (§12.2.2),
 * requests we send inside the dialog (§12.2.1.1) including re-INVITEs (§14) with glare (§14.1-14.2),
 * the 2xx retransmission until ACK on the UAS side (§13.3.1.4) and the ACK for 2xx on the UAC side
 * (§13.2.2.4); UPDATE (RFC 3311) and the session timer (RFC 4028 §10: refresh at half the interval
 * when we refresh, BYE before expiry when the peer fails to).
 */

import type { CallDialog, DialogEndReason, DtmfFromSignaling, SipTransport } from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { mediaType, parseDtmfInfo } from './dtmf.js';
import type { SipLogger } from './logger.js';
import { Headers, type ParsedRequest, type ParsedResponse, type SipRequest, type SipResponse } from './message.js';
import type { ResponseOptions } from './responses.js';
import {
  allowsMethod,
  expiryDelayMs,
  negotiateAsUas,
  parseMinSe,
  refreshDelayMs,
  requestTimerHeaders,
  type SessionTimerSettings,
  type SessionTimerState,
  stateFromResponse,
  supportsTimer,
} from './session-timer.js';
import { TimerGroup, type TimerSettings } from './timers.js';
import type { Destination } from './transport.js';
import { onSyntaxError, parseNameAddress } from './uri.js';

/** Where an in-dialog request goes: a URI to resolve (§8.1.2), or an open flow to reuse. */
export interface RequestTarget {
  uri: string;
  /** Transport used when the URI names none (the dialog's transport). */
  transport: SipTransport;
  /** For dialogs that came in over TCP/TLS: the connection, used while it is open and no route set applies. */
  flow?: Destination;
}

/** What a dialog needs from the UA core. */
export interface DialogHost {
  readonly timers: TimerSettings;
  readonly logger: SipLogger;
  /** Capability headers for OPTIONS answers. */
  readonly capabilityHeaders: Record<string, string>;
  /** RFC 4028 settings: the interval we want and the minimum we accept. */
  readonly sessionTimer: SessionTimerSettings;
  /** Sends a message directly on the transport (2xx retransmissions, ACK for 2xx). */
  sendRaw(message: SipRequest | SipResponse, dest: Destination): void;
  /** Sends a non-INVITE request via a new client transaction; the UA adds the Via. */
  sendRequest(request: SipRequest, target: RequestTarget): Promise<SipResponse>;
  /**
   * Sends an INVITE via a new client transaction. `onResponse` sees every response, including 2xx
   * retransmissions; the promise settles with the first final response and where it was sent.
   */
  sendInvite(
    request: SipRequest,
    target: RequestTarget,
    onResponse?: (response: ParsedResponse, dest: Destination) => void,
  ): Promise<{ response: ParsedResponse; dest: Destination }>;
  forgetDialog(dialog: SipDialog): void;
  /** Where an in-dialog request goes now (an open flow, or the target resolved per RFC 3263). */
  resolveTarget(target: RequestTarget): Promise<Destination>;
  /** Adds our top Via for `dest`'s transport with a new branch. */
  stampVia(request: SipRequest, dest: Destination): string;
}

/** A request inside this dialog, already matched to a server transaction. */
export interface InDialogRequest {
  request: ParsedRequest;
  /** Sends a response through the request's server transaction and returns it. */
  respond(status: number, options?: ResponseOptions): SipResponse;
  /** Where responses to this request go. */
  dest: Destination;
}

type DialogState = 'early' | 'awaiting-ack' | 'confirmed' | 'terminated';

export type AckOutcome = 'acked' | 'ack-timeout' | 'ended';

interface PendingAck {
  cseq: number;
  finish: (acked: boolean) => void;
}

/** Everything that defines a dialog (§12.1.1 for the UAS, §12.1.2 for the UAC). */
export interface DialogInit {
  role: 'uas' | 'uac';
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From (UAC) or To (UAS) header value including our tag. */
  localParty: string;
  /** The peer's header value including its tag. */
  remoteParty: string;
  remoteTarget: string;
  /** Route set in the order requests carry it (already reversed for the UAC). */
  routeSet: string[];
  localSeq: number;
  /** 0 when empty (a UAC has no remote sequence number until the peer sends a request). */
  remoteSeq: number;
  localSdp: string;
  /** The Contact we advertise in this dialog. */
  localContact: string;
  transport: SipTransport;
  flow?: Destination;
  /** Set for UAS dialogs until the initial ACK arrives; 'early' for UAC early dialogs. */
  state: DialogState;
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

export class SipDialog implements CallDialog {
  readonly role: 'uas' | 'uac';
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly ended: Promise<DialogEndReason>;
  state: DialogState;
  /** The peer's SDP of the last completed offer/answer (UAC: the 2xx answer). */
  remoteSdp = '';

  private readonly localParty: string;
  private readonly remoteParty: string;
  private remoteTarget: string;
  private readonly routeSet: string[];
  private localSeq: number;
  private remoteSeq: number;
  private localSdp: string;
  private readonly localContact: string;
  private readonly transport: SipTransport;
  private readonly flow: Destination | undefined;
  private localInvitePending = false;
  private remoteInviteInProgress = false;
  private pendingAck: PendingAck | undefined;
  private ackOutcome: Promise<AckOutcome> | undefined;
  /** UAC: the ACK sent for each 2xx, resent when that 2xx is retransmitted (§13.2.2.4). */
  private lastAck: { cseq: number; ack: SipRequest; dest: Destination } | undefined;
  private readonly dtmfListeners: ((dtmf: DtmfFromSignaling) => void)[] = [];
  private reofferListener: ((sdp: string) => Promise<string>) | undefined;
  private resolveEnded!: (reason: DialogEndReason) => void;
  /** RFC 4028: the session timer in force (undefined: none), its one pending timeout and deadline. */
  private session: SessionTimerState | undefined;
  private readonly sessionTimers = new TimerGroup();
  private sessionHandle: NodeJS.Timeout | undefined;
  /** When the session expires without a refresh (ms since the epoch). */
  private sessionDeadline = 0;
  private refreshInProgress = false;
  /** Whether refreshes may use UPDATE: the peer's Allow listed it (RFC 4028 §7.4 prefers UPDATE). */
  private peerAllowsUpdate = false;

  constructor(
    private readonly host: DialogHost,
    init: DialogInit,
  ) {
    this.role = init.role;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localParty = init.localParty;
    this.remoteParty = init.remoteParty;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.localSdp = init.localSdp;
    this.localContact = init.localContact;
    this.transport = init.transport;
    this.flow = init.flow;
    this.state = init.state;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  get key(): string {
    return dialogKey(this.callId, this.localTag, this.remoteTag);
  }

  onDtmf(listener: (dtmf: DtmfFromSignaling) => void): void {
    this.dtmfListeners.push(listener);
  }

  onReoffer(listener: (sdp: string) => Promise<string>): void {
    this.reofferListener = listener;
  }

  /**
   * UAS: retransmits our 2xx to the initial INVITE until the ACK (§13.3.1.4). On timeout sends BYE
   * and ends the dialog with 'ack-timeout'. 'ended' means the dialog ended otherwise while waiting.
   */
  awaitInitialAck(response: SipResponse, dest: Destination): Promise<AckOutcome> {
    this.ackOutcome ??= this.retransmitUntilAck(this.remoteSeq, response, dest).then(async (acked) => {
      if (acked && this.state === 'awaiting-ack') {
        this.state = 'confirmed';
        return 'acked';
      }
      if (this.state === 'terminated') return acked ? 'acked' : 'ended';
      // The BYE is sent now; its own transaction may take 64*T1 more, which the caller need not wait for.
      void this.terminateWithBye('ack-timeout');
      return 'ack-timeout';
    });
    return this.ackOutcome;
  }

  /** An ACK whose Call-ID and tags match this dialog (a 2xx ACK, §17.1.1.3). */
  handleAck(ack: ParsedRequest): void {
    if (this.pendingAck && ack.cseq.seq === this.pendingAck.cseq) this.pendingAck.finish(true);
  }

  /**
   * UAC: the 2xx to our INVITE (initial or re-INVITE) arrived, first or again. Sends the ACK
   * (§13.2.2.4), or resends the one already sent for that CSeq.
   */
  acknowledge2xx(response: ParsedResponse, inviteDest?: Destination): void {
    const cseq = response.cseq.seq;
    if (this.lastAck?.cseq === cseq) {
      if (this.lastAck.ack.headers.has('via')) this.host.sendRaw(this.lastAck.ack, this.lastAck.dest);
      return;
    }
    if (inviteDest === undefined || (this.lastAck !== undefined && cseq < this.lastAck.cseq)) return; // stale
    const target = contactUri(response);
    if (target) this.remoteTarget = target;
    const ack = this.buildRequest('ACK', cseq);
    const entry = { cseq, ack, dest: inviteDest };
    this.lastAck = entry;
    // The ACK follows the dialog's route (§13.2.2.4), which may differ from where the INVITE went.
    this.host
      .resolveTarget(this.target())
      .catch((err: unknown) => {
        this.host.logger.debug(
          { err, callId: this.callId },
          'ACK route not resolvable; sending it where the INVITE went',
        );
        return inviteDest;
      })
      .then((dest) => {
        entry.dest = dest;
        this.host.stampVia(ack, dest);
        this.host.sendRaw(ack, dest);
      });
  }

  /** UAC: an early dialog became confirmed by a 2xx with its tag. */
  confirm(response: ParsedResponse): void {
    if (this.state === 'terminated') return;
    this.state = 'confirmed';
    const target = contactUri(response);
    if (target) this.remoteTarget = target;
    this.remoteSdp = sdpOf(response) ?? this.remoteSdp;
  }

  /** In-dialog requests other than ACK and CANCEL (§12.2.2). */
  handleRequest(ctx: InDialogRequest): void {
    const { request } = ctx;
    if (this.remoteSeq !== 0 && request.cseq.seq < this.remoteSeq) {
      ctx.respond(500, { reason: 'CSeq Out of Order' });
      return;
    }
    this.remoteSeq = request.cseq.seq;
    switch (request.method) {
      case 'BYE':
        ctx.respond(200);
        this.pendingAck?.finish(true); // a BYE implies the 2xx arrived (§15.1.2 allows it before ACK)
        this.end('remote-bye');
        return;
      case 'INFO':
        this.handleInfo(ctx);
        return;
      case 'OPTIONS':
        ctx.respond(200, { headers: this.host.capabilityHeaders });
        return;
      case 'INVITE':
        this.handleReInvite(ctx);
        return;
      case 'UPDATE':
        this.handleUpdate(ctx);
        return;
      default:
        ctx.respond(405, { headers: { Allow: this.host.capabilityHeaders['Allow'] ?? '' } });
    }
  }

  private handleInfo(ctx: InDialogRequest): void {
    ctx.respond(200);
    const { request } = ctx;
    const dtmf = parseDtmfInfo(request.headers.get('content-type'), request.body.toString('utf8'));
    if (!dtmf) return;
    for (const listener of this.dtmfListeners) {
      try {
        listener(dtmf);
      } catch (err) {
        this.host.logger.error({ err, callId: this.callId }, 'DTMF listener threw');
      }
    }
  }

  private handleReInvite(ctx: InDialogRequest): void {
    const { request } = ctx;
    if (this.localInvitePending) {
      ctx.respond(491); // glare: both sides offered at once (§14.2)
      return;
    }
    if (this.remoteInviteInProgress || this.state === 'awaiting-ack' || this.state === 'early') {
      // §14.2: an INVITE while an earlier one is still in progress.
      ctx.respond(500, { headers: { 'Retry-After': String(Math.floor(Math.random() * 10)) } });
      return;
    }
    const timer = this.negotiateRefresh(ctx);
    if (!timer) return;
    const newTarget = contactUri(request);
    if (newTarget) this.remoteTarget = newTarget; // target refresh (§12.2.2)
    this.remoteInviteInProgress = true;
    const offer = sdpOf(request);
    const answer = offer !== undefined && this.reofferListener ? this.reofferListener(offer) : undefined;
    Promise.resolve(answer ?? this.localSdp)
      .then(
        (sdp) => {
          if (this.state === 'terminated') return;
          this.localSdp = sdp;
          if (offer !== undefined) this.remoteSdp = offer;
          const response = ctx.respond(200, {
            body: sdp,
            contentType: 'application/sdp',
            headers: { Contact: this.localContact, ...timer.headers },
          });
          this.setSessionTimer(timer.state); // a 2xx to a re-INVITE refreshes the session (RFC 4028 §10)
          return this.retransmitUntilAck(request.cseq.seq, response, ctx.dest).then((acked) => {
            if (!acked && this.state !== 'terminated') void this.terminateWithBye('ack-timeout');
          });
        },
        (err: unknown) => {
          this.host.logger.warn({ err, callId: this.callId }, 're-INVITE offer rejected by listener');
          ctx.respond(488);
        },
      )
      .catch((err: unknown) => this.host.logger.error({ err, callId: this.callId }, 're-INVITE handling failed'))
      .finally(() => {
        this.remoteInviteInProgress = false;
      });
  }

  /**
   * RFC 3311 UPDATE inside the dialog. Without SDP it is a session refresh (RFC 4028 §10); with SDP
   * an offer, answered through `onReoffer` like a re-INVITE's. §5.2 glare: 491 while our own offer
   * (re-INVITE) is pending, 500 with Retry-After while the peer's is unanswered.
   */
  private handleUpdate(ctx: InDialogRequest): void {
    const { request } = ctx;
    const offer = sdpOf(request);
    if (offer !== undefined && this.localInvitePending) {
      ctx.respond(491);
      return;
    }
    if (offer !== undefined && this.remoteInviteInProgress) {
      ctx.respond(500, { headers: { 'Retry-After': String(Math.floor(Math.random() * 10)) } });
      return;
    }
    const timer = this.negotiateRefresh(ctx);
    if (!timer) return;
    const newTarget = contactUri(request);
    if (newTarget) this.remoteTarget = newTarget; // UPDATE is a target refresh request (RFC 3311 §5.2)
    const headers = { Contact: this.localContact, ...timer.headers };
    if (offer === undefined) {
      ctx.respond(200, { headers });
      this.setSessionTimer(timer.state);
      return;
    }
    this.remoteInviteInProgress = true;
    const answer = this.reofferListener ? this.reofferListener(offer) : undefined;
    Promise.resolve(answer ?? this.localSdp)
      .then(
        (sdp) => {
          if (this.state === 'terminated') return;
          this.localSdp = sdp;
          this.remoteSdp = offer;
          ctx.respond(200, { body: sdp, contentType: 'application/sdp', headers });
          this.setSessionTimer(timer.state);
        },
        (err: unknown) => {
          this.host.logger.warn({ err, callId: this.callId }, 'UPDATE offer rejected by listener');
          ctx.respond(488);
        },
      )
      .catch((err: unknown) => this.host.logger.error({ err, callId: this.callId }, 'UPDATE handling failed'))
      .finally(() => {
        this.remoteInviteInProgress = false;
      });
  }

  /**
   * RFC 4028 §9 for a re-INVITE or UPDATE the peer sent: the timer its 2xx sets and the headers
   * saying so, or undefined after answering 422 (interval below our minimum) or 400.
   */
  private negotiateRefresh(
    ctx: InDialogRequest,
  ): { state: SessionTimerState; headers: Record<string, string> } | undefined {
    const { request } = ctx;
    const allowed = allowsMethod(request, 'UPDATE');
    if (allowed !== undefined) this.peerAllowsUpdate = allowed;
    const decision = negotiateAsUas(request, this.host.sessionTimer);
    if (decision.kind === 'too-small') {
      ctx.respond(422, { headers: { 'Min-SE': String(decision.minSeSec) } });
      return undefined;
    }
    if (decision.kind === 'invalid') {
      ctx.respond(400, { reason: decision.reason });
      return undefined;
    }
    return decision;
  }

  /** §13.3.1.4: resend the 2xx at T1, 2*T1, ... capped at T2, for up to 64*T1. */
  private retransmitUntilAck(cseq: number, response: SipResponse, dest: Destination): Promise<boolean> {
    this.pendingAck?.finish(false);
    const { t1Ms, t2Ms } = this.host.timers;
    const timers = new TimerGroup();
    return new Promise<boolean>((resolve) => {
      const pending: PendingAck = {
        cseq,
        finish: (acked) => {
          timers.clear();
          if (this.pendingAck === pending) this.pendingAck = undefined;
          resolve(acked);
        },
      };
      this.pendingAck = pending;
      const schedule = (interval: number): void => {
        timers.after(interval, () => {
          this.host.sendRaw(response, dest);
          schedule(Math.min(interval * 2, t2Ms));
        });
      };
      schedule(t1Ms);
      timers.after(64 * t1Ms, () => pending.finish(false));
    });
  }

  /**
   * Sends a re-INVITE (§14.1) and resolves with the answer SDP after sending the ACK. A re-INVITE
   * of ours or the peer's still in progress is glare: rejected at once with 491, as the peer would.
   */
  async reinvite(sdp: string): Promise<string> {
    const response = await this.sendReinvite(sdp);
    if (response.status >= 300) {
      // §12.2.1.2: 481 and 408 mean the dialog is gone.
      if (response.status === 481 || response.status === 408) this.end('transport-error');
      throw new SignalingError('rejected', `re-INVITE answered ${response.status} ${response.reason}`, response.status);
    }
    return this.remoteSdp;
  }

  /**
   * The re-INVITE itself, for the application and for session refreshes: carries the session
   * timer's headers (RFC 4028 §7.4); a 2xx updates the target, the SDP and the session timer.
   * Resolves with the final response, whatever its status.
   */
  private async sendReinvite(sdp: string): Promise<ParsedResponse> {
    if (this.state !== 'confirmed') {
      throw new SignalingError('invalid-state', `cannot re-INVITE a dialog that is ${this.state}`);
    }
    if (this.localInvitePending || this.remoteInviteInProgress) {
      throw new SignalingError('rejected', 'another INVITE is in progress (glare)', 491);
    }
    this.localInvitePending = true;
    try {
      const request = this.buildRequest('INVITE');
      request.headers.add('Contact', this.localContact);
      this.addTimerHeaders(request);
      request.headers.add('Content-Type', 'application/sdp');
      request.body = Buffer.from(sdp);
      const sent = this.session;
      const { response } = await this.host.sendInvite(request, this.target(), (r, dest) => {
        if (r.status >= 200 && r.status < 300) this.acknowledge2xx(r, dest);
      });
      if (response.status < 300) {
        const target = contactUri(response);
        if (target) this.remoteTarget = target;
        this.localSdp = sdp;
        this.remoteSdp = sdpOf(response) ?? '';
        this.adoptRefreshResponse(response, sent);
      }
      return response;
    } finally {
      this.localInvitePending = false;
    }
  }

  private addTimerHeaders(request: SipRequest): void {
    request.headers.add('Allow', this.host.capabilityHeaders['Allow'] ?? '');
    for (const [name, value] of Object.entries(requestTimerHeaders(this.session, this.host.sessionTimer))) {
      request.headers.add(name, value);
    }
  }

  /**
   * RFC 4028 §7.4: a 2xx to our re-INVITE or UPDATE. Its Session-Expires sets the timer. Without
   * one, a peer that supports timers has turned them off; one that does not keeps the timer we
   * apply ourselves as the refresher (§9), so that a peer that vanishes is still found.
   */
  private adoptRefreshResponse(response: ParsedResponse | SipResponse, sent: SessionTimerState | undefined): void {
    const allowed = allowsMethod(response, 'UPDATE');
    if (allowed !== undefined) this.peerAllowsUpdate = allowed;
    const minSeSec = sent?.minSeSec ?? this.host.sessionTimer.minSeSec;
    const next = stateFromResponse(response, minSeSec) ?? (supportsTimer(response) ? undefined : sent);
    this.setSessionTimer(next);
  }

  /** The session timer in force (tests and logs). */
  get sessionTimer(): Readonly<SessionTimerState> | undefined {
    return this.session;
  }

  /** Whether refreshes go by UPDATE. */
  setPeerAllowsUpdate(allowed: boolean): void {
    this.peerAllowsUpdate = allowed;
  }

  /**
   * (Re)starts the session timer (RFC 4028 §10) after the initial 2xx or a refresh: as the refresher
   * we refresh at half the interval; otherwise we send BYE when no refresh came by the expiry minus
   * min(32 s, a third of the interval). Undefined stops it.
   */
  setSessionTimer(state: SessionTimerState | undefined): void {
    this.sessionTimers.cancel(this.sessionHandle);
    this.sessionHandle = undefined;
    this.session = state;
    if (!state || this.state === 'terminated') return;
    this.sessionDeadline = Date.now() + expiryDelayMs(state.intervalSec);
    if (state.refresher === 'local') {
      this.sessionHandle = this.sessionTimers.after(refreshDelayMs(state.intervalSec), () => {
        void this.refreshSession();
      });
    } else {
      this.sessionHandle = this.sessionTimers.after(expiryDelayMs(state.intervalSec), () => this.sessionExpired());
    }
  }

  private sessionExpired(): void {
    if (this.state === 'terminated') return;
    this.host.logger.info(
      { callId: this.callId, intervalSec: this.session?.intervalSec, refresher: this.session?.refresher },
      'session expired without a refresh (RFC 4028 §10); sending BYE',
    );
    void this.terminateWithBye('session-expired');
  }

  /** Tries a refresh again soon, unless the session has expired meanwhile. */
  private retryRefreshSoon(): void {
    const left = this.sessionDeadline - Date.now();
    if (left <= 0 || !this.session) {
      this.sessionExpired();
      return;
    }
    const delay = Math.min(left, Math.max(100, (this.session.intervalSec * 1000) / 8));
    this.sessionTimers.cancel(this.sessionHandle);
    this.sessionHandle = this.sessionTimers.after(delay, () => {
      void this.refreshSession();
    });
  }

  /**
   * We are the refresher (RFC 4028 §10): UPDATE without SDP when the peer allows it, else a re-INVITE
   * with the current SDP. 408, 481 or no answer at all: BYE, the dialog ends with 'session-expired'.
   * 422: once more with the larger Min-SE (§7.4). Glare (an offer in progress): again shortly, the
   * other transaction refreshing the session if it succeeds.
   */
  private async refreshSession(retried422 = false): Promise<void> {
    const sent = this.session;
    if (!sent || this.state === 'terminated' || this.refreshInProgress) return;
    if (this.state !== 'confirmed' || this.localInvitePending || this.remoteInviteInProgress) {
      this.retryRefreshSoon();
      return;
    }
    const useUpdate = this.peerAllowsUpdate;
    this.refreshInProgress = true;
    let response: ParsedResponse | SipResponse;
    try {
      if (useUpdate) {
        const request = this.buildRequest('UPDATE');
        request.headers.add('Contact', this.localContact);
        this.addTimerHeaders(request);
        response = await this.host.sendRequest(request, this.target());
        if (response.status < 300) this.adoptRefreshResponse(response, sent);
      } else {
        response = await this.sendReinvite(this.localSdp);
      }
    } catch (err) {
      if (err instanceof SignalingError && err.status === 491) {
        this.retryRefreshSoon(); // an INVITE started meanwhile (§14.1)
        return;
      }
      this.host.logger.info({ err, callId: this.callId }, 'session refresh not answered (RFC 4028 §10); sending BYE');
      void this.terminateWithBye('session-expired');
      return;
    } finally {
      this.refreshInProgress = false;
    }
    // The dialog may have ended while the refresh was out (TypeScript narrowed the state before the await).
    if ((this.state as DialogState) === 'terminated' || response.status < 300) return;
    this.onRefreshRefused(response, sent, useUpdate, retried422);
  }

  private onRefreshRefused(
    response: SipResponse,
    sent: SessionTimerState,
    usedUpdate: boolean,
    retried422: boolean,
  ): void {
    const { status } = response;
    const log = { callId: this.callId, status, method: usedUpdate ? 'UPDATE' : 'INVITE' };
    if (status === 408 || status === 481) {
      this.host.logger.info(log, 'session refresh answered 408/481: the dialog is gone; sending BYE');
      void this.terminateWithBye('session-expired');
      return;
    }
    if (status === 422 && !retried422) {
      const minSe = parseMinSe(response);
      const floor = typeof minSe === 'number' ? minSe : sent.minSeSec;
      this.session = {
        ...sent,
        intervalSec: Math.max(sent.intervalSec, floor),
        minSeSec: Math.max(sent.minSeSec, floor),
      };
      void this.refreshSession(true);
      return;
    }
    if (status === 491) {
      this.retryRefreshSoon();
      return;
    }
    if (usedUpdate && (status === 405 || status === 501)) {
      this.peerAllowsUpdate = false; // its Allow said otherwise; re-INVITE it is
      void this.refreshSession(retried422);
      return;
    }
    // The peer answered, so the dialog is alive; the next refresh comes after another half interval.
    this.host.logger.info(log, 'session refresh refused; the dialog stays up');
    this.setSessionTimer(this.session);
  }

  async hangup(): Promise<void> {
    if (this.state === 'awaiting-ack' && this.ackOutcome) {
      // §15: the callee must not send BYE before the ACK (or its timeout).
      await this.ackOutcome;
    }
    if (this.state === 'terminated') return;
    await this.terminateWithBye('local-bye');
  }

  /** Ends the dialog for shutdown: BYE regardless of ACK state, since we are going away. */
  shutdown(): Promise<void> {
    if (this.state === 'terminated') return Promise.resolve();
    this.pendingAck?.finish(false);
    return this.terminateWithBye('shutdown');
  }

  /** Sends BYE and ends the dialog at once (§15.1.1); resolves when the BYE is answered or times out. */
  async terminateWithBye(reason: DialogEndReason): Promise<void> {
    if (this.state === 'terminated') return;
    this.end(reason);
    try {
      const response = await this.host.sendRequest(this.buildRequest('BYE'), this.target());
      this.host.logger.debug({ callId: this.callId, status: response.status }, 'BYE answered');
    } catch (err) {
      const level = err instanceof SignalingError ? 'info' : 'warn';
      this.host.logger[level]({ err, callId: this.callId }, 'BYE not answered');
    }
  }

  /** Where the next in-dialog request goes (§12.2.1.1: the first route, or the remote target). */
  target(): RequestTarget {
    const firstRoute = this.routeSet[0];
    const uri = firstRoute !== undefined ? routeUri(firstRoute) : this.remoteTarget;
    const target: RequestTarget = { uri, transport: this.transport };
    if (firstRoute === undefined && this.flow) target.flow = this.flow;
    return target;
  }

  /**
   * Builds a request inside this dialog (§12.2.1.1) with loose and strict routing, without a Via
   * (the UA adds it once the transport is known). ACK and CANCEL reuse `seq`.
   */
  buildRequest(method: string, seq?: number): SipRequest {
    if (seq === undefined) this.localSeq += 1;
    const headers = new Headers();
    headers.add('Max-Forwards', '70');
    let requestUri = this.remoteTarget;
    let routes = [...this.routeSet];
    const firstRoute = routes[0];
    if (firstRoute !== undefined && !isLooseRoute(firstRoute)) {
      // Strict routing (§12.2.1.1): the first route becomes the Request-URI.
      requestUri = routeUri(firstRoute);
      routes = [...routes.slice(1), `<${this.remoteTarget}>`];
    }
    for (const route of routes) headers.add('Route', route);
    headers.add('From', this.localParty);
    headers.add('To', this.remoteParty);
    headers.add('Call-ID', this.callId);
    headers.add('CSeq', `${seq ?? this.localSeq} ${method}`);
    return { type: 'request', method, uri: requestUri, headers, body: Buffer.alloc(0) };
  }

  /** Marks the dialog ended (idempotent) and resolves `ended`. */
  end(reason: DialogEndReason): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.pendingAck?.finish(false);
    this.sessionTimers.clear();
    this.host.forgetDialog(this);
    this.resolveEnded(reason);
  }
}

export function sdpOf(message: SipRequest | SipResponse): string | undefined {
  if (message.body.length === 0 || mediaType(message.headers.get('content-type')) !== 'application/sdp') {
    return undefined;
  }
  return message.body.toString('utf8');
}

/**
 * Why the headers that shape a dialog (Contact, Record-Route) are unusable, or undefined when
 * they are fine. Checked before a dialog is built so that later in-dialog requests cannot fail.
 */
export function dialogHeadersProblem(message: SipRequest | SipResponse): string | undefined {
  const contacts = message.headers.getAll('contact');
  if (contacts.length > 1) return 'Multiple Contact values';
  try {
    if (contacts[0] !== undefined && !parseNameAddress(contacts[0]).sipUri) return 'Contact is not a SIP URI';
  } catch (err) {
    return onSyntaxError(err, 'Invalid Contact');
  }
  for (const route of message.headers.getAll('record-route')) {
    try {
      if (!parseNameAddress(route).sipUri) return 'Record-Route is not a SIP URI';
    } catch (err) {
      return onSyntaxError(err, 'Invalid Record-Route');
    }
  }
  return undefined;
}

export function contactUri(message: SipRequest | SipResponse): string | undefined {
  const contact = message.headers.get('contact');
  if (contact === undefined) return undefined;
  try {
    return parseNameAddress(contact).uri;
  } catch (err) {
    return onSyntaxError(err, undefined);
  }
}

function routeUri(route: string): string {
  return parseNameAddress(route).uri;
}

function isLooseRoute(route: string): boolean {
  try {
    return parseNameAddress(route).sipUri?.params.has('lr') ?? true;
  } catch (err) {
    return onSyntaxError(err, true);
  }
}
