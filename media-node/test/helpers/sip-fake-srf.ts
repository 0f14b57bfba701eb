/**
 * A fake drachtio-srf `Srf` for unit tests of the drachtio adapter (drachtio-server cannot run
 * here). Each method behaves as drachtio-srf 5.0.29 documents it; the comment on each says which
 * documented behaviour it relies on (JSDoc in node_modules/drachtio-srf/lib/srf.js and
 * lib/dialog.js, and the README at drachtio.org).
 */

import { EventEmitter } from 'node:events';
import type { SrfDialogLike, SrfLike, SrfRequestLike, SrfResponseLike } from '../../src/sip/drachtio/srf-api.js';

/**
 * drachtio-srf's SipError: an Error with `status` and `reason` (lib/sip_error.js); createUAC attaches
 * the final response as `res` (lib/srf.js: `const error = new SipError(res.status, res.reason);
 * error.res = res;`).
 */
export class FakeSipError extends Error {
  constructor(
    readonly status: number,
    readonly reason = '',
    readonly res?: FakeResponse,
  ) {
    super(`${status} ${reason}`);
    this.name = 'SipError';
  }
}

/**
 * The message as drachtio-srf's lazy parser sees it (lib/sip-parser/parser.js parse() with lazy=true):
 * start line split on spaces, headers split at CRLF not followed by SP/HTAB, names lower-cased
 * (compact forms expanded), repeated headers joined with ','. Undefined when that parser gives up
 * (no request line, a line without ':'): drachtio-agent.js then logs "unable to parse incoming
 * message" and the app never sees it.
 */
export function lazyParse(
  raw: string,
): { method: string; uri: string; headers: Record<string, string>; body: string } | undefined {
  const [head = '', ...rest] = raw.split('\r\n\r\n');
  const lines = head.split(/\r\n(?![ \t])/);
  const m = /^([\w.!%*+`'~-]+)\s+(\S+)\s+SIP\/(\d+\.\d+)$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const compact: Record<string, string> = {
    i: 'call-id',
    f: 'from',
    t: 'to',
    v: 'via',
    l: 'content-length',
    m: 'contact',
    c: 'content-type',
  };
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const h = /^(\S*?)\s*:\s*([\s\S]*)$/.exec(line);
    if (!h) return undefined;
    const name = compact[h[1]!.toLowerCase()] ?? h[1]!.toLowerCase();
    headers[name] = name in headers ? `${headers[name]},${h[2]}` : h[2]!;
  }
  return { method: m[1]!, uri: m[2]!, headers, body: rest.join('\r\n\r\n') };
}

export class FakeRequest extends EventEmitter implements SrfRequestLike {
  method = 'INVITE';
  uri: string;
  callId: string;
  headers: Record<string, string>;
  body: string;
  source_address = '192.0.2.10';
  source_port = '5060';
  protocol = 'udp';
  /** SipMessage#raw: the text drachtio-server forwarded (absent on requests built locally). */
  raw?: string;
  cancelled = false;
  onCancel: () => void = () => {};

  constructor(init: {
    uri: string;
    headers: Record<string, string>;
    body?: string;
    method?: string;
    raw?: string;
    source_address?: string;
  }) {
    super();
    this.uri = init.uri;
    this.headers = Object.fromEntries(Object.entries(init.headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.callId = this.headers['call-id'] ?? '';
    this.body = init.body ?? '';
    if (init.method) this.method = init.method;
    if (init.raw !== undefined) this.raw = init.raw;
    if (init.source_address) this.source_address = init.source_address;
  }

  /** SipMessage#get: header by name, case-insensitive. */
  get(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  has(name: string): boolean {
    return name.toLowerCase() in this.headers;
  }

  /** SipRequest#cancel (createUAC example "inviteSent.cancel()"): the pending INVITE ends with 487. */
  cancel(): void {
    this.cancelled = true;
    this.onCancel();
  }
}

export class FakeResponse implements SrfResponseLike {
  status = 0;
  reason = '';
  body = '';
  /** SipMessage#raw of a response from the network (set by `FakeResponse.final`). */
  raw?: string;
  finalResponseSent = false;
  readonly sent: { status: number; reason?: string; headers?: Record<string, string>; body?: string }[] = [];
  private readonly headerValues: Record<string, string> = {};

  get(name: string): string | undefined {
    return this.headerValues[name.toLowerCase()];
  }

  has(name: string): boolean {
    return name.toLowerCase() in this.headerValues;
  }

  /** SrfResponse#send(status[, reason], opts): sends the response; finals set finalResponseSent. */
  send(
    status: number,
    a?: string | { headers?: Record<string, string>; body?: string },
    b?: { headers?: Record<string, string>; body?: string },
  ): void {
    const opts = typeof a === 'string' ? b : a;
    this.sent.push({
      status,
      ...(typeof a === 'string' ? { reason: a } : {}),
      ...(opts?.headers ? { headers: opts.headers } : {}),
      ...(opts?.body ? { body: opts.body } : {}),
    });
    if (status >= 200) this.finalResponseSent = true;
  }

  /**
   * A final response from the far end to `request`, as createUAC hands it over in a SipError: Call-ID,
   * From, CSeq copied from the request (RFC 3261 §8.2.6.2), `extra` header lines (several lines of
   * one header allowed), and its raw text. SipMessage#get joins repeated headers with ','.
   */
  static final(request: FakeRequest, status: number, reason: string, extra: [string, string][] = []): FakeResponse {
    const res = new FakeResponse();
    res.status = status;
    res.reason = reason;
    const lines: [string, string][] = [
      ['Via', 'SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKfake'],
      ['From', request.get('from') ?? ''],
      ['To', `<${request.uri}>;tag=far`],
      ['Call-ID', request.get('call-id') ?? ''],
      ['CSeq', request.get('cseq') ?? '1 INVITE'],
      ...extra,
      ['Content-Length', '0'],
    ];
    for (const [name, value] of lines) {
      const key = name.toLowerCase();
      res.headerValues[key] = key in res.headerValues ? `${res.headerValues[key]},${value}` : value;
    }
    res.raw = `SIP/2.0 ${status} ${reason}\r\n${lines.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
    return res;
  }

  static provisional(status: number, reason: string, sdp?: string): FakeResponse {
    const res = new FakeResponse();
    res.status = status;
    res.reason = reason;
    if (sdp) {
      res.body = sdp;
      res.headerValues['content-type'] = 'application/sdp';
    }
    return res;
  }
}

export class FakeDialog extends EventEmitter implements SrfDialogLike {
  sip: { callId: string; localTag: string; remoteTag: string };
  local: { sdp: string };
  remote: { sdp: string };
  destroyed = false;
  /** What the far end answers to our re-INVITE: an SDP, or a SipError. */
  modifyAnswer: (sdp: string) => Promise<string> = async (sdp) => sdp;

  constructor(callId: string, localSdp: string, remoteSdp: string) {
    super();
    this.sip = { callId, localTag: 'local-tag', remoteTag: 'remote-tag' };
    this.local = { sdp: localSdp };
    this.remote = { sdp: remoteSdp };
  }

  /** Dialog#destroy: sends BYE; without a callback returns a Promise. */
  async destroy(): Promise<void> {
    this.destroyed = true;
  }

  /** Dialog#modify(sdp): re-INVITE; a Promise of the remote SDP, rejected with SipError on failure. */
  async modify(sdp: string): Promise<string> {
    const answer = await this.modifyAnswer(sdp);
    this.local.sdp = sdp;
    this.remote.sdp = answer;
    return answer;
  }

  // ---- driving the far end ----

  /** Dialog#destroy event: "triggered when the Dialog is torn down from the far end". */
  farEndBye(): void {
    this.emit('destroy', new FakeRequest({ uri: 'sip:x', headers: {} }));
  }

  /** Dialog#info event; with no handler drachtio-srf answers 200 itself. */
  farEndInfo(contentType: string, body: string): FakeResponse {
    const res = new FakeResponse();
    const req = new FakeRequest({ uri: 'sip:x', headers: { 'content-type': contentType }, body });
    if (this.listenerCount('info') === 0) res.send(200);
    else this.emit('info', req, res);
    return res;
  }

  /** Dialog#modify event; "When no handler is found ... a 200 OK with the current local SDP will be automatically generated." */
  farEndReinvite(sdp: string): FakeResponse {
    const res = new FakeResponse();
    this.remote.sdp = sdp;
    if (this.listenerCount('modify') === 0) res.send(200, { body: this.local.sdp });
    else
      this.emit(
        'modify',
        new FakeRequest({ uri: 'sip:x', headers: { 'content-type': 'application/sdp' }, body: sdp }),
        res,
      );
    return res;
  }

  /** Dialog 'ack' event (lib/dialog.js emits it for the ACK of the 200). */
  farEndAck(): void {
    this.emit('ack', new FakeRequest({ uri: 'sip:x', headers: {} }));
  }
}

type UacScript = (ctx: {
  uri: string;
  opts: Parameters<SrfLike['createUAC']>[1];
  provisional: (status: number, reason: string, sdp?: string) => void;
  request: FakeRequest;
}) => Promise<FakeDialog>;

export class FakeSrf extends EventEmitter implements SrfLike {
  connectedWith: { host: string; port: number; secret: string } | undefined;
  disconnected = false;
  /** The hostport string drachtio-server reports on connect. */
  hostPort = 'udp/198.51.100.20:5060,tcp/198.51.100.20:5060';
  refuse = false;
  readonly uasDialogs: FakeDialog[] = [];
  readonly uacCalls: { uri: string; opts: Parameters<SrfLike['createUAC']>[1]; request: FakeRequest }[] = [];
  uacScript: UacScript = async ({ request }) => new FakeDialog(request.callId || 'uac-call', '', 'v=0 answer');
  private inviteHandler: ((req: SrfRequestLike, res: SrfResponseLike) => void) | undefined;
  private readonly middleware = new Map<string, (req: SrfRequestLike, res: SrfResponseLike) => void>();

  /** Srf#connect: connects to drachtio-server; emits 'connect' (err, hostport) when authenticated. */
  connect(config: { host: string; port: number; secret: string }): Promise<void> {
    this.connectedWith = config;
    setImmediate(() =>
      this.emit('connect', this.refuse ? new Error('failed to authenticate to server') : null, this.hostPort),
    );
    return Promise.resolve();
  }

  /** Srf#disconnect. */
  disconnect(): void {
    this.disconnected = true;
  }

  /** Srf#invite(handler): called with (req, res) for every new INVITE. */
  invite(handler: (req: SrfRequestLike, res: SrfResponseLike) => void): void {
    this.inviteHandler = handler;
  }

  /** Srf#use(method, handler): middleware for one SIP method. */
  use(messageType: string, handler: (req: SrfRequestLike, res: SrfResponseLike) => void): void {
    this.middleware.set(messageType.toLowerCase(), handler);
  }

  /**
   * Srf#createUAS: sends 200 OK with opts.localSdp; the Promise resolves "at the moment that the
   * 200 OK is sent ..., not when the ACK is subsequently received"; a CANCEL first → SipError 487.
   */
  async createUAS(req: SrfRequestLike, res: SrfResponseLike, opts: { localSdp: string }): Promise<FakeDialog> {
    if ((req as FakeRequest).cancelled) throw new FakeSipError(487, 'Request Terminated');
    res.send(200, { body: opts.localSdp, headers: { 'Content-Type': 'application/sdp' } });
    const dialog = new FakeDialog(req.get('call-id') ?? '', opts.localSdp, req.body);
    this.uasDialogs.push(dialog);
    return dialog;
  }

  /**
   * Srf#createUAC(uri, opts, {cbRequest, cbProvisional}): cbRequest gets the INVITE sent, cbProvisional
   * each 1xx; resolves with the Dialog on 2xx, rejects with SipError (status) otherwise, 487 after cancel.
   * The INVITE handed to cbRequest is the one drachtio-server sent: the app's headers, with Call-ID,
   * CSeq and From (plus a tag) filled in where the app gave none. drachtio-server takes those three from
   * the app (only Via, Route, RSeq, Record-Route and Content-Length are its own: m_setImmutableHdrs in
   * drachtio-server's src/drachtio.cpp), which is what drachtio-srf's digest client relies on when it
   * resends with the same Call-ID and From and CSeq+1 (lib/digest-client.js).
   */
  createUAC(
    uri: string,
    opts: Parameters<SrfLike['createUAC']>[1],
    progress: { cbRequest?: (req: SrfRequestLike) => void; cbProvisional?: (res: SrfResponseLike) => void },
  ): Promise<FakeDialog> {
    const given = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const from = given['from'] ?? '<sip:drachtio@localhost>';
    const request = new FakeRequest({
      uri,
      headers: {
        ...given,
        'call-id': given['call-id'] ?? `uac-${this.uacCalls.length}`,
        from: /;\s*tag=/i.test(from) ? from : `${from};tag=fake${this.uacCalls.length}`,
        cseq: given['cseq'] ?? '1 INVITE',
      },
      body: opts.localSdp,
    });
    this.uacCalls.push({ uri, opts, request });
    return new Promise<FakeDialog>((resolve, reject) => {
      request.onCancel = () => reject(new FakeSipError(487, 'Request Terminated'));
      setImmediate(() => {
        progress.cbRequest?.(request);
        this.uacScript({
          uri,
          opts,
          request,
          provisional: (status, reason, sdp) => progress.cbProvisional?.(FakeResponse.provisional(status, reason, sdp)),
        }).then((dialog) => (request.cancelled ? undefined : resolve(dialog)), reject);
      });
    });
  }

  // ---- driving drachtio-server's side ----

  /** An INVITE arriving at drachtio-server, handed to the app's invite handler. */
  receiveInvite(init: {
    uri: string;
    headers: Record<string, string>;
    body?: string;
    raw?: string;
    source_address?: string;
  }): {
    req: FakeRequest;
    res: FakeResponse;
  } {
    const req = new FakeRequest(init);
    const res = new FakeResponse();
    if (!this.inviteHandler) throw new Error('no invite handler registered');
    this.inviteHandler(req, res);
    return { req, res };
  }

  /**
   * A request drachtio-server let through, as text: parsed the way drachtio-srf does (lazyParse), with
   * `raw` kept (SipMessage#raw), and dispatched like drachtio-srf's router does: INVITE to the invite
   * handler, other methods to their `use` middleware. Undefined when drachtio-srf's parser would drop it
   * or nothing handles the method.
   */
  receiveRaw(raw: string): { req: FakeRequest; res: FakeResponse } | undefined {
    const parsed = lazyParse(raw);
    if (!parsed) return undefined;
    const req = new FakeRequest({ ...parsed, raw });
    const res = new FakeResponse();
    const handler = parsed.method === 'INVITE' ? this.inviteHandler : this.middleware.get(parsed.method.toLowerCase());
    if (!handler) return undefined;
    handler(req, res);
    return { req, res };
  }

  /** The caller CANCELs: the request emits 'cancel' (lib/srf.js createUAS listens for it). */
  cancelInvite(req: FakeRequest): void {
    req.cancelled = true;
    req.emit('cancel');
  }

  receiveOptions(): FakeResponse {
    const res = new FakeResponse();
    this.middleware.get('options')?.(new FakeRequest({ uri: 'sip:x', headers: {} }), res);
    return res;
  }
}
