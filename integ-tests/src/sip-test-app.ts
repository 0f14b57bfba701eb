/**
 * A small application on the SignalingPort for the SIP conformance suite: no media, static SDP.
 * What it does with an INVITE depends on the Request-URI user:
 *   answer  – 180, then 200; answers re-INVITEs (sendonly → recvonly), records INFO digits
 *   hangup  – like answer, then hangs up itself after `hangupAfterMs`
 *   ring    – 180 and never answers (for CANCEL)
 *   anything else – 404
 */

import type { CallDialog, DialogEndReason, InboundCall, SignalingPort } from '@sipms/media-node/ports/signaling';

export const STATIC_SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=sip-test-app',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 33000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

/** The answer to an offer: the direction mirrored (RFC 3264 §6.1), everything else static. */
export function answerFor(offer: string): string {
  const direction = /a=(sendonly|recvonly|inactive|sendrecv)/.exec(offer)?.[1] ?? 'sendrecv';
  const mirrored = { sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive', sendrecv: 'sendrecv' }[
    direction
  ];
  return STATIC_SDP.replace('a=sendrecv', `a=${mirrored}`);
}

export interface TestAppCall {
  callId: string;
  user: string;
  outcome: 'answered' | 'rejected' | 'cancelled' | 'failed' | 'ringing';
  dialog?: CallDialog;
  ended?: DialogEndReason;
  /** Why answering failed (outcome 'failed', or 'cancelled' when the caller cancelled first). */
  answerError?: unknown;
  digits: string[];
  reoffers: string[];
}

export class SipTestApp {
  readonly calls: TestAppCall[] = [];

  constructor(
    private readonly signaling: SignalingPort,
    private readonly options: { hangupAfterMs?: number } = {},
  ) {}

  start(): Promise<void> {
    return this.signaling.start((call) => this.onInvite(call));
  }

  stop(): Promise<void> {
    return this.signaling.stop();
  }

  private onInvite(call: InboundCall): void {
    const record: TestAppCall = {
      callId: call.callId,
      user: call.requestUser,
      outcome: 'ringing',
      digits: [],
      reoffers: [],
    };
    this.calls.push(record);
    call.cancelled.addEventListener('abort', () => {
      record.outcome = 'cancelled';
    });
    switch (call.requestUser) {
      case 'answer':
      case 'hangup':
        call.progress(180);
        call.answer(call.sdp ? answerFor(call.sdp) : STATIC_SDP).then(
          (dialog) => this.onAnswered(record, dialog, call.requestUser === 'hangup'),
          (err: unknown) => {
            record.answerError = err;
            if (record.outcome !== 'cancelled') record.outcome = 'failed';
          },
        );
        return;
      case 'ring':
        call.progress(180);
        return;
      default:
        record.outcome = 'rejected';
        call.reject(404);
    }
  }

  private onAnswered(record: TestAppCall, dialog: CallDialog, hangUp: boolean): void {
    record.outcome = 'answered';
    record.dialog = dialog;
    dialog.onDtmf((dtmf) => record.digits.push(dtmf.digit));
    dialog.onReoffer(async (offer) => {
      record.reoffers.push(offer);
      return answerFor(offer);
    });
    void dialog.ended.then((reason) => {
      record.ended = reason;
    });
    if (hangUp) setTimeout(() => void dialog.hangup(), this.options.hangupAfterMs ?? 300);
  }

  /** Calls whose user is `user`, in arrival order. */
  callsFor(user: string): TestAppCall[] {
    return this.calls.filter((c) => c.user === user);
  }
}
