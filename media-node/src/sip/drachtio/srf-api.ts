/**
 * The part of drachtio-srf 5.0.29's API the adapter uses, as narrow structural types. The real
 * `Srf` satisfies them (checked in drachtio-signaling.ts); the unit tests' fake implements them.
 * Everything here is the promise API: createUAS / createUAC / Dialog#modify / Dialog#destroy
 * without callbacks return Promises (drachtio-srf lib/srf.js and lib/dialog.js JSDoc).
 */

export interface SrfMessageLike {
  /**
   * Header value by name, case-insensitive (SipMessage#get). Several lines of one header come joined
   * with ',' (lib/sip-parser/parser.js parse(), lazy mode).
   */
  get(name: string): string | undefined;
  has(name: string): boolean;
  body: string;
  /**
   * The message as drachtio-server forwarded it (SipMessage#raw: lib/sip-parser/message.js keeps the
   * string it parsed; Request and Response delegate `raw` to it; the type definitions declare it).
   * drachtio-server builds it from the header lines as received. Absent on messages built locally.
   */
  raw?: string;
}

export interface SrfRequestLike extends SrfMessageLike {
  method: string;
  uri: string;
  callId: string;
  /** Every header, lower-case names (SrfRequest#headers). */
  headers: Record<string, string>;
  source_address: string;
  source_port: string | number;
  protocol: string;
  /** 'cancel' fires when the caller CANCELs the INVITE (lib/srf.js createUAS and createB2BUA listen for it). */
  on(event: 'cancel', listener: () => void): unknown;
  /** Sends CANCEL for an INVITE we sent (the request handed to createUAC's cbRequest; "SipRequest#cancel"). */
  cancel(...args: unknown[]): unknown;
}

export interface SrfResponseLike extends SrfMessageLike {
  status: number;
  reason: string;
  finalResponseSent?: boolean;
  send(status: number, reason: string, opts: { headers?: Record<string, string>; body?: string }): void;
  send(status: number, opts?: { headers?: Record<string, string>; body?: string }): void;
}

export interface SrfDialogLike {
  sip: { callId: string; localTag: string; remoteTag: string };
  local: { sdp: string };
  remote: { sdp: string };
  destroy(opts?: { headers: Record<string, string> }): unknown;
  modify(sdp: string): Promise<string>;
  on(event: 'destroy', listener: (msg: SrfRequestLike) => void): unknown;
  on(event: 'ack', listener: (msg: SrfRequestLike) => void): unknown;
  on(event: 'info' | 'modify', listener: (req: SrfRequestLike, res: SrfResponseLike) => void): unknown;
}

export interface SrfLike {
  connect(config: { host: string; port: number; secret: string }): unknown;
  disconnect(): void;
  invite(handler: (req: SrfRequestLike, res: SrfResponseLike) => void): void;
  use(messageType: string, handler: (req: SrfRequestLike, res: SrfResponseLike) => void): void;
  createUAS(
    req: SrfRequestLike,
    res: SrfResponseLike,
    opts: { localSdp: string; headers?: Record<string, string> },
  ): Promise<SrfDialogLike>;
  /**
   * Rejects with a SipError (`status`, `reason`) for a non-2xx final response; the SipError carries
   * the response as `res` (lib/srf.js createUAC: `error.res = res`), which is how 401/407 challenges
   * are read. The adapter answers challenges itself (it never passes `auth`): drachtio-srf 5.0.29's
   * digest client (lib/digest-client.js) always answers with MD5.
   */
  createUAC(
    uri: string,
    opts: {
      localSdp: string;
      headers?: Record<string, string>;
      proxy?: string;
      auth?: { username: string; password: string };
    },
    progress: { cbRequest?: (req: SrfRequestLike) => void; cbProvisional?: (res: SrfResponseLike) => void },
  ): Promise<SrfDialogLike>;
  on(event: 'connect', listener: (err: Error | null, hostPort?: string) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  removeAllListeners?(event?: string): unknown;
}
