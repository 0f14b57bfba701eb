/**
 * One outbound call (UAC, RFC 3261 §13.2): the INVITE with digest retries (§22.2, RFC 7616),
 * provisional responses and early dialogs (§12.1.2, §13.2.2.1), the dialog on 2xx with its ACK
 * (§13.2.2.4), CANCEL on ring timeout or abort (§9.1), and forked or late 2xx responses, which
 * are ACKed and ended with BYE since the call already has its outcome. RFC 4028: the INVITE offers
 * a session timer (Supported: timer, Session-Expires without a refresher, Min-SE), a 422 is retried
 * once with its larger Min-SE (§7.2), and the 2xx's refresher is followed (§7.4).
 */

import type { OutboundCallRequest, OutboundDialog, SipTransport } from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { contactUri, type DialogHost, dialogHeadersProblem, SipDialog, sdpOf } from './dialog.js';
import { chooseChallenge, digestAuthorization } from './digest.js';
import { newCallId, newTag } from './ids.js';
import { DEFAULT_MAX_FORWARDS, Headers, type ParsedResponse, type SipRequest, type SipResponse } from './message.js';
import { allowsMethod, parseMinSe, requestTimerHeaders, stateFromResponse } from './session-timer.js';
import type { ClientInviteTransaction } from './transactions.js';
import type { Destination } from './transport.js';
import { formatNameAddress, parseSipUri } from './uri.js';

/** What an outbound call needs from the UA core. */
export interface OutboundHost extends DialogHost {
  readonly advertised: { host: string; port: number };
  readonly capabilityHeaders: Record<string, string>;
  /** Default ring timeout when the request sets none (Timer C's floor, like the inbound safety timer). */
  readonly inviteSafetyTimeoutMs: number;
  contactFor(transport: SipTransport, user?: string): string;
  /** §18.1.1: UDP → TCP for large requests. */
  chooseTransport(request: SipRequest, dest: Destination): Destination;
  resolve(uriText: string, transport?: SipTransport): Promise<Destination>;
  startInvite(
    request: SipRequest,
    dest: Destination,
    handlers: { onResponse: (response: ParsedResponse) => void; onFailure: (err: SignalingError) => void },
  ): ClientInviteTransaction;
  /** Sends a non-INVITE request (CANCEL) to `dest` with the given Via branch. */
  sendRequestTo(request: SipRequest, dest: Destination, branch?: string): Promise<SipResponse>;
  registerDialog(dialog: SipDialog): void;
}

/** Digest attempts per call: one answer per challenge, one more only for a stale nonce (RFC 7616 §3.3). */
const MAX_AUTH_ATTEMPTS = 2;

export class OutboundCall {
  private readonly callId: string;
  private readonly fromTag = newTag();
  private readonly fromHeader: string;
  private cseq = 1;
  private dest!: Destination;
  private invite!: SipRequest;
  private transaction: ClientInviteTransaction | undefined;
  private authAttempts = 0;
  /** RFC 4028: what the INVITE asks for; raised once by a 422 (§7.2). */
  private sessionExpiresSec: number;
  private minSeSec: number;
  private retried422 = false;
  private provisionalSeen = false;
  private cancelWanted = false;
  private cancelSent = false;
  private settled = false;
  private resolveCall!: (dialog: OutboundDialog) => void;
  private rejectCall!: (err: SignalingError) => void;
  /** Early and confirmed dialogs by remote tag (forking may create several, §12.1.2). */
  private readonly dialogs = new Map<string, SipDialog>();
  private accepted: SipDialog | undefined;
  private ringTimer: NodeJS.Timeout | undefined;
  private readonly onAbort = (): void => this.abandon(new SignalingError('cancelled', 'the call was aborted'));

  constructor(
    private readonly host: OutboundHost,
    private readonly request: OutboundCallRequest,
  ) {
    this.callId = newCallId(host.advertised.host);
    this.sessionExpiresSec = host.sessionTimer.expiresSec;
    this.minSeSec = host.sessionTimer.minSeSec;
    const from = request.from;
    this.fromHeader = `${formatNameAddress({ uri: from.uri, ...(from.displayName ? { displayName: from.displayName } : {}) })};tag=${this.fromTag}`;
  }

  run(): Promise<OutboundDialog> {
    const result = new Promise<OutboundDialog>((resolve, reject) => {
      this.resolveCall = resolve;
      this.rejectCall = reject;
    });
    void this.begin();
    return result;
  }

  private async begin(): Promise<void> {
    const { request } = this;
    try {
      parseSipUri(request.target);
      parseSipUri(request.from.uri);
    } catch (err) {
      this.settle(new SignalingError('transport-error', `invalid target or From URI: ${(err as Error).message}`));
      return;
    }
    if (request.signal?.aborted) {
      this.settle(new SignalingError('cancelled', 'the call was aborted before it started'));
      return;
    }
    request.signal?.addEventListener('abort', this.onAbort, { once: true });
    const ringMs = request.ringTimeoutMs ?? this.host.inviteSafetyTimeoutMs;
    this.ringTimer = setTimeout(
      () => this.abandon(new SignalingError('no-answer', `no answer within ${ringMs} ms`)),
      ringMs,
    );
    this.ringTimer.unref();
    try {
      this.dest = await this.host.resolve(request.outboundProxy ?? request.target, request.transport);
    } catch (err) {
      this.settle(err instanceof SignalingError ? err : new SignalingError('transport-error', String(err)));
      return;
    }
    if (this.settled) return;
    this.sendInvite(undefined);
  }

  private buildInvite(authorization: { header: string; value: string } | undefined): SipRequest {
    const { request } = this;
    const headers = new Headers();
    headers.add('Max-Forwards', String(request.maxForwards ?? DEFAULT_MAX_FORWARDS));
    headers.add('From', this.fromHeader);
    headers.add('To', `<${request.target}>`);
    headers.add('Call-ID', this.callId);
    headers.add('CSeq', `${this.cseq} INVITE`);
    headers.add('Contact', this.host.contactFor(this.dest.transport ?? 'udp'));
    headers.add('Allow', this.host.capabilityHeaders['Allow'] ?? '');
    const timer = requestTimerHeaders(undefined, { expiresSec: this.sessionExpiresSec, minSeSec: this.minSeSec });
    for (const [name, value] of Object.entries(timer)) headers.add(name, value);
    if (authorization) headers.add(authorization.header, authorization.value);
    for (const [name, value] of Object.entries(request.headers ?? {})) headers.add(name, value);
    headers.add('Content-Type', 'application/sdp');
    return { type: 'request', method: 'INVITE', uri: request.target, headers, body: Buffer.from(request.sdp) };
  }

  private sendInvite(authorization: { header: string; value: string } | undefined): void {
    this.invite = this.buildInvite(authorization);
    this.dest = this.host.chooseTransport(this.invite, this.dest);
    this.invite.headers.set('Contact', this.host.contactFor(this.dest.transport ?? 'udp'));
    this.provisionalSeen = false;
    this.cancelSent = false;
    this.transaction = this.host.startInvite(this.invite, this.dest, {
      onResponse: (response) => this.onResponse(response),
      onFailure: (err) => this.settle(err),
    });
  }

  private onResponse(response: ParsedResponse): void {
    if (response.status < 200) this.onProvisional(response);
    else if (response.status < 300) this.on2xx(response);
    else this.onFailureResponse(response);
  }

  private onProvisional(response: ParsedResponse): void {
    this.provisionalSeen = true;
    if (this.cancelWanted) {
      this.sendCancel();
      return;
    }
    if (response.status === 100 || this.settled) return;
    const tag = response.to.tag;
    if (tag !== undefined && !this.dialogs.has(tag) && dialogHeadersProblem(response) === undefined) {
      const early = this.createDialog(response, 'early');
      this.dialogs.set(tag, early);
      this.host.registerDialog(early);
    }
    const sdp = sdpOf(response);
    try {
      this.request.onProgress?.({
        status: response.status,
        reason: response.reason,
        ...(sdp === undefined ? {} : { sdp }),
      });
    } catch (err) {
      this.host.logger.error({ err, callId: this.callId }, 'onProgress listener threw');
    }
  }

  private on2xx(response: ParsedResponse): void {
    const tag = response.to.tag ?? '';
    let dialog = this.dialogs.get(tag);
    if (dialog && dialog.state !== 'early') {
      dialog.acknowledge2xx(response, this.dest); // a retransmission: resend the ACK
      return;
    }
    if (dialogHeadersProblem(response) !== undefined) {
      this.host.logger.warn({ callId: this.callId }, '2xx with unusable Contact/Record-Route; cannot ACK it');
      this.settle(new SignalingError('rejected', 'the 2xx could not be used', 502));
      return;
    }
    if (!dialog) {
      dialog = this.createDialog(response, 'confirmed');
      this.dialogs.set(tag, dialog);
      this.host.registerDialog(dialog);
    }
    dialog.confirm(response);
    dialog.acknowledge2xx(response, this.dest);
    if (this.settled || this.accepted) {
      // Late (after a CANCEL or abort) or a second fork: the session is not wanted (§13.2.2.4).
      void dialog.terminateWithBye('local-bye');
      return;
    }
    this.accepted = dialog;
    // RFC 4028 §7.4: the 2xx names the interval and the refresher; without Session-Expires, no timer.
    dialog.setPeerAllowsUpdate(allowsMethod(response, 'UPDATE') ?? false);
    dialog.setSessionTimer(stateFromResponse(response, this.minSeSec));
    // Early dialogs of other forks end with the 2xx (§13.2.2.4 leaves them to time out; nothing uses them).
    for (const [otherTag, other] of this.dialogs)
      if (otherTag !== tag && other.state === 'early') other.end('local-bye');
    this.settle(undefined, dialog);
  }

  private onFailureResponse(response: ParsedResponse): void {
    if ((response.status === 401 || response.status === 407) && this.retryWithCredentials(response)) return;
    if (response.status === 422 && this.retryWithLargerInterval(response)) return;
    for (const dialog of this.dialogs.values()) if (dialog.state === 'early') dialog.end('remote-bye');
    this.settle(
      new SignalingError('rejected', `INVITE answered ${response.status} ${response.reason}`, response.status),
    );
  }

  /** §22.2: answer the challenge with a new INVITE (same Call-ID and From tag, CSeq + 1). */
  private retryWithCredentials(response: ParsedResponse): boolean {
    const credentials = this.request.credentials;
    if (!credentials || this.settled || this.cancelWanted) return false;
    const proxy = response.status === 407;
    const challenge = chooseChallenge(response.headers.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate'));
    if (!challenge) return false;
    if (this.authAttempts >= MAX_AUTH_ATTEMPTS || (this.authAttempts > 0 && !challenge.stale)) return false;
    this.authAttempts += 1;
    this.cseq += 1;
    const value = digestAuthorization(challenge, {
      method: 'INVITE',
      uri: this.request.target,
      username: credentials.username,
      password: credentials.password,
      nc: 1,
    });
    this.sendInvite({ header: proxy ? 'Proxy-Authorization' : 'Authorization', value });
    return true;
  }

  /**
   * RFC 4028 §7.2: a 422 names the smallest interval the UAS (or a proxy) accepts in Min-SE; the
   * INVITE is sent again once (same Call-ID and From tag, CSeq + 1) with that Min-SE and a
   * Session-Expires no smaller. A fresh digest challenge may follow, so the count starts again.
   */
  private retryWithLargerInterval(response: ParsedResponse): boolean {
    if (this.retried422 || this.settled || this.cancelWanted) return false;
    const minSe = parseMinSe(response);
    if (typeof minSe !== 'number' || minSe < this.minSeSec) return false;
    this.retried422 = true;
    this.minSeSec = minSe;
    this.sessionExpiresSec = Math.max(this.sessionExpiresSec, minSe);
    this.host.logger.info({ callId: this.callId, minSe }, 'INVITE answered 422; retrying with the larger Min-SE');
    for (const dialog of this.dialogs.values()) if (dialog.state === 'early') dialog.end('remote-bye');
    this.dialogs.clear();
    this.authAttempts = 0;
    this.cseq += 1;
    this.sendInvite(undefined);
    return true;
  }

  private createDialog(response: ParsedResponse, state: 'early' | 'confirmed'): SipDialog {
    const transport = this.dest.transport ?? 'udp';
    const contact = this.invite.headers.get('contact') ?? this.host.contactFor(transport);
    return new SipDialog(this.host, {
      role: 'uac',
      callId: this.callId,
      localTag: this.fromTag,
      remoteTag: response.to.tag ?? '',
      localParty: this.fromHeader,
      remoteParty: response.headers.get('to') ?? '',
      remoteTarget: contactUri(response) ?? this.request.target,
      routeSet: response.headers.getAll('record-route').reverse(), // §12.1.2
      localSeq: this.cseq,
      remoteSeq: 0,
      localSdp: this.request.sdp,
      localContact: contact,
      transport,
      state,
    });
  }

  /**
   * Gives up on the call (ring timeout, abort, shutdown): CANCEL once a provisional response has
   * arrived (§9.1 forbids it before), and reject now. A 2xx that still arrives is ACKed and BYEd.
   */
  abandon(error: SignalingError): void {
    if (this.settled) {
      if (error.code === 'cancelled' && this.accepted) void this.accepted.terminateWithBye('local-bye');
      return;
    }
    this.cancelWanted = true;
    if (this.provisionalSeen) this.sendCancel();
    for (const dialog of this.dialogs.values()) if (dialog.state === 'early') dialog.end('local-bye');
    this.settle(error);
  }

  /** §9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number, Route and top Via. */
  private sendCancel(): void {
    if (this.cancelSent || !this.transaction || this.transaction.state !== 'proceeding') return;
    this.cancelSent = true;
    const invite = this.invite;
    const headers = new Headers();
    // The CANCEL follows the INVITE's path, with the INVITE's hop limit.
    headers.add('Max-Forwards', invite.headers.get('max-forwards') ?? String(DEFAULT_MAX_FORWARDS));
    for (const route of invite.headers.lines('route')) headers.add('Route', route);
    headers.add('From', invite.headers.get('from') ?? '');
    headers.add('To', invite.headers.get('to') ?? '');
    headers.add('Call-ID', this.callId);
    headers.add('CSeq', `${this.cseq} CANCEL`);
    const cancel: SipRequest = { type: 'request', method: 'CANCEL', uri: invite.uri, headers, body: Buffer.alloc(0) };
    const branch = /;\s*branch=([^;,\s]+)/i.exec(invite.headers.get('via') ?? '')?.[1];
    this.host.sendRequestTo(cancel, this.dest, branch).catch((err: unknown) => {
      this.host.logger.info({ err, callId: this.callId }, 'CANCEL not answered');
    });
  }

  private settle(error: SignalingError | undefined, dialog?: SipDialog): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.ringTimer);
    this.request.signal?.removeEventListener('abort', this.onAbort);
    if (dialog) this.resolveCall(dialog);
    else this.rejectCall(error ?? new SignalingError('transport-error', 'call failed'));
  }
}
