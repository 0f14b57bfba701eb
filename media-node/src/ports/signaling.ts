/**
 * The media node's one narrow port to SIP. The call-flow core sees only these types; the built-in
 * RFC 3261 stack (`sip/builtin`) and the drachtio-srf adapter (`sip/drachtio`) implement them.
 */

export type SipTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** The transports a SIP URI can be resolved to (RFC 3263); WebSocket peers are only reached over their own connection. */
export type RoutableTransport = Exclude<SipTransport, 'ws' | 'wss'>;

/**
 * Who a connection speaks for, when its transport authenticated it (SIP over WebSocket: the browser's short-lived
 * credential). Such a source may only call its own tenant's numbers.
 */
export interface SourcePrincipal {
  tenantId: string;
  credentialId: string;
  /** After this (epoch ms) new calls from the connection are refused; calls in progress go on. */
  expiresAtMs: number;
}

export interface NameAddr {
  /** The full URI, e.g. `sip:+4912345@example.com;user=phone`. */
  uri: string;
  /** The URI's user part, unescaped; '' when the URI has none. */
  user: string;
  host: string;
  displayName?: string;
  tag?: string;
}

export interface SourceAddress {
  address: string;
  port: number;
  transport: SipTransport;
  /** Set by transports that authenticate their connections (WebSocket). */
  principal?: SourcePrincipal;
}

/** Why a dialog ended; stable strings that the call flow journals and maps to callEvents. */
export type DialogEndReason =
  | 'remote-bye' // the other party sent BYE
  | 'local-bye' // we sent BYE (hangup())
  | 'ack-timeout' // our 2xx was never ACKed (RFC 3261 §13.3.1.4): we sent BYE
  | 'transport-error' // the peer became unreachable
  /**
   * RFC 4028 session timer: the peer, as refresher, sent no refresh (re-INVITE or UPDATE) in time, or
   * our refresh was answered 408/481 or not at all; we sent BYE
   */
  | 'session-expired'
  | 'shutdown'; // the node is stopping

export interface DtmfFromSignaling {
  /** '0'-'9', '*', '#', 'A'-'D' */
  digit: string;
  durationMs: number;
  /** 'info' for SIP INFO (application/dtmf-relay or application/dtmf). */
  via: 'info';
}

export interface CallDialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** Resolves once, when the dialog has ended for whatever reason. */
  readonly ended: Promise<DialogEndReason>;
  /** Sends BYE (if the dialog is still up) and resolves when it is answered or timed out. */
  hangup(): Promise<void>;
  /** Digits the peer sent as SIP INFO. */
  onDtmf(listener: (dtmf: DtmfFromSignaling) => void): void;
  /**
   * A re-INVITE with an SDP offer (hold/unhold, codec change). The listener returns the SDP answer;
   * if it throws, the re-INVITE is answered 488. Without a listener the current local SDP is resent.
   */
  onReoffer(listener: (sdp: string) => Promise<string>): void;
  /**
   * Sends a re-INVITE with `sdp` as the offer and resolves with the peer's SDP answer (the ACK is sent).
   * Rejects with SignalingError('rejected', status) on a non-2xx final response (491 on glare).
   */
  reinvite(sdp: string): Promise<string>;
}

/** An outbound call (UAC): a B2BUA leg towards a SIP URI, or a number through a tenant's trunk. */
export interface OutboundCallRequest {
  /** Request-URI, e.g. `sip:alice@example.com` or `sip:+4930123@trunk.example.net`. */
  target: string;
  /** From: the caller id presented. */
  from: { uri: string; displayName?: string };
  /** The SDP offer (from rtpengine). */
  sdp: string;
  /**
   * Extra headers, e.g. `X-` headers the tenant asked for. Names must be tokens and values free of
   * control characters; headers the stack writes itself (Via, From, To, Call-ID, CSeq, Contact,
   * Max-Forwards, Route, Record-Route, Content-Length) are refused (SignalingError 'invalid-input').
   */
  headers?: Record<string, string>;
  /**
   * Max-Forwards of the INVITE (RFC 3261 §8.1.1.6, §20.22), 0-255; default 70. A B2BUA leg passes the
   * inbound call's `maxForwards - 1` so that a loop through other B2BUAs ends (§16.3 step 3).
   */
  maxForwards?: number;
  /** Digest credentials for 401/407 challenges (RFC 7616: MD5 and SHA-256, qop=auth). */
  credentials?: { username: string; password: string };
  /** Send to this host[:port] instead of resolving the target (an outbound trunk / proxy). */
  outboundProxy?: string;
  transport?: SipTransport;
  /** No final response within this time → CANCEL and reject with 'no-answer'. */
  ringTimeoutMs?: number;
  /** Aborting sends CANCEL (or BYE if answered meanwhile) and rejects with 'cancelled'. */
  signal?: AbortSignal;
  /** Provisional responses: 180/183, with the early-media SDP if any. */
  onProgress?: (progress: { status: number; reason: string; sdp?: string }) => void;
}

export interface OutboundDialog extends CallDialog {
  /** The callee's SDP answer from the 200 OK. */
  readonly remoteSdp: string;
}

export interface InboundCall {
  readonly callId: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly requestUri: string;
  /** The parsed Request-URI's user part and host, for tenant lookup. */
  readonly requestUser: string;
  readonly requestHost: string;
  /** `X-` headers of the INVITE, names as received, values as received. */
  readonly xHeaders: Record<string, string>;
  readonly source: SourceAddress;
  /** The SDP offer of the INVITE, if any (a body of type application/sdp). */
  readonly sdp: string | undefined;
  /**
   * The INVITE's Max-Forwards (RFC 3261 §20.22), 70 when it had none. Both adapters always set it; an
   * INVITE arriving with 0 never gets here (the stack answers 483 Too Many Hops, §16.3). A B2BUA
   * places its outbound leg with `maxForwards - 1`. Optional only so that other implementations of
   * this interface (test fakes) need not set it.
   */
  readonly maxForwards?: number;
  /** Aborted when the caller CANCELs before a final response (the stack has answered 487). */
  readonly cancelled: AbortSignal;
  /** Sends a provisional response (180 Ringing or 183 Session Progress with early-media SDP). */
  progress(status: 180 | 183, sdp?: string): void;
  /**
   * Sends 200 OK with `sdp` and retransmits it until the ACK arrives. Resolves with the dialog on
   * ACK; rejects with a SignalingError if the call was cancelled first or the ACK never came (in
   * which case the stack has sent BYE, as §13.3.1.4 asks).
   */
  answer(sdp: string): Promise<CallDialog>;
  /**
   * Final non-2xx response. `status` 300-699 (RangeError otherwise). A `reason` or header with a
   * control character (CR, LF, …), a header name that is not a token, or a header the stack owns
   * throws SignalingError('invalid-input') and nothing is sent: the INVITE is still unanswered.
   */
  reject(status: number, reason?: string, headers?: Record<string, string>): void;
  /**
   * 302 Moved Temporarily with the given Contact(s): SIP/SIPS URIs or name-addrs. An empty list, or
   * a contact that is neither or contains a control character, throws SignalingError('invalid-input')
   * and nothing is sent.
   */
  redirect(contacts: string[]): void;
}

export interface SignalingPort {
  /**
   * Places an outbound call; resolves with the dialog on 2xx (ACK sent). Rejects with SignalingError:
   * 'rejected' (non-2xx final, `status` set, e.g. 486 busy, 503), 'no-answer' (ring timeout),
   * 'cancelled' (signal aborted), 'transaction-timeout' (no response at all), 'transport-error',
   * 'invalid-input' (before anything is sent: a target or From that is not a SIP URI, a display name
   * or header with a control character, a header the stack owns, maxForwards outside 0-255).
   */
  placeCall(request: OutboundCallRequest): Promise<OutboundDialog>;
  /** Starts listening; resolves once the sockets are bound. Rejects with a clear error if a port is taken. */
  start(onInvite: (call: InboundCall) => void): Promise<void>;
  /** Stops accepting calls, ends open dialogs with BYE (bounded), closes sockets. */
  stop(): Promise<void>;
  /** The address this node advertises in Via/Contact. */
  readonly advertised: { host: string; port: number };
}

/** Raised by adapters for signaling outcomes the call flow must distinguish. */
export class SignalingError extends Error {
  constructor(
    readonly code:
      | 'cancelled'
      | 'ack-timeout'
      | 'transaction-timeout'
      | 'transport-error'
      | 'invalid-state'
      /** Input from the call core that cannot go on the wire (control characters, not a URI, …); nothing was sent. */
      | 'invalid-input'
      | 'rejected'
      | 'no-answer',
    message: string,
    /** The final SIP status for 'rejected'. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SignalingError';
  }
}
