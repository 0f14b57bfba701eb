/**
 * UAS dialogs (RFC 3261 §12): state, in-dialog request handling (§12.2.2), requests we send
 * inside the dialog (§12.2.1.1) and the 2xx retransmission until ACK (§13.3.1.4).
 */

import type { CallDialog, DialogEndReason, DtmfFromSignaling } from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { mediaType, parseDtmfInfo } from './dtmf.js';
import type { SipLogger } from './logger.js';
import { Headers, type ParsedRequest, type SipRequest, type SipResponse } from './message.js';
import type { ResponseOptions } from './responses.js';
import { TimerGroup, type TimerSettings } from './timers.js';
import type { Destination } from './transport.js';
import { parseNameAddress } from './uri.js';

/** What a dialog needs from the UA core. */
export interface DialogHost {
  readonly timers: TimerSettings;
  readonly logger: SipLogger;
  /** Our Via sent-by and Contact address. */
  readonly advertised: { host: string; port: number };
  /** Capability headers for OPTIONS answers. */
  readonly capabilityHeaders: Record<string, string>;
  /** Sends a message directly on the transport (2xx retransmissions). */
  sendRaw(message: SipResponse, dest: Destination): void;
  /** Sends a request via a new non-INVITE client transaction to `nextHop` (a URI). */
  sendRequest(request: SipRequest, nextHop: string): Promise<SipResponse>;
  newBranch(): string;
  forgetDialog(dialog: UasDialog): void;
}

/** A request inside this dialog, already matched to a server transaction. */
export interface InDialogRequest {
  request: ParsedRequest;
  /** Sends a response through the request's server transaction and returns it. */
  respond(status: number, options?: ResponseOptions): SipResponse;
  /** Where responses to this request go. */
  dest: Destination;
}

type DialogState = 'awaiting-ack' | 'confirmed' | 'terminated';

export type AckOutcome = 'acked' | 'ack-timeout' | 'ended';

interface PendingAck {
  cseq: number;
  finish: (acked: boolean) => void;
}

export interface UasDialogInit {
  invite: ParsedRequest;
  localTag: string;
  localSdp: string;
  /** The Contact we put in our 2xx, reused on target-refresh answers. */
  localContact: string;
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

export class UasDialog implements CallDialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly ended: Promise<DialogEndReason>;
  state: DialogState = 'awaiting-ack';

  /** Local and remote party as header values (§12.1.1: To of the INVITE plus our tag, and From). */
  private readonly localParty: string;
  private readonly remoteParty: string;
  private remoteTarget: string;
  /** Record-Route values in the order received (§12.1.1, UAS). */
  private readonly routeSet: string[];
  private localSeq: number;
  private remoteSeq: number;
  private localSdp: string;
  private readonly localContact: string;
  /** We never send re-INVITEs yet; kept so a glare (§14.2, 491) has a place to be detected. */
  private localInvitePending = false;
  private remoteInviteInProgress = false;
  private pendingAck: PendingAck | undefined;
  private ackOutcome: Promise<AckOutcome> | undefined;
  private readonly dtmfListeners: ((dtmf: DtmfFromSignaling) => void)[] = [];
  private reofferListener: ((sdp: string) => Promise<string>) | undefined;
  private resolveEnded!: (reason: DialogEndReason) => void;

  constructor(
    private readonly host: DialogHost,
    init: UasDialogInit,
  ) {
    const { invite } = init;
    this.callId = invite.callId;
    this.localTag = init.localTag;
    this.remoteTag = invite.from.tag ?? '';
    this.localParty = `${invite.headers.get('to')!};tag=${init.localTag}`;
    this.remoteParty = invite.headers.get('from')!;
    this.remoteTarget = contactUri(invite) ?? invite.from.uri;
    this.routeSet = invite.headers.getAll('record-route');
    this.remoteSeq = invite.cseq.seq;
    // §12.1.1: the UAS's local sequence number starts empty; any value below 2**31 works.
    this.localSeq = Math.floor(Math.random() * 10_000) + 1;
    this.localSdp = init.localSdp;
    this.localContact = init.localContact;
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
   * Retransmits our 2xx to the initial INVITE until the ACK (§13.3.1.4). On timeout sends BYE and
   * ends the dialog with 'ack-timeout'. 'ended' means the dialog ended otherwise while waiting.
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

  /** In-dialog requests other than ACK and CANCEL (§12.2.2). */
  handleRequest(ctx: InDialogRequest): void {
    const { request } = ctx;
    if (request.cseq.seq < this.remoteSeq) {
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
      ctx.respond(491);
      return;
    }
    if (this.remoteInviteInProgress || this.state === 'awaiting-ack') {
      // §14.2: an INVITE while an earlier one is still in progress.
      ctx.respond(500, { headers: { 'Retry-After': String(Math.floor(Math.random() * 10)) } });
      return;
    }
    const newTarget = contactUri(request);
    if (newTarget) this.remoteTarget = newTarget; // target refresh (§12.2.2)
    this.remoteInviteInProgress = true;
    const hasSdp = request.body.length > 0 && mediaType(request.headers.get('content-type')) === 'application/sdp';
    const answer = hasSdp && this.reofferListener ? this.reofferListener(request.body.toString('utf8')) : undefined;
    Promise.resolve(answer ?? this.localSdp)
      .then(
        (sdp) => {
          if (this.state === 'terminated') return;
          this.localSdp = sdp;
          const response = ctx.respond(200, {
            body: sdp,
            contentType: 'application/sdp',
            headers: { Contact: this.localContact },
          });
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
  private async terminateWithBye(reason: DialogEndReason): Promise<void> {
    if (this.state === 'terminated') return;
    this.end(reason);
    try {
      const { request, nextHop } = this.buildRequest('BYE');
      const response = await this.host.sendRequest(request, nextHop);
      this.host.logger.debug({ callId: this.callId, status: response.status }, 'BYE answered');
    } catch (err) {
      const level = err instanceof SignalingError ? 'info' : 'warn';
      this.host.logger[level]({ err, callId: this.callId }, 'BYE not answered');
    }
  }

  /** Builds a request inside this dialog (§12.2.1.1), with loose and strict routing. */
  buildRequest(method: string): { request: SipRequest; nextHop: string } {
    this.localSeq += 1;
    const headers = new Headers();
    const { host, port } = this.host.advertised;
    const sentBy = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    headers.add('Via', `SIP/2.0/UDP ${sentBy};branch=${this.host.newBranch()};rport`);
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
    headers.add('CSeq', `${this.localSeq} ${method}`);
    const nextHop = firstRoute !== undefined ? routeUri(firstRoute) : this.remoteTarget;
    return { request: { type: 'request', method, uri: requestUri, headers, body: Buffer.alloc(0) }, nextHop };
  }

  /** Marks the dialog ended (idempotent) and resolves `ended`. */
  end(reason: DialogEndReason): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.pendingAck?.finish(false);
    this.host.forgetDialog(this);
    this.resolveEnded(reason);
  }
}

/**
 * Why the headers that shape a dialog (Contact, Record-Route) are unusable, or undefined when
 * they are fine. Checked before a dialog is built so that later in-dialog requests cannot fail.
 */
export function dialogHeadersProblem(request: ParsedRequest): string | undefined {
  const contacts = request.headers.getAll('contact');
  if (contacts.length > 1) return 'Multiple Contact values';
  try {
    if (contacts[0] !== undefined && !parseNameAddress(contacts[0]).sipUri) return 'Contact is not a SIP URI';
  } catch {
    return 'Invalid Contact';
  }
  for (const route of request.headers.getAll('record-route')) {
    try {
      if (!parseNameAddress(route).sipUri) return 'Record-Route is not a SIP URI';
    } catch {
      return 'Invalid Record-Route';
    }
  }
  return undefined;
}

function contactUri(request: ParsedRequest): string | undefined {
  const contact = request.headers.get('contact');
  if (contact === undefined) return undefined;
  try {
    return parseNameAddress(contact).uri;
  } catch {
    return undefined;
  }
}

function routeUri(route: string): string {
  return parseNameAddress(route).uri;
}

function isLooseRoute(route: string): boolean {
  try {
    return parseNameAddress(route).sipUri?.params.has('lr') ?? true;
  } catch {
    return true;
  }
}
