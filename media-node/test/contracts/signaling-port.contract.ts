import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type CallDialog,
  type InboundCall,
  type OutboundCallRequest,
  SignalingError,
  type SignalingPort,
} from '../../src/ports/signaling.js';

/** How the far end of a call we place behaves. */
export type CalleeBehaviour =
  | { kind: 'reject'; status: number }
  /** Rings (180) and never answers. */
  | { kind: 'ring' }
  /** Answers 200 with this SDP. */
  | { kind: 'answer'; sdp: string };

/** A remote caller's INVITE towards the port under test, as the caller sees it go. */
export interface RemoteCall {
  /** The final response the caller got (its SDP for a 2xx). The caller ACKs it. */
  final: Promise<{ status: number; sdp?: string }>;
  /** The caller hangs up (BYE) and resolves when the BYE was answered. */
  bye(): Promise<void>;
}

export interface SignalingPortUnderTest {
  /** Not started: the contract starts it with its own INVITE handler. */
  signaling: SignalingPort;
  /** A Request-URI for a callee that behaves as given (the next call placed to it). */
  callee(behaviour: CalleeBehaviour): string;
  /** A remote party sends an INVITE to the port under test. */
  invite(input: {
    from: { uri: string; displayName: string };
    to: string;
    /** The Request-URI's user part. */
    user: string;
    sdp: string;
  }): RemoteCall;
  close?(): Promise<void>;
}

export const CONTRACT_OFFER = [
  'v=0',
  'o=contract 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  '',
].join('\r\n');
const CONTRACT_ANSWER = CONTRACT_OFFER.replace('40000', '41000').replace('o=contract', 'o=answerer');

const id = () => randomBytes(4).toString('hex');

function isSignalingError(code: SignalingError['code'], status?: number) {
  return (err: unknown) => {
    assert.ok(err instanceof SignalingError, `a SignalingError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (status !== undefined) assert.equal(err.status, status);
    return true;
  };
}

/** The SignalingPort's behaviour (media-node/src/ports/signaling.ts), run against real SIP and a fake alike. */
export function signalingPortContract(
  name: string,
  make: () => SignalingPortUnderTest | Promise<SignalingPortUnderTest>,
): void {
  describe(`SignalingPort contract: ${name}`, () => {
    let subject: SignalingPortUnderTest;
    let onInvite: (call: InboundCall) => void = (call) => call.reject(500);
    before(async () => {
      subject = await make();
      await subject.signaling.start((call) => onInvite(call));
    });
    after(async () => {
      await subject?.signaling.stop();
      await subject?.close?.();
    });

    const place = (target: string, extra: Partial<OutboundCallRequest> = {}) =>
      subject.signaling.placeCall({
        target,
        from: { uri: 'sip:ivr@acme.sip.test', displayName: 'IVR' },
        sdp: CONTRACT_OFFER,
        ...extra,
      });

    /** The next INVITE the port hands over. */
    const nextInvite = () =>
      new Promise<InboundCall>((resolve) => {
        onInvite = resolve;
      });

    test('placeCall: a final non-2xx rejects with SignalingError "rejected" and the status', async () => {
      await assert.rejects(place(subject.callee({ kind: 'reject', status: 486 })), isSignalingError('rejected', 486));
      await assert.rejects(place(subject.callee({ kind: 'reject', status: 603 })), isSignalingError('rejected', 603));
    });

    test('placeCall: no final response within ringTimeoutMs rejects with "no-answer"', async () => {
      const t0 = performance.now();
      await assert.rejects(
        place(subject.callee({ kind: 'ring' }), { ringTimeoutMs: 300 }),
        isSignalingError('no-answer'),
      );
      const took = performance.now() - t0;
      assert.ok(took >= 250 && took < 2000, `gave up after ${Math.round(took)} ms`);
    });

    test('placeCall: aborting the signal rejects with "cancelled"', async () => {
      const abort = new AbortController();
      const pending = place(subject.callee({ kind: 'ring' }), { signal: abort.signal });
      setTimeout(() => abort.abort(), 200);
      await assert.rejects(pending, isSignalingError('cancelled'));
    });

    test('placeCall: an answer resolves with the dialog and the callee’s SDP; hangup ends it "local-bye"', async () => {
      const dialog = await place(subject.callee({ kind: 'answer', sdp: CONTRACT_ANSWER }));
      assert.equal(dialog.remoteSdp, CONTRACT_ANSWER);
      assert.ok(dialog.callId && dialog.localTag && dialog.remoteTag);
      await dialog.hangup();
      assert.equal(await dialog.ended, 'local-bye');
    });

    test('an inbound INVITE reaches onInvite with from, to, request user and SDP', async () => {
      const invited = nextInvite();
      const user = `+4930${id()}`;
      const remote = subject.invite({
        from: { uri: 'sip:alice@198.51.100.7', displayName: 'Alice' },
        to: `sip:${user}@acme.sip.test`,
        user,
        sdp: CONTRACT_OFFER,
      });
      const call = await invited;
      assert.equal(call.from.uri, 'sip:alice@198.51.100.7');
      assert.equal(call.from.user, 'alice');
      assert.equal(call.from.host, '198.51.100.7');
      assert.equal(call.from.displayName, 'Alice');
      assert.ok(call.from.tag, 'the From tag');
      assert.equal(call.to.uri, `sip:${user}@acme.sip.test`);
      assert.equal(call.to.user, user);
      assert.equal(call.requestUser, user);
      assert.equal(call.sdp, CONTRACT_OFFER);
      assert.ok(call.callId);
      call.reject(480);
      assert.equal((await remote.final).status, 480);
    });

    test('reject(486): the caller sees 486', async () => {
      const invited = nextInvite();
      const remote = subject.invite({
        from: { uri: 'sip:bob@198.51.100.8', displayName: 'Bob' },
        to: 'sip:service@acme.sip.test',
        user: 'service',
        sdp: CONTRACT_OFFER,
      });
      (await invited).reject(486);
      assert.equal((await remote.final).status, 486);
    });

    test('answer: the caller gets 200 with our SDP, and answer() resolves with the dialog on ACK', async () => {
      const invited = nextInvite();
      const remote = subject.invite({
        from: { uri: 'sip:carol@198.51.100.9', displayName: 'Carol' },
        to: 'sip:service@acme.sip.test',
        user: 'service',
        sdp: CONTRACT_OFFER,
      });
      const call = await invited;
      const dialog: CallDialog = await call.answer(CONTRACT_ANSWER);
      assert.deepEqual(await remote.final, { status: 200, sdp: CONTRACT_ANSWER });
      assert.equal(dialog.callId, call.callId);
      assert.equal(dialog.remoteTag, call.from.tag);
      await dialog.hangup();
      assert.equal(await dialog.ended, 'local-bye');
    });

    test('remote BYE: dialog.ended resolves "remote-bye"', async () => {
      const invited = nextInvite();
      const remote = subject.invite({
        from: { uri: 'sip:dave@198.51.100.10', displayName: 'Dave' },
        to: 'sip:service@acme.sip.test',
        user: 'service',
        sdp: CONTRACT_OFFER,
      });
      const dialog = await (await invited).answer(CONTRACT_ANSWER);
      await remote.final;
      await remote.bye();
      assert.equal(await dialog.ended, 'remote-bye');
    });
  });
}
