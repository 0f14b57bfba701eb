import * as JsSIP from 'jssip';
import type { SoftphoneCredential } from '../api.js';
import { type CallOutcome, socketFailureMessage } from './failure.js';
import { parseWsUrl, socketUrl, targetUri } from './target.js';

type RTCSession = ReturnType<JsSIP.UA['call']>;

// JsSIP's debug output names the WebSocket URL, and the URL carries the token: kept off whatever a
// developer set in localStorage.debug.
JsSIP.debug.disable();

/** How long the WebSocket may take to open before the call is given up. */
const CONNECT_TIMEOUT_MS = 10_000;

export type CallState = 'connecting' | 'calling' | 'ringing' | 'answered' | 'in-call';

export interface CallEvents {
  state(state: CallState): void;
  /** The remote party's audio, once the peer connection has it (at the answer, or early media). */
  remoteStream(stream: MediaStream): void;
  /** Once, when the call is over: `answered` tells a failed call from an ended one. */
  over(outcome: CallOutcome, answered: boolean): void;
}

/**
 * One softphone call with JsSIP: a UA on the credential's WebSocket (no REGISTER: the credential is the
 * admission), an INVITE to the number at the WebSocket's host, RFC 4733 DTMF, hang-up.
 */
export class SoftphoneCall {
  private session: RTCSession | undefined;
  private answered = false;
  private iceFailed = false;
  private done = false;

  private constructor(
    private readonly ua: JsSIP.UA,
    private readonly events: CallEvents,
  ) {}

  /** Resolves once the INVITE is on its way; rejects when the WebSocket is refused or unreachable. */
  static async start(
    credential: SoftphoneCredential,
    number: string,
    mediaStream: MediaStream,
    events: CallEvents,
  ): Promise<SoftphoneCall> {
    const target = targetUri(credential.wsUrl, number);
    const origin = parseWsUrl(credential.wsUrl).origin;
    let ua: JsSIP.UA;
    try {
      ua = new JsSIP.UA({
        sockets: [new JsSIP.WebSocketInterface(socketUrl(credential.wsUrl, credential.token))],
        uri: credential.sipUri,
        register: false,
        user_agent: 'SIP Mediaserver console softphone',
      });
    } catch {
      // JsSIP's own message quotes the URL, token and all: replaced by one that names no secret.
      throw new Error(`JsSIP refused the credential's WebSocket URL ${origin} or SIP URI ${credential.sipUri}`);
    }
    const call = new SoftphoneCall(ua, events);
    events.state('connecting');
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => {
        ua.stop();
        fail(new Error(socketFailureMessage(origin)));
      }, CONNECT_TIMEOUT_MS);
      ua.on('connected', () => {
        clearTimeout(timer);
        ok();
      });
      ua.on('disconnected', () => {
        clearTimeout(timer);
        // Before the call: the upgrade was refused (HTTP 401) or nothing listens. During it: the link dropped.
        if (call.session) call.finish({ cause: 'Connection Error', originator: 'system' });
        else {
          ua.stop();
          fail(new Error(socketFailureMessage(origin)));
        }
      });
      ua.start();
    });
    try {
      call.invite(target, mediaStream);
    } catch (err) {
      ua.stop();
      throw err;
    }
    return call;
  }

  private invite(target: string, mediaStream: MediaStream): void {
    const outcome = (originator: string, message: unknown, cause: string): CallOutcome => {
      const res = message as { status_code?: number; reason_phrase?: string } | null | undefined;
      return {
        cause,
        originator,
        ...(typeof res?.status_code === 'number' ? { statusCode: res.status_code } : {}),
        ...(res?.reason_phrase ? { reasonPhrase: res.reason_phrase } : {}),
        iceFailed: this.iceFailed,
      };
    };
    this.session = this.ua.call(target, {
      mediaStream,
      // Host candidates only: rtpengine is reachable directly (no STUN/TURN in the contract).
      pcConfig: { iceServers: [] },
      sessionTimersExpires: 1800,
      eventHandlers: {
        peerconnection: ({ peerconnection }) => {
          peerconnection.addEventListener('track', (ev) => {
            this.events.remoteStream(ev.streams[0] ?? new MediaStream([ev.track]));
          });
          peerconnection.addEventListener('iceconnectionstatechange', () => {
            if (peerconnection.iceConnectionState === 'failed') this.iceFailed = true;
          });
        },
        sending: () => this.events.state('calling'),
        progress: () => this.events.state('ringing'),
        accepted: () => {
          this.answered = true;
          this.events.state('answered');
        },
        confirmed: () => this.events.state('in-call'),
        ended: (e) => this.finish(outcome(e.originator, e.message, e.cause)),
        failed: (e) => this.finish(outcome(e.originator, e.message, e.cause)),
      },
    });
  }

  get established(): boolean {
    return this.session?.isEstablished() ?? false;
  }

  /** RFC 4733 events on the media (never SIP INFO); JsSIP queues tones sent while others play. */
  sendDtmf(tone: string): void {
    if (!this.session?.isEstablished()) throw new Error('no call in progress');
    this.session.sendDTMF(tone, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833 });
  }

  hangup(): void {
    if (this.session && !this.session.isEnded()) this.session.terminate();
    else this.finish({ cause: 'Terminated', originator: 'local' });
  }

  private finish(outcome: CallOutcome): void {
    if (this.done) return;
    this.done = true;
    this.ua.stop();
    this.events.over({ ...outcome, iceFailed: this.iceFailed || outcome.iceFailed === true }, this.answered);
  }
}
