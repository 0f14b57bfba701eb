import { randomId } from '@sipms/shared/util/ids';
import {
  type CallDialog,
  type DialogEndReason,
  type DtmfFromSignaling,
  type InboundCall,
  type NameAddr,
  type OutboundCallRequest,
  type OutboundDialog,
  SignalingError,
  type SignalingPort,
  type SourceAddress,
} from '../../src/ports/signaling.js';

/**
 * Fake SIP for call-flow tests: scriptable inbound INVITEs, dialogs the test ends or sends INFO digits on,
 * and outbound calls whose outcome each test scripts. Semantics follow the built-in stack
 * (media-node/src/sip/builtin: inbound-call.ts, outbound-call.ts, dialog.ts): a final response is sent
 * once (later ones are ignored), a CANCEL after the final response has no effect, hangup() ends the
 * dialog at once with 'local-bye', and an outbound call rejects with a SignalingError.
 */

export const FAKE_OFFER_SDP = [
  'v=0',
  'o=caller 1 1 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  '',
].join('\r\n');

export const FAKE_CALLEE_SDP = FAKE_OFFER_SDP.replace('caller', 'callee').replaceAll('192.0.2.10', '192.0.2.20');

/** A response the fake stack sent for an INVITE. */
export interface SentResponse {
  status: number;
  reason?: string;
  headers?: Record<string, string>;
  sdp?: string;
  contacts?: string[];
}

function nameAddr(input: string | Partial<NameAddr> | undefined, fallback: string): NameAddr {
  const value = typeof input === 'string' || input === undefined ? { uri: input ?? fallback } : input;
  const uri = value.uri ?? fallback;
  const m = /^sips?:(?:([^@;]*)@)?([^;:>]+)/i.exec(uri);
  return {
    uri,
    user: value.user ?? decodeURIComponent(m?.[1] ?? ''),
    host: value.host ?? m?.[2] ?? '',
    ...(value.displayName !== undefined ? { displayName: value.displayName } : {}),
    ...(value.tag !== undefined ? { tag: value.tag } : {}),
  };
}

/** A confirmed dialog (inbound after the ACK, or an answered outbound call). */
export class FakeDialog implements OutboundDialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly remoteSdp: string;
  readonly ended: Promise<DialogEndReason>;
  /** Why the dialog ended, once it has. */
  endReason: DialogEndReason | undefined;
  /** How often the call flow called hangup(). */
  hangups = 0;
  /** A BYE went out from our side (hangup() while the dialog was up). */
  byeSent = false;
  /** Offers the call flow sent with reinvite(). */
  readonly reinvites: string[] = [];
  /** The peer's answer to our re-INVITEs, or a function that makes it (throw a SignalingError to reject). */
  reinviteAnswer: string | ((sdp: string) => string | Promise<string>) = FAKE_CALLEE_SDP;
  private readonly dtmfListeners: ((dtmf: DtmfFromSignaling) => void)[] = [];
  private reofferListener: ((sdp: string) => Promise<string>) | undefined;
  private resolveEnded!: (reason: DialogEndReason) => void;
  private localSdp: string;

  constructor(
    init: { callId?: string; localTag?: string; remoteTag?: string; remoteSdp?: string; localSdp?: string } = {},
  ) {
    this.callId = init.callId ?? randomId('call-', 12);
    this.localTag = init.localTag ?? randomId('', 8);
    this.remoteTag = init.remoteTag ?? randomId('', 8);
    this.remoteSdp = init.remoteSdp ?? '';
    this.localSdp = init.localSdp ?? '';
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  get isEnded(): boolean {
    return this.endReason !== undefined;
  }

  onDtmf(listener: (dtmf: DtmfFromSignaling) => void): void {
    this.dtmfListeners.push(listener);
  }

  onReoffer(listener: (sdp: string) => Promise<string>): void {
    this.reofferListener = listener;
  }

  async hangup(): Promise<void> {
    this.hangups += 1;
    if (this.isEnded) return;
    this.byeSent = true;
    this.end('local-bye');
  }

  async reinvite(sdp: string): Promise<string> {
    if (this.isEnded) throw new SignalingError('invalid-state', 'cannot re-INVITE a dialog that is terminated');
    this.reinvites.push(sdp);
    const answer = typeof this.reinviteAnswer === 'function' ? await this.reinviteAnswer(sdp) : this.reinviteAnswer;
    this.localSdp = sdp;
    return answer;
  }

  // ---- the test's side ----

  /** Ends the dialog (idempotent), as the stack does for a BYE, an ACK timeout, a dead transport or shutdown. */
  end(reason: DialogEndReason): void {
    if (this.isEnded) return;
    this.endReason = reason;
    this.resolveEnded(reason);
  }

  /** The other party sends BYE. */
  remoteBye(): void {
    this.end('remote-bye');
  }

  /** The other party sends a digit as SIP INFO (ignored once the dialog has ended, like a 481). */
  sendInfoDtmf(digit: string, durationMs = 160): void {
    if (this.isEnded) return;
    for (const l of this.dtmfListeners) l({ digit, durationMs, via: 'info' });
  }

  /** The other party sends a re-INVITE with an offer: 200 with the listener's answer, or 488 if it throws. */
  async remoteReinvite(sdp: string): Promise<{ status: 200; sdp: string } | { status: 488 | 481 }> {
    if (this.isEnded) return { status: 481 };
    if (!this.reofferListener) return { status: 200, sdp: this.localSdp };
    try {
      const answer = await this.reofferListener(sdp);
      this.localSdp = answer;
      return { status: 200, sdp: answer };
    } catch {
      return { status: 488 };
    }
  }
}

export interface InviteOptions {
  callId?: string;
  from?: string | Partial<NameAddr>;
  to?: string | Partial<NameAddr>;
  requestUri?: string;
  /** Default: the Request-URI's user part and host. */
  requestUser?: string;
  requestHost?: string;
  xHeaders?: Record<string, string>;
  source?: Partial<SourceAddress>;
  /** The SDP offer; `null` for an INVITE without a body. */
  sdp?: string | null;
  /** The INVITE's Max-Forwards (default 70, as the stacks report a missing one). */
  maxForwards?: number;
  /**
   * What happens after our 200 OK: 'auto' (the ACK comes, default), 'timeout' (it never does: the stack
   * sends BYE and answer() rejects with 'ack-timeout'), 'manual' (the test calls ack() / ackTimeout()).
   */
  ack?: 'auto' | 'timeout' | 'manual';
}

/** An INVITE outside a dialog, until its final response (InboundCall), and what the flow answered. */
export class FakeInboundCall implements InboundCall {
  readonly callId: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly requestUri: string;
  readonly requestUser: string;
  readonly requestHost: string;
  readonly xHeaders: Record<string, string>;
  readonly source: SourceAddress;
  readonly sdp: string | undefined;
  readonly cancelled: AbortSignal;
  readonly maxForwards: number;
  /** Every response the flow sent, in order (1xx and the final one). */
  readonly responses: SentResponse[] = [];
  /** The dialog, once the flow answered. */
  dialog: FakeDialog | undefined;
  /** Resolves with the final response (a 200 counts when it is sent, before the ACK). */
  readonly finalResponse: Promise<SentResponse>;
  private readonly abort = new AbortController();
  private readonly ackMode: NonNullable<InviteOptions['ack']>;
  private finalSent = false;
  private resolveFinal!: (r: SentResponse) => void;
  private pendingAck: { resolve: (d: CallDialog) => void; reject: (e: Error) => void } | undefined;

  constructor(options: InviteOptions = {}) {
    this.callId = options.callId ?? randomId('call-', 12);
    this.from = nameAddr(
      typeof options.from === 'string' || options.from === undefined
        ? { uri: options.from ?? 'sip:alice@192.0.2.10', displayName: 'Alice', tag: randomId('', 8) }
        : { tag: randomId('', 8), ...options.from },
      'sip:alice@192.0.2.10',
    );
    this.to = nameAddr(options.to, options.requestUri ?? 'sip:ivr@acme.sip.test');
    this.requestUri = options.requestUri ?? this.to.uri;
    const req = nameAddr(this.requestUri, this.requestUri);
    this.requestUser = options.requestUser ?? req.user;
    this.requestHost = options.requestHost ?? req.host;
    this.xHeaders = options.xHeaders ?? {};
    this.source = { address: '192.0.2.10', port: 5060, transport: 'udp', ...options.source };
    this.sdp = options.sdp === null ? undefined : (options.sdp ?? FAKE_OFFER_SDP);
    this.cancelled = this.abort.signal;
    this.maxForwards = options.maxForwards ?? 70;
    this.ackMode = options.ack ?? 'auto';
    this.finalResponse = new Promise((resolve) => {
      this.resolveFinal = resolve;
    });
  }

  /** The final response, if one was sent. */
  get final(): SentResponse | undefined {
    return this.responses.find((r) => r.status >= 200);
  }

  get provisional(): SentResponse[] {
    return this.responses.filter((r) => r.status < 200);
  }

  private send(response: SentResponse): void {
    this.responses.push(response);
    if (response.status >= 200) this.resolveFinal(response);
  }

  progress(status: 180 | 183, sdp?: string): void {
    if (this.finalSent || this.cancelled.aborted) return;
    this.send({ status, ...(sdp === undefined ? {} : { sdp }) });
  }

  answer(sdp: string): Promise<CallDialog> {
    if (this.cancelled.aborted) return Promise.reject(new SignalingError('cancelled', 'the caller cancelled'));
    if (this.finalSent) return Promise.reject(new SignalingError('invalid-state', 'the INVITE was already answered'));
    this.finalSent = true;
    const dialog = new FakeDialog({
      callId: this.callId,
      remoteTag: this.from.tag ?? '',
      remoteSdp: this.sdp ?? '',
      localSdp: sdp,
    });
    this.dialog = dialog;
    this.send({ status: 200, sdp });
    return new Promise<CallDialog>((resolve, reject) => {
      this.pendingAck = { resolve, reject };
      if (this.ackMode === 'auto') setImmediate(() => this.ack());
      else if (this.ackMode === 'timeout') setImmediate(() => this.ackTimeout());
    });
  }

  reject(status: number, reason?: string, headers?: Record<string, string>): void {
    if (!Number.isInteger(status) || status < 300 || status > 699) {
      throw new RangeError(`reject() needs a status 300-699, got ${status}`);
    }
    if (this.finalSent || this.cancelled.aborted) return;
    this.finalSent = true;
    this.send({ status, ...(reason === undefined ? {} : { reason }), headers: headers ?? {} });
  }

  redirect(contacts: string[]): void {
    if (this.finalSent || this.cancelled.aborted) return;
    this.finalSent = true;
    this.send({
      status: 302,
      contacts,
      headers: { Contact: contacts.map((c) => (c.includes('<') ? c : `<${c}>`)).join(', ') },
    });
  }

  // ---- the test's side ----

  /** The caller CANCELs: 487 and `cancelled` aborts, unless a final response went out already. */
  cancel(): boolean {
    if (this.finalSent) return false;
    this.finalSent = true;
    this.send({ status: 487, reason: 'Request Terminated' });
    this.abort.abort(new SignalingError('cancelled', 'the caller cancelled'));
    return true;
  }

  /** The ACK for our 200 OK arrives (with ack: 'manual'). */
  ack(): void {
    const pending = this.pendingAck;
    this.pendingAck = undefined;
    if (pending && this.dialog) pending.resolve(this.dialog);
  }

  /** The ACK never came: the stack sent BYE (the dialog ends 'ack-timeout') and answer() rejects. */
  ackTimeout(): void {
    const pending = this.pendingAck;
    this.pendingAck = undefined;
    this.dialog?.end('ack-timeout');
    pending?.reject(new SignalingError('ack-timeout', 'no ACK for our 200 OK; sent BYE'));
  }
}

// ---- outbound calls ----

export interface ProgressStep {
  status: number;
  reason?: string;
  sdp?: string;
  /** After the previous step (ms); default 0. */
  afterMs?: number;
}

/** How a call the node places turns out; see `callOutcome` for the constructors. */
export type OutboundScript =
  | { kind: 'answer'; sdp: string; afterMs: number; progress: ProgressStep[] }
  | { kind: 'reject'; status: number; reason: string; afterMs: number; progress: ProgressStep[] }
  | { kind: 'no-answer'; progress: ProgressStep[]; afterMs: number | undefined }
  | { kind: 'fail'; code: 'transport-error' | 'transaction-timeout'; afterMs: number }
  | { kind: 'manual' };

export const callOutcome = {
  /** 200 OK with `sdp` after the progress steps and `afterMs`. */
  answer: (o: { sdp?: string; afterMs?: number; progress?: ProgressStep[] } = {}): OutboundScript => ({
    kind: 'answer',
    sdp: o.sdp ?? FAKE_CALLEE_SDP,
    afterMs: o.afterMs ?? 0,
    progress: o.progress ?? [],
  }),
  /** A final non-2xx: SignalingError('rejected', …, status). */
  reject: (
    status: number,
    o: { reason?: string; afterMs?: number; progress?: ProgressStep[] } = {},
  ): OutboundScript => ({
    kind: 'reject',
    status,
    reason: o.reason ?? (status === 486 ? 'Busy Here' : 'Rejected'),
    afterMs: o.afterMs ?? 0,
    progress: o.progress ?? [],
  }),
  busy: (o: { afterMs?: number; progress?: ProgressStep[] } = {}): OutboundScript => callOutcome.reject(486, o),
  /**
   * Rings (after the progress steps) until the request's ring timeout: SignalingError('no-answer'). With
   * `afterMs`, the ring timer fires then instead (a test need not wait the seconds the flow asked for).
   */
  noAnswer: (o: { progress?: ProgressStep[]; afterMs?: number } = {}): OutboundScript => ({
    kind: 'no-answer',
    progress: o.progress ?? [],
    afterMs: o.afterMs,
  }),
  fail: (code: 'transport-error' | 'transaction-timeout' = 'transport-error', afterMs = 0): OutboundScript => ({
    kind: 'fail',
    code,
    afterMs,
  }),
  /** Nothing happens until the test drives the attempt (progress/answer/reject). */
  manual: (): OutboundScript => ({ kind: 'manual' }),
};

/** One placeCall: the request as the flow made it, and the controls of the far end. */
export class FakeOutboundAttempt {
  /** trying → (early) → answered | rejected | cancelled | no-answer | failed */
  state: 'trying' | 'early' | 'answered' | 'rejected' | 'cancelled' | 'no-answer' | 'failed' = 'trying';
  dialog: FakeDialog | undefined;
  /** A CANCEL went out (we gave up after a provisional response). */
  cancelSent = false;
  readonly result: Promise<OutboundDialog>;
  private resolveCall!: (d: OutboundDialog) => void;
  private rejectCall!: (e: SignalingError) => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private provisionalSeen = false;

  constructor(readonly request: OutboundCallRequest) {
    this.result = new Promise((resolve, reject) => {
      this.resolveCall = resolve;
      this.rejectCall = reject;
    });
    // Nobody may be listening yet when it rejects early: keep Node from reporting it as unhandled.
    this.result.catch(() => undefined);
  }

  get settled(): boolean {
    return this.state !== 'trying' && this.state !== 'early';
  }

  /** Runs the script (called by FakeSignaling). */
  run(script: OutboundScript): void {
    const { request } = this;
    if (request.signal?.aborted) {
      this.settle('cancelled', new SignalingError('cancelled', 'the call was aborted before it started'));
      return;
    }
    request.signal?.addEventListener('abort', this.onAbort, { once: true });
    const ringMs = request.ringTimeoutMs ?? 180_000;
    this.after(ringMs, () =>
      this.giveUp('no-answer', new SignalingError('no-answer', `no answer within ${ringMs} ms`)),
    );
    if (script.kind === 'manual') return;
    if (script.kind === 'fail') {
      this.after(script.afterMs, () => this.fail(script.code));
      return;
    }
    let at = 0;
    for (const step of script.progress) {
      at += step.afterMs ?? 0;
      this.after(at, () => this.progress(step.status, step.sdp, step.reason));
    }
    if (script.kind === 'answer') this.after(at + script.afterMs, () => this.answer(script.sdp));
    else if (script.kind === 'reject') this.after(at + script.afterMs, () => this.reject(script.status, script.reason));
    else if (script.kind === 'no-answer' && script.afterMs !== undefined) {
      this.after(at + script.afterMs, () =>
        this.giveUp('no-answer', new SignalingError('no-answer', `no answer within ${ringMs} ms`)),
      );
    }
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private readonly onAbort = (): void =>
    this.giveUp('cancelled', new SignalingError('cancelled', 'the call was aborted'));

  private giveUp(state: 'cancelled' | 'no-answer', err: SignalingError): void {
    if (this.settled) return;
    if (this.provisionalSeen) this.cancelSent = true;
    this.settle(state, err);
  }

  private settle(state: FakeOutboundAttempt['state'], err?: SignalingError): void {
    if (this.settled) return;
    this.state = state;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.request.signal?.removeEventListener('abort', this.onAbort);
    if (err) this.rejectCall(err);
    else if (this.dialog) this.resolveCall(this.dialog);
  }

  // ---- the far end ----

  /** A provisional response (180, or 183 with early-media SDP). */
  progress(status: number, sdp?: string, reason = status === 180 ? 'Ringing' : 'Session Progress'): void {
    if (this.settled) return;
    this.provisionalSeen = true;
    this.state = 'early';
    try {
      this.request.onProgress?.({ status, reason, ...(sdp === undefined ? {} : { sdp }) });
    } catch {
      // The stack logs a throwing listener and carries on.
    }
  }

  answer(sdp = FAKE_CALLEE_SDP): void {
    if (this.settled) return;
    this.dialog = new FakeDialog({ remoteSdp: sdp, localSdp: this.request.sdp });
    this.settle('answered');
  }

  reject(status: number, reason = 'Rejected'): void {
    this.settle('rejected', new SignalingError('rejected', `INVITE answered ${status} ${reason}`, status));
  }

  fail(code: 'transport-error' | 'transaction-timeout' = 'transport-error'): void {
    this.settle('failed', new SignalingError(code, code === 'transport-error' ? 'transport failed' : 'no response'));
  }
}

/**
 * SignalingPort for tests: `incoming()` delivers an INVITE to the started handler, `placeCall` runs the
 * next scripted outcome (`script()`), or `defaultOutcome` (answer at once).
 */
export class FakeSignaling implements SignalingPort {
  readonly advertised = { host: '127.0.0.1', port: 5060 };
  /** Every call placed, in order. */
  readonly placed: FakeOutboundAttempt[] = [];
  readonly inbound: FakeInboundCall[] = [];
  defaultOutcome: OutboundScript | ((request: OutboundCallRequest) => OutboundScript) = callOutcome.answer();
  private readonly scripts: OutboundScript[] = [];
  private onInvite: ((call: InboundCall) => void) | undefined;
  stopped = false;

  /** The outcomes of the next calls placed, in order. */
  script(...outcomes: OutboundScript[]): this {
    this.scripts.push(...outcomes);
    return this;
  }

  async placeCall(request: OutboundCallRequest): Promise<OutboundDialog> {
    const attempt = new FakeOutboundAttempt(request);
    this.placed.push(attempt);
    const next =
      this.scripts.shift() ??
      (typeof this.defaultOutcome === 'function' ? this.defaultOutcome(request) : this.defaultOutcome);
    attempt.run(next);
    return attempt.result;
  }

  async start(onInvite: (call: InboundCall) => void): Promise<void> {
    this.onInvite = onInvite;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.onInvite = undefined;
    for (const a of this.placed) {
      a.dialog?.end('shutdown');
      if (!a.settled) a.fail('transport-error');
    }
    for (const c of this.inbound) c.dialog?.end('shutdown');
  }

  /** An INVITE arrives; handed to the handler given to start() (if any). */
  incoming(options: InviteOptions = {}): FakeInboundCall {
    const call = new FakeInboundCall(options);
    this.inbound.push(call);
    this.onInvite?.(call);
    return call;
  }
}
