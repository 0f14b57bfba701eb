/**
 * SignalingPort on drachtio-srf 5.0.29 (promise API only): the SIP stack is drachtio-server, this
 * process is its application over the control connection. What each call relies on is documented
 * in drachtio-srf's JSDoc (lib/srf.js, lib/dialog.js) and README; see the comments below and the
 * fake in media-node/test/helpers/sip-fake-srf.ts, which follows the same documented behaviour.
 */

import type Srf from 'drachtio-srf';
import type {
  CallDialog,
  DialogEndReason,
  DtmfFromSignaling,
  InboundCall,
  NameAddr,
  OutboundCallRequest,
  OutboundDialog,
  SignalingPort,
  SipTransport,
  SourceAddress,
} from '../../ports/signaling.js';
import { SignalingError } from '../../ports/signaling.js';
import { chooseChallenge, digestAuthorization } from '../builtin/digest.js';
import { mediaType, parseDtmfInfo } from '../builtin/dtmf.js';
import { checkRedirectInput, checkRejectInput, toNameAddr } from '../builtin/inbound-call.js';
import { type SipLogger, silentLogger } from '../builtin/logger.js';
import { DEFAULT_MAX_FORWARDS } from '../builtin/message.js';
import { parseMessage, SipParseError } from '../builtin/parser.js';
import { type InviteRateLimit, InviteRateLimiter, LogThrottle } from '../builtin/source-limits.js';
import { parseNameAddress, parseSipUri, SipSyntaxError } from '../builtin/uri.js';
import { checkOutboundRequest } from '../builtin/user-agent.js';
import { assertWireHeader, assertWireReason, assertWireRequestLine, SipWireError } from '../builtin/wire-safety.js';
import type { SrfDialogLike, SrfLike, SrfRequestLike, SrfResponseLike } from './srf-api.js';

export interface DrachtioSignalingOptions {
  /** drachtio-server's control address, `host:port` (default port 9022). */
  address: string;
  secret: string;
  /**
   * The SIP address drachtio-server advertises. Default: the first `hostport` the server reports
   * when the connection is made (drachtio-srf's 'connect' event, e.g. `udp/10.0.0.5:5060,tcp/...`).
   */
  advertised?: { host: string; port: number };
  /** How long start() waits for the control connection, default 10 s. */
  connectTimeoutMs?: number;
  /** How long stop() waits for BYEs, default 2 s. */
  shutdownTimeoutMs?: number;
  /** How long answer() waits for the ACK, default 32 s (64*T1). */
  ackTimeoutMs?: number;
  /** Ring timeout when a placeCall request sets none, default 180 s. */
  defaultRingTimeoutMs?: number;
  /**
   * New INVITEs per source IP, as the built-in stack has it (over it: 503 with Retry-After). Off when
   * absent. drachtio-server owns the connections, so there is no per-address connection cap here.
   */
  inviteRateLimit?: InviteRateLimit;
  logger?: SipLogger;
  /** An Srf instance (tests pass a fake); by default a new drachtio-srf Srf. */
  srf?: SrfLike;
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';
const ACCEPT = 'application/sdp, application/dtmf-relay, application/dtmf';
/** Digest attempts per call, as the built-in stack: one per challenge, one more only for a stale nonce. */
const MAX_AUTH_ATTEMPTS = 2;

type SendOptions = { headers?: Record<string, string>; body?: string };

/**
 * The one way the adapter answers a request (drachtio-srf's Response#send): status, reason phrase and
 * headers are checked as the built-in serializer checks them (sip/builtin/wire-safety.ts) and a
 * SipWireError is thrown before anything reaches drachtio-server. Bodies are framed by drachtio-server.
 */
function sendChecked(res: SrfResponseLike, status: number, reason: string | undefined, opts: SendOptions = {}): void {
  if (reason !== undefined) assertWireReason(reason);
  for (const [name, value] of Object.entries(opts.headers ?? {})) assertWireHeader(name, value);
  if (reason === undefined) res.send(status, opts);
  else res.send(status, reason, opts);
}

/**
 * The built-in parser's validation on the message drachtio-server handed over (`req.raw`): the same
 * faults the built-in stack answers (parser.ts) are found here, whatever drachtio-server let through.
 * Undefined when the message is well-formed, or when there is no raw text to check.
 */
export function rawMessageFault(req: SrfRequestLike): SipParseError | undefined {
  const raw = req.raw;
  if (typeof raw !== 'string' || raw === '') return undefined;
  try {
    parseMessage(Buffer.from(raw, 'utf8'));
    return undefined;
  } catch (err) {
    return err instanceof SipParseError ? err : new SipParseError('Bad Request', undefined, 400, String(err));
  }
}

async function loadSrf(): Promise<SrfLike> {
  const { default: Srf } = await import('drachtio-srf');
  return asSrfLike(new Srf());
}

/** Compile-time proof that drachtio-srf's own types satisfy the narrow interface. */
function asSrfLike(srf: Srf): SrfLike {
  return srf;
}

export class DrachtioSignaling implements SignalingPort {
  private srf: SrfLike | undefined;
  private readonly advertisedAddress: { host: string; port: number };
  private readonly logger: SipLogger;
  private readonly dialogs = new Set<DrachtioDialog>();
  private accepting = false;
  private readonly inviteLimiter: InviteRateLimiter | undefined;
  private readonly rateLog = new LogThrottle();
  private readonly malformedLog = new LogThrottle();

  constructor(private readonly options: DrachtioSignalingOptions) {
    this.advertisedAddress = { ...(options.advertised ?? { host: '', port: 0 }) };
    this.logger = options.logger ?? silentLogger;
    this.srf = options.srf;
    this.inviteLimiter = options.inviteRateLimit ? new InviteRateLimiter(options.inviteRateLimit) : undefined;
  }

  get advertised(): { host: string; port: number } {
    return { ...this.advertisedAddress };
  }

  async start(onInvite: (call: InboundCall) => void): Promise<void> {
    const srf = this.srf ?? (await loadSrf());
    this.srf = srf;
    const [host, portText] = splitHostPort(this.options.address);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`drachtio-server at ${this.options.address} did not accept the connection in time`)),
        this.options.connectTimeoutMs ?? 10_000,
      );
      // README / lib/drachtio-agent.js: 'connect' is emitted with (err, hostport) once authenticated.
      srf.on('connect', (err, hostPort) => {
        clearTimeout(timer);
        if (err) {
          reject(new Error(`drachtio-server at ${this.options.address} refused the connection: ${err.message}`));
          return;
        }
        if (!this.options.advertised && hostPort) Object.assign(this.advertisedAddress, firstHostPort(hostPort));
        resolve();
      });
      srf.on('error', (err) => {
        this.logger.warn({ err }, 'drachtio connection error');
        clearTimeout(timer);
        reject(err);
      });
      srf.on('disconnect', () => this.logger.warn({}, 'drachtio-server connection lost'));
      // drachtio-srf auto-reconnects with connect(); a rejected promise is reported through 'error' too.
      Promise.resolve(srf.connect({ host, port: Number(portText ?? 9022), secret: this.options.secret })).catch(
        (err: unknown) => this.logger.debug({ err }, 'drachtio connect() rejected'),
      );
    });
    // srf.use(method, fn) is the documented middleware hook per SIP method; OPTIONS outside a dialog.
    srf.use('options', (req, res) => {
      if (this.answeredAsMalformed(req, res)) return;
      res.send(200, { headers: { Allow: ALLOW, Accept: ACCEPT } });
    });
    srf.invite((req, res) => {
      if (this.answeredAsMalformed(req, res)) return;
      if (!this.accepting) {
        res.send(503);
        return;
      }
      if (!this.admitInvite(req, res)) return;
      const maxForwards = req.get('max-forwards');
      if (maxForwards !== undefined && Number(maxForwards) === 0) {
        res.send(483); // §16.3: no hop left to forward this call on
        return;
      }
      let call: DrachtioInboundCall;
      try {
        call = new DrachtioInboundCall(this, srf, req, res);
      } catch (err) {
        this.logger.warn({ err }, 'unusable INVITE from drachtio');
        res.send(400);
        return;
      }
      try {
        onInvite(call);
      } catch (err) {
        this.logger.error({ err, callId: call.callId }, 'onInvite threw; answering 500');
        call.reject(500);
      }
    });
    this.accepting = true;
  }

  /**
   * A request drachtio-server passed on although the built-in parser finds it malformed: answered
   * `<status> <fault>` (400 naming the fault, 505, 513), as the built-in stack would. True if answered.
   */
  private answeredAsMalformed(req: SrfRequestLike, res: SrfResponseLike): boolean {
    const fault = rawMessageFault(req);
    if (!fault) return false;
    const source = `${req.source_address}:${req.source_port}`;
    const { log, suppressed } = this.malformedLog.hit(req.source_address);
    if (log) {
      this.logger.warn(
        { source, method: req.method, reason: fault.reason, detail: fault.detail, suppressedSinceLastLog: suppressed },
        'malformed SIP request from drachtio-server answered',
      );
    }
    sendChecked(res, fault.status, fault.reason);
    return true;
  }

  /** The per-source INVITE rate (sip/builtin/source-limits.ts): false when answered 503 with Retry-After. */
  private admitInvite(req: SrfRequestLike, res: SrfResponseLike): boolean {
    if (!this.inviteLimiter) return true;
    const verdict = this.inviteLimiter.take(req.source_address);
    if (verdict.kind === 'accept') return true;
    const { log, suppressed } = this.rateLog.hit(req.source_address);
    if (log) {
      this.logger.warn(
        {
          source: req.source_address,
          perSecond: this.inviteLimiter.perSecond,
          burst: this.inviteLimiter.burst,
          limitedSinceLastLog: suppressed,
        },
        'INVITE rate per source exceeded: answering 503 Retry-After',
      );
    }
    // drachtio-server holds the transaction whatever we do, so even a flood is answered (never 'drop').
    const retryAfterS = verdict.kind === 'refuse' ? verdict.retryAfterS : 1;
    sendChecked(res, 503, undefined, { headers: { 'Retry-After': String(retryAfterS) } });
    return false;
  }

  placeCall(request: OutboundCallRequest): Promise<OutboundDialog> {
    const srf = this.srf;
    if (!srf || !this.accepting)
      return Promise.reject(new SignalingError('invalid-state', 'drachtio signaling is not running'));
    try {
      checkOutboundRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<OutboundDialog>((resolve, reject) => {
      let inviteSent: SrfRequestLike | undefined;
      let settled = false;
      let cancelWanted = false;
      let authAttempts = 0;
      const finish = (error: SignalingError | undefined, dialog?: DrachtioDialog): void => {
        if (settled) return;
        settled = true;
        clearTimeout(ringTimer);
        request.signal?.removeEventListener('abort', onAbort);
        if (dialog) resolve(dialog);
        else reject(error);
      };
      // lib/srf.js createUAC example: cancel the INVITE via the request handed to cbRequest.
      const giveUp = (error: SignalingError): void => {
        cancelWanted = true;
        if (inviteSent) inviteSent.cancel();
        finish(error);
      };
      const onAbort = (): void => giveUp(new SignalingError('cancelled', 'the call was aborted'));
      const ringMs = request.ringTimeoutMs ?? this.options.defaultRingTimeoutMs ?? 180_000;
      const ringTimer = setTimeout(
        () => giveUp(new SignalingError('no-answer', `no answer within ${ringMs} ms`)),
        ringMs,
      );
      if (request.signal?.aborted) {
        finish(new SignalingError('cancelled', 'the call was aborted before it started'));
        return;
      }
      request.signal?.addEventListener('abort', onAbort, { once: true });
      const baseHeaders: Record<string, string> = {
        ...(request.headers ?? {}),
        'Max-Forwards': String(request.maxForwards ?? DEFAULT_MAX_FORWARDS),
      };
      baseHeaders.From = request.from.displayName
        ? `"${request.from.displayName.replace(/["\\]/g, '\\$&')}" <${request.from.uri}>`
        : `<${request.from.uri}>`;
      const target = withTransport(request.target, request.transport);
      // createUAC opts.proxy: "send the request through an outbound proxy, specified as full sip uri or address[:port]".
      const proxy = request.outboundProxy
        ? withTransport(`sip:${request.outboundProxy.replace(/^sips?:/i, '')}`, request.transport)
        : undefined;

      /** One INVITE; `extra` are the headers of a retry that answers a challenge (Call-ID, CSeq, From, credentials). */
      const attempt = (extra: Record<string, string>): void => {
        const headers = { ...baseHeaders, ...extra };
        try {
          assertWireRequestLine('INVITE', target);
          for (const [name, value] of Object.entries(headers)) assertWireHeader(name, value);
        } catch (err) {
          finish(
            new SignalingError('invalid-input', `INVITE not sent: ${(err as Error).message}`, undefined, {
              cause: err,
            }),
          );
          return;
        }
        inviteSent = undefined;
        srf
          .createUAC(
            target,
            { localSdp: request.sdp, headers, ...(proxy ? { proxy } : {}) },
            {
              cbRequest: (req) => {
                inviteSent = req;
                if (cancelWanted) req.cancel();
              },
              cbProvisional: (res) => {
                if (settled) return;
                const sdp = res.body && mediaType(res.get('content-type')) === 'application/sdp' ? res.body : undefined;
                try {
                  request.onProgress?.({
                    status: res.status,
                    reason: res.reason,
                    ...(sdp === undefined ? {} : { sdp }),
                  });
                } catch (err) {
                  this.logger.error({ err }, 'onProgress listener threw');
                }
              },
            },
          )
          .then(
            (srfDialog) => {
              const dialog = this.track(this.wrapDialog(srfDialog));
              dialog.markConfirmed();
              if (settled)
                void dialog.hangup(); // answered after we gave up: end it
              else finish(undefined, dialog);
            },
            (err: unknown) => {
              if (settled || cancelWanted) {
                finish(toSignalingError(err, 'INVITE'));
                return;
              }
              const retry = digestRetry(err, request, inviteSent, target, authAttempts);
              if (retry) {
                authAttempts += 1;
                attempt(retry);
                return;
              }
              finish(toSignalingError(err, 'INVITE'));
            },
          );
      };
      attempt({});
    });
  }

  /** @internal */
  wrapDialog(srfDialog: SrfDialogLike): DrachtioDialog {
    return new DrachtioDialog(srfDialog, this.logger, this.options.ackTimeoutMs);
  }

  /** @internal */
  track(dialog: DrachtioDialog): DrachtioDialog {
    this.dialogs.add(dialog);
    void dialog.ended.then(() => this.dialogs.delete(dialog));
    return dialog;
  }

  get acceptingCalls(): boolean {
    return this.accepting;
  }

  async stop(): Promise<void> {
    if (!this.srf) return;
    this.accepting = false;
    const byes = [...this.dialogs].map((d) => d.shutdown());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(byes),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.shutdownTimeoutMs ?? 2000);
      }),
    ]);
    clearTimeout(timer);
    this.srf.disconnect();
  }
}

/** An INVITE drachtio-server handed us (srf.invite), until its final response. */
class DrachtioInboundCall implements InboundCall {
  readonly callId: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly requestUri: string;
  readonly requestUser: string;
  readonly requestHost: string;
  readonly xHeaders: Record<string, string>;
  readonly source: SourceAddress;
  readonly sdp: string | undefined;
  readonly maxForwards: number;
  readonly cancelled: AbortSignal;
  private readonly abort = new AbortController();
  private final = false;

  constructor(
    private readonly port: DrachtioSignaling,
    private readonly srf: SrfLike,
    private readonly req: SrfRequestLike,
    private readonly res: SrfResponseLike,
  ) {
    this.callId = req.get('call-id') ?? req.callId;
    this.from = toNameAddr(parseNameAddress(req.get('from') ?? ''));
    this.to = toNameAddr(parseNameAddress(req.get('to') ?? ''));
    this.requestUri = req.uri;
    let user = '';
    let host = '';
    try {
      const uri = parseSipUri(req.uri);
      user = uri.user;
      host = uri.host;
    } catch (err) {
      if (!(err instanceof SipSyntaxError)) throw err; // tel: and other schemes carry no user/host
    }
    this.requestUser = user;
    this.requestHost = host;
    this.xHeaders = Object.fromEntries(Object.entries(req.headers).filter(([name]) => /^x-/i.test(name)));
    this.source = {
      address: req.source_address,
      port: Number(req.source_port),
      transport: toTransport(req.protocol),
    };
    this.sdp = req.body && mediaType(req.get('content-type')) === 'application/sdp' ? req.body : undefined;
    // 0-255 when the raw message was checked (rawMessageFault); anything unreadable counts as absent.
    const maxForwards = Number(req.get('max-forwards') ?? DEFAULT_MAX_FORWARDS);
    this.maxForwards =
      Number.isInteger(maxForwards) && maxForwards >= 0 && maxForwards <= 255 ? maxForwards : DEFAULT_MAX_FORWARDS;
    this.cancelled = this.abort.signal;
    // lib/srf.js: the INVITE request emits 'cancel' when the caller CANCELs; like createB2BUA we answer 487.
    req.on('cancel', () => {
      if (this.final) return;
      this.final = true;
      if (!this.res.finalResponseSent) this.res.send(487);
      this.abort.abort(new SignalingError('cancelled', 'the caller cancelled'));
    });
  }

  progress(status: 180 | 183, sdp?: string): void {
    if (this.final) return;
    this.res.send(status, sdp === undefined ? {} : { body: sdp, headers: { 'Content-Type': 'application/sdp' } });
  }

  async answer(sdp: string): Promise<CallDialog> {
    if (this.cancelled.aborted) throw new SignalingError('cancelled', 'the caller cancelled');
    if (this.final) throw new SignalingError('invalid-state', 'the INVITE was already answered');
    this.final = true;
    let srfDialog: SrfDialogLike;
    try {
      // createUAS resolves "at the moment that the 200 OK is sent ..., not when the ACK is subsequently received"
      // (lib/srf.js JSDoc); it rejects with SipError 487 when the caller cancels first.
      srfDialog = await this.srf.createUAS(this.req, this.res, { localSdp: sdp });
    } catch (err) {
      throw toSignalingError(err, 'answer');
    }
    const dialog = this.port.track(this.port.wrapDialog(srfDialog));
    await dialog.awaitAck();
    return dialog;
  }

  reject(status: number, reason?: string, headers?: Record<string, string>): void {
    checkRejectInput(status, reason, headers); // SignalingError('invalid-input') before anything is sent
    if (this.final) return;
    this.final = true;
    sendChecked(this.res, status, reason, { headers: headers ?? {} });
  }

  redirect(contacts: string[]): void {
    checkRedirectInput(contacts);
    if (this.final) return;
    this.final = true;
    const contact = contacts.map((c) => (c.includes('<') ? c : `<${c}>`)).join(', ');
    sendChecked(this.res, 302, undefined, { headers: { Contact: contact } });
  }
}

/** A drachtio-srf Dialog behind the CallDialog / OutboundDialog interface. */
export class DrachtioDialog implements OutboundDialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly ended: Promise<DialogEndReason>;
  private resolveEnded!: (reason: DialogEndReason) => void;
  private done = false;
  private acked = false;
  private ackWaiters: (() => void)[] = [];
  private readonly dtmfListeners: ((dtmf: DtmfFromSignaling) => void)[] = [];

  constructor(
    private readonly dialog: SrfDialogLike,
    private readonly logger: SipLogger,
    private readonly ackTimeoutMs: number | undefined,
  ) {
    this.callId = dialog.sip.callId;
    this.localTag = dialog.sip.localTag;
    this.remoteTag = dialog.sip.remoteTag;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    // Dialog#destroy event: "triggered when the Dialog is torn down from the far end".
    dialog.on('destroy', () => this.finish('remote-bye'));
    // Dialog#ack event (lib/dialog.js): emitted for the ACK of our 2xx.
    dialog.on('ack', () => {
      this.acked = true;
      for (const wake of this.ackWaiters) wake();
      this.ackWaiters = [];
    });
    // Dialog#info: "When an application adds a handler ... it must generate the SIP response".
    dialog.on('info', (req, res) => {
      res.send(200);
      const dtmf = parseDtmfInfo(req.get('content-type'), req.body ?? '');
      if (!dtmf) return;
      for (const listener of this.dtmfListeners) {
        try {
          listener(dtmf);
        } catch (err) {
          this.logger.error({ err, callId: this.callId }, 'DTMF listener threw');
        }
      }
    });
  }

  get remoteSdp(): string {
    return this.dialog.remote.sdp;
  }

  /** UAC dialogs are confirmed by drachtio-srf's own ACK. */
  markConfirmed(): void {
    this.acked = true;
  }

  /** UAS: waits for the ACK of our 200; without it in time, BYE and 'ack-timeout' (§13.3.1.4). */
  async awaitAck(): Promise<void> {
    if (this.acked) return;
    const acked = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.ackTimeoutMs ?? 32_000);
      this.ackWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      void this.ended.then(() => {
        clearTimeout(timer);
        resolve(this.acked);
      });
    });
    if (acked) return;
    if (this.done) throw new SignalingError('invalid-state', 'the dialog ended before the ACK');
    await this.bye('ack-timeout');
    throw new SignalingError('ack-timeout', 'no ACK for our 200 OK; sent BYE');
  }

  onDtmf(listener: (dtmf: DtmfFromSignaling) => void): void {
    this.dtmfListeners.push(listener);
  }

  onReoffer(listener: (sdp: string) => Promise<string>): void {
    // Dialog#modify: with a handler the app must answer; without one drachtio-srf answers with the local SDP.
    this.dialog.on('modify', (req, res) => {
      listener(req.body).then(
        (sdp) => res.send(200, { body: sdp, headers: { 'Content-Type': 'application/sdp' } }),
        (err: unknown) => {
          this.logger.warn({ err, callId: this.callId }, 're-INVITE offer rejected by listener');
          res.send(488);
        },
      );
    });
  }

  async reinvite(sdp: string): Promise<string> {
    if (this.done) throw new SignalingError('invalid-state', 'the dialog has ended');
    try {
      // Dialog#modify(sdp) returns a Promise of the remote SDP; drachtio-srf sends the ACK.
      return await this.dialog.modify(sdp);
    } catch (err) {
      throw toSignalingError(err, 're-INVITE');
    }
  }

  async hangup(): Promise<void> {
    if (!this.acked && !this.done) {
      // No ACK in time: awaitAck already sent the BYE; the one below then finds the dialog ended.
      await this.awaitAck().catch((err: unknown) =>
        this.logger.debug({ err, callId: this.callId }, 'hang-up before the ACK'),
      );
    }
    await this.bye('local-bye');
  }

  shutdown(): Promise<void> {
    return this.bye('shutdown');
  }

  private async bye(reason: DialogEndReason): Promise<void> {
    if (this.done) return;
    this.finish(reason);
    try {
      // Dialog#destroy: "destroy the sip dialog by generating a BYE request"; a Promise without callback.
      await this.dialog.destroy();
    } catch (err) {
      this.logger.info({ err, callId: this.callId }, 'BYE failed');
    }
  }

  private finish(reason: DialogEndReason): void {
    if (this.done) return;
    this.done = true;
    this.resolveEnded(reason);
  }
}

/**
 * A 401/407 to our INVITE, answered with the built-in digest code (sip/builtin/digest.ts: MD5 and
 * SHA-256, qop=auth) instead of drachtio-srf's MD5-only client: the headers of the retry, which
 * keeps the Call-ID and From (with its tag) of the INVITE that was challenged and raises its CSeq by
 * one (RFC 3261 §22.2, §8.1.3.5), as drachtio-srf's own digest client does (lib/digest-client.js).
 * drachtio-server takes Call-ID, CSeq and From from the application's headers (only Via, Route,
 * RSeq, Record-Route and Content-Length are its own). Undefined when the challenge is not answered
 * (no credentials, no usable challenge, or attempts used up) and the call fails with the status.
 */
function digestRetry(
  err: unknown,
  request: OutboundCallRequest,
  sent: SrfRequestLike | undefined,
  target: string,
  attempts: number,
): Record<string, string> | undefined {
  const status = (err as { status?: unknown } | undefined)?.status;
  if (status !== 401 && status !== 407) return undefined;
  const res = (err as { res?: SrfResponseLike }).res;
  const credentials = request.credentials;
  if (!res || !credentials) return undefined;
  const proxy = status === 407;
  const challenge = chooseChallenge(challengeHeaders(res, proxy ? 'proxy-authenticate' : 'www-authenticate'));
  if (!challenge) return undefined;
  if (attempts >= MAX_AUTH_ATTEMPTS || (attempts > 0 && !challenge.stale)) return undefined;
  const callId = sent?.get('call-id') ?? res.get('call-id');
  const from = sent?.get('from') ?? res.get('from');
  const seq = Number.parseInt(sent?.get('cseq') ?? res.get('cseq') ?? '', 10);
  if (!callId || !from || !Number.isInteger(seq)) return undefined;
  const value = digestAuthorization(challenge, {
    method: 'INVITE',
    uri: sent?.uri ?? target,
    username: credentials.username,
    password: credentials.password,
    nc: 1,
  });
  return {
    'Call-ID': callId,
    CSeq: `${seq + 1} INVITE`,
    From: from,
    [proxy ? 'Proxy-Authorization' : 'Authorization']: value,
  };
}

/**
 * The challenge header lines of a response, one per challenge. From the raw message when drachtio-srf
 * has it (each line separately); otherwise from SipMessage#get, which joins several lines with ','
 * (lib/sip-parser/parser.js), split again before each `Digest` scheme.
 */
function challengeHeaders(res: SrfResponseLike, name: string): string[] {
  if (typeof res.raw === 'string' && res.raw !== '') {
    try {
      return parseMessage(Buffer.from(res.raw, 'utf8')).headers.getAll(name);
    } catch (err) {
      // A response our parser refuses: fall back to drachtio-srf's reading of it.
      if (!(err instanceof SipParseError)) throw err;
    }
  }
  const joined = res.get(name);
  return joined ? joined.split(/,\s*(?=Digest\s)/i) : [];
}

/** drachtio-srf rejects with SipError (`status`, `reason`) for SIP outcomes; anything else is transport. */
function toSignalingError(err: unknown, what: string): SignalingError {
  if (err instanceof SignalingError) return err;
  if (err instanceof SipWireError)
    return new SignalingError('invalid-input', `${what}: ${err.message}`, undefined, { cause: err });
  const status =
    typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : undefined;
  if (status === 487) return new SignalingError('cancelled', `${what}: request terminated (487)`, 487);
  if (status !== undefined) {
    if (status === 408) return new SignalingError('transaction-timeout', `${what}: 408 Request Timeout`, 408);
    return new SignalingError(
      'rejected',
      `${what}: ${status} ${(err as { reason?: string }).reason ?? ''}`.trim(),
      status,
    );
  }
  return new SignalingError('transport-error', `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
}

function toTransport(protocol: string): SipTransport {
  const p = (protocol ?? '').toLowerCase();
  return p === 'tcp' || p === 'tls' ? p : p === 'wss' || p === 'ws' ? 'tcp' : 'udp';
}

function withTransport(uri: string, transport: SipTransport | undefined): string {
  if (!transport || /;\s*transport=/i.test(uri)) return uri;
  return transport === 'udp' ? uri : `${uri};transport=${transport}`;
}

function splitHostPort(address: string): [string, string | undefined] {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address.trim());
  if (!m) throw new Error(`invalid drachtio address ${address}`);
  return [m[1]!, m[2]];
}

/** `udp/10.0.0.5:5060,tcp/10.0.0.5:5060` → the first host and port. */
function firstHostPort(hostPorts: string): { host: string; port: number } {
  const first = hostPorts.split(',')[0] ?? '';
  const m = /^(?:[a-z]+\/)?\[?([^\]]+?)\]?:(\d+)$/i.exec(first.trim());
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: '', port: 0 };
}
