/** An INVITE outside any dialog, as the call flow sees it (InboundCall), until its final response. */

import type { CallDialog, InboundCall, NameAddr, SourceAddress } from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { contactUri, type DialogHost, SipDialog } from './dialog.js';
import { mediaType } from './dtmf.js';
import { DEFAULT_MAX_FORWARDS, type ParsedRequest, type SipResponse } from './message.js';
import type { ResponseOptions } from './responses.js';
import { allowsMethod, type SessionTimerState } from './session-timer.js';
import type { ServerInviteTransaction } from './transactions.js';
import { type NameAddress, onSyntaxError, parseSipUri, type SipUri } from './uri.js';
import { checkContact, checkExtraHeaders, checkText } from './wire-safety.js';

/**
 * The checks reject() and redirect() make before anything is sent, shared by both adapters. Throws
 * SignalingError('invalid-input'); RangeError for a status outside 300-699.
 */
export function checkRejectInput(status: number, reason?: string, headers?: Record<string, string>): void {
  if (!Number.isInteger(status) || status < 300 || status > 699) {
    throw new RangeError(`reject() needs a status 300-699, got ${status}`);
  }
  checkText(reason, 'reject() reason phrase');
  checkExtraHeaders(headers, 'reject() headers');
}

export function checkRedirectInput(contacts: string[]): void {
  if (!Array.isArray(contacts) || contacts.length === 0) {
    throw new SignalingError('invalid-input', 'redirect() needs at least one contact');
  }
  for (const contact of contacts) checkContact(contact);
}

export interface InboundCallHost extends DialogHost {
  /** Builds a response to `request` (not yet sent). */
  buildResponse(request: ParsedRequest, status: number, options?: ResponseOptions): SipResponse;
  registerDialog(dialog: SipDialog): void;
  /** Our Contact for a dialog over `transport`. */
  contactFor(transport: SourceAddress['transport'], user?: string): string;
}

export function toNameAddr(addr: NameAddress): NameAddr {
  const result: NameAddr = { uri: addr.uri, user: '', host: '' };
  if (addr.sipUri) {
    result.user = addr.sipUri.user;
    result.host = addr.sipUri.host;
  } else if (/^tel:/i.test(addr.uri)) {
    result.user = addr.uri.slice(4).split(';')[0]!;
  }
  if (addr.displayName !== undefined) result.displayName = addr.displayName;
  if (addr.tag !== undefined) result.tag = addr.tag;
  return result;
}

/** The Request-URI parsed, or undefined for non-SIP schemes (e.g. tel:). */
function requestSipUri(text: string): SipUri | undefined {
  try {
    return parseSipUri(text);
  } catch (err) {
    return onSyntaxError(err, undefined);
  }
}

function xHeadersOf(request: ParsedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, value } of request.headers.all()) {
    if (!/^x-/i.test(name)) continue;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

export class PendingInboundCall implements InboundCall {
  readonly callId: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly requestUri: string;
  readonly requestUser: string;
  readonly requestHost: string;
  readonly xHeaders: Record<string, string>;
  readonly sdp: string | undefined;
  readonly maxForwards: number;
  readonly cancelled: AbortSignal;
  /** Our To tag, shared by provisional and final responses (§8.2.6.2). */
  private readonly localTag: string;
  private readonly abort = new AbortController();
  private readonly rawRequestUser: string;
  private final = false;

  constructor(
    private readonly host: InboundCallHost,
    private readonly invite: ParsedRequest,
    readonly source: SourceAddress,
    private readonly transaction: ServerInviteTransaction,
    localTag: string,
    /** Called once a final response is out: the UA stops tracking the call (CANCEL no longer applies). */
    private readonly onFinal: () => void = () => undefined,
    /** RFC 4028 §9: the session timer our 2xx sets and the headers that say so (negotiated by the UA). */
    private readonly sessionTimer?: { state: SessionTimerState; headers: Record<string, string> },
  ) {
    this.callId = invite.callId;
    this.from = toNameAddr(invite.from);
    this.to = toNameAddr(invite.to);
    this.requestUri = invite.uri;
    const uri = requestSipUri(invite.uri);
    this.requestUser = uri?.user ?? '';
    this.rawRequestUser = uri?.rawUser ?? '';
    this.requestHost = uri?.host ?? '';
    this.xHeaders = xHeadersOf(invite);
    const isSdp = invite.body.length > 0 && mediaType(invite.headers.get('content-type')) === 'application/sdp';
    this.sdp = isSdp ? invite.body.toString('utf8') : undefined;
    const maxForwards = invite.headers.get('max-forwards'); // 0-255, checked by the parser
    this.maxForwards = maxForwards === undefined ? DEFAULT_MAX_FORWARDS : Number(maxForwards);
    this.cancelled = this.abort.signal;
    this.localTag = localTag;
  }

  private get contact(): string {
    return this.host.contactFor(this.source.transport, this.rawRequestUser);
  }

  /**
   * The safety net for an application that never answers: 500 after `ms` (RFC 3261 leaves the
   * time to the UAS; we use Timer C's 3-minute floor by default, see docs/sip.md).
   */
  armSafetyTimer(ms: number): void {
    const timer = setTimeout(() => {
      if (this.final || this.transaction.finalSent || this.cancelled.aborted) return;
      this.final = true;
      this.send(500, { reason: 'No Answer From Application' });
    }, ms);
    timer.unref();
    this.clearSafetyTimer = () => clearTimeout(timer);
  }

  private clearSafetyTimer: () => void = () => undefined;

  private send(status: number, options: ResponseOptions): SipResponse {
    if (status >= 200) {
      this.clearSafetyTimer();
      this.onFinal();
    }
    const response = this.host.buildResponse(this.invite, status, { toTag: this.localTag, ...options });
    this.transaction.respond(response);
    return response;
  }

  progress(status: 180 | 183, sdp?: string): void {
    if (this.final || this.cancelled.aborted) return;
    this.send(status, sdp === undefined ? {} : { body: sdp, contentType: 'application/sdp' });
  }

  answer(sdp: string): Promise<CallDialog> {
    if (this.cancelled.aborted) return Promise.reject(new SignalingError('cancelled', 'the caller cancelled'));
    if (this.final) return Promise.reject(new SignalingError('invalid-state', 'the INVITE was already answered'));
    this.final = true;
    const contact = this.contact;
    const invite = this.invite;
    const reliable = this.source.transport !== 'udp';
    const dialog = new SipDialog(this.host, {
      role: 'uas',
      callId: invite.callId,
      localTag: this.localTag,
      remoteTag: invite.from.tag ?? '',
      localParty: `${invite.headers.get('to')!};tag=${this.localTag}`,
      remoteParty: invite.headers.get('from')!,
      remoteTarget: contactUri(invite) ?? invite.from.uri,
      routeSet: invite.headers.getAll('record-route'),
      localSeq: Math.floor(Math.random() * 10_000) + 1, // §12.1.1: any value below 2**31
      remoteSeq: invite.cseq.seq,
      localSdp: sdp,
      localContact: contact,
      transport: this.source.transport,
      // Requests back to a TCP/TLS caller reuse its connection while it is open.
      ...(reliable ? { flow: this.transaction.dest } : {}),
      state: 'awaiting-ack',
    });
    this.host.registerDialog(dialog);
    dialog.setPeerAllowsUpdate(allowsMethod(invite, 'UPDATE') ?? false);
    const response = this.send(200, {
      body: sdp,
      contentType: 'application/sdp',
      headers: {
        Contact: contact,
        Allow: this.host.capabilityHeaders['Allow'] ?? '',
        ...(this.sessionTimer?.headers ?? {}),
      },
    });
    // RFC 4028 §10: the session interval runs from the 2xx.
    if (this.sessionTimer) dialog.setSessionTimer(this.sessionTimer.state);
    return new Promise<CallDialog>((resolve, reject) => {
      dialog.awaitInitialAck(response, this.transaction.dest).then((outcome) => {
        if (outcome === 'acked') resolve(dialog);
        else if (outcome === 'ack-timeout')
          reject(new SignalingError('ack-timeout', 'no ACK for our 200 OK; sent BYE'));
        else reject(new SignalingError('invalid-state', 'the dialog ended before the ACK'));
      }, reject);
    });
  }

  reject(status: number, reason?: string, headers?: Record<string, string>): void {
    checkRejectInput(status, reason, headers);
    if (this.final || this.cancelled.aborted) return;
    this.final = true;
    this.send(status, { ...(reason === undefined ? {} : { reason }), headers: headers ?? {} });
  }

  redirect(contacts: string[]): void {
    checkRedirectInput(contacts);
    if (this.final || this.cancelled.aborted) return;
    this.final = true;
    const values = contacts.map((c) => (c.includes('<') ? c : `<${c}>`));
    this.send(302, { headers: { Contact: values } });
  }

  /** A matching CANCEL arrived (§9.2): 487 if no final response was sent yet. */
  cancel(): void {
    if (this.transaction.finalSent || this.final) return;
    this.final = true;
    this.send(487, {});
    // answer() called from here on rejects with 'cancelled'; once a 2xx is out, CANCEL has no effect (§9.2).
    this.abort.abort(new SignalingError('cancelled', 'the caller cancelled'));
  }

  /** The stack is stopping before this INVITE was answered. */
  refuseForShutdown(): void {
    if (this.final || this.transaction.finalSent) return;
    this.final = true;
    this.send(503, {});
  }
}
