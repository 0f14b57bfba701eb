import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type CallbackName, FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { CallbackPort, CallbackRequest } from '../../src/ports/callbacks.js';

/** How a tenant's webhook behaves in a contract run. */
export type WebhookBehaviour =
  /** Answers every callback with `reply(type)` as its JSON body (200). */
  | { kind: 'reply'; reply: (type: CallbackName) => unknown }
  /** Answers 200 with a body that is not a valid reply (fails the contract's schema). */
  | { kind: 'invalid' }
  /** Nothing listens at the tenant's callback URL. */
  | { kind: 'unreachable' }
  /** Answers validly, but only after `delayMs`. */
  | { kind: 'slow'; delayMs: number; reply: (type: CallbackName) => unknown };

export interface CallbackPortUnderTest {
  port: CallbackPort;
  /** A tenant whose webhook behaves as given; returns its tenant id. */
  tenant(webhook: WebhookBehaviour): Promise<string>;
  /** What the tenant's webhook has received for a session so far, in arrival order. */
  received(tenantId: string, sessionId: string): { type: string; payload: unknown }[];
  close?(): Promise<void>;
}

const id = (prefix: string) => `${prefix}${randomBytes(6).toString('hex')}`;

/** A request with a body that satisfies the contract's schema for `type`. */
export function request(tenantId: string, type: CallbackName, seq = 1, sessionId = id('s')): CallbackRequest {
  const eventId = id('e');
  const common = { sessionId, seq, timestamp: new Date().toISOString() };
  const payloads = {
    newCall: {
      ...common,
      participantId: 'p1',
      replyId: eventId,
      sipCallId: 'abc@198.51.100.1',
      from: { uri: 'sip:+4930123@198.51.100.1', user: '+4930123', displayName: 'Ünïcode Caller' },
      to: { uri: 'sip:service@t.sip.test', user: 'service' },
      requestUri: 'sip:service@t.sip.test',
      headers: { 'X-Trace': 'a;b=c' },
      sourceAddress: '198.51.100.1:5060',
      transport: 'udp',
    },
    getIvrCommand: {
      ...common,
      participantId: 'p1',
      replyId: eventId,
      dtmfParams: { digits: '12#', terminationKey: '#', reason: 'terminationKey' },
    },
    callEvent: { ...common, participantId: 'p2', event: 'calledPartyBusy', reason: '486 Busy Here' },
    callNotify: { ...common, participantId: 'p1', event: 'playbackFinished' },
    callAnswered: { ...common, participantId: 'p1', replyId: eventId },
    sessionCompleted: { ...common, sessionDuration: 12.5, reason: 'caller hung up' },
  } as const;
  return { eventId, tenantId, sessionId, seq, type, payload: payloads[type] as CallbackRequest['payload'] };
}

/** Replies that the contract's schemas read back unchanged (every default spelled out). */
export const VALID_REPLIES: Record<'newCall' | 'getIvrCommand' | 'callEvent', unknown> = {
  newCall: { action: 'ivr' },
  getIvrCommand: {
    phrases: [{ format: 'tts', text: 'Press one' }],
    bargeIn: 'all',
    hangup: false,
    dtmf: { maxDigits: 2, terminationKey: '#', firstDigitTimeoutMs: 4000, interDigitTimeoutMs: 2000 },
  },
  callEvent: { action: 'drop' },
};
const validReply = (type: CallbackName): unknown => VALID_REPLIES[type as keyof typeof VALID_REPLIES] ?? {};

/** The CallbackPort's behaviour (media-node/src/ports/callbacks.ts), run against the bus path and a fake alike. */
export function callbackPortContract(
  name: string,
  make: () => CallbackPortUnderTest | Promise<CallbackPortUnderTest>,
): void {
  describe(`CallbackPort contract: ${name}`, () => {
    let subject: CallbackPortUnderTest;
    before(async () => {
      subject = await make();
    });
    after(async () => {
      await subject?.close?.();
    });

    for (const type of ['newCall', 'getIvrCommand', 'callEvent'] as const) {
      test(`request(${type}) resolves with the tenant’s reply, not a fallback`, async () => {
        const tenantId = await subject.tenant({ kind: 'reply', reply: validReply });
        const res = await subject.port.request(request(tenantId, type), 5000);
        assert.deepEqual(res, { reply: VALID_REPLIES[type], fallback: false });
      });
    }

    test('the payload reaches the tenant unchanged, under the request’s type', async () => {
      const tenantId = await subject.tenant({ kind: 'reply', reply: validReply });
      const req = request(tenantId, 'newCall');
      await subject.port.request(req, 5000);
      assert.deepEqual(subject.received(tenantId, req.sessionId), [
        { type: 'newCall', payload: JSON.parse(JSON.stringify(req.payload)) },
      ]);
    });

    test('notifications a request carries reach the tenant first, in order, each under its own type', async () => {
      const tenantId = await subject.tenant({ kind: 'reply', reply: validReply });
      const sessionId = id('s');
      const answered = request(tenantId, 'callAnswered', 1, sessionId);
      const notified = request(tenantId, 'callNotify', 2, sessionId);
      const req = { ...request(tenantId, 'getIvrCommand', 3, sessionId), carried: [answered, notified] };
      const res = await subject.port.request(req, 5000);
      assert.deepEqual(res, { reply: VALID_REPLIES.getIvrCommand, fallback: false });
      assert.deepEqual(
        subject.received(tenantId, sessionId),
        [answered, notified, req].map((r) => ({ type: r.type, payload: JSON.parse(JSON.stringify(r.payload)) })),
      );
    });

    test('an unreachable webhook: request resolves with the defined fallback and a reason', async () => {
      const tenantId = await subject.tenant({ kind: 'unreachable' });
      const res = await subject.port.request(request(tenantId, 'getIvrCommand'), 5000);
      assert.equal(res.fallback, true);
      assert.deepEqual(res.reply, FALLBACK_REPLIES.getIvrCommand);
      assert.equal(typeof res.reason, 'string');
      assert.ok(res.reason!.length > 0);
    });

    test('a reply that breaks the schema: request resolves with the defined fallback and a reason', async () => {
      const tenantId = await subject.tenant({ kind: 'invalid' });
      const req = request(tenantId, 'newCall');
      const res = await subject.port.request(req, 5000);
      assert.equal(res.fallback, true);
      assert.deepEqual(res.reply, FALLBACK_REPLIES.newCall);
      assert.ok(res.reason && res.reason.length > 0);
      assert.equal(subject.received(tenantId, req.sessionId).length, 1, 'the webhook was asked');
    });

    test('no reply before the deadline: the fallback, about when the deadline passes', async () => {
      const tenantId = await subject.tenant({ kind: 'slow', delayMs: 1500, reply: validReply });
      const t0 = performance.now();
      const res = await subject.port.request(request(tenantId, 'callEvent'), 300);
      const took = performance.now() - t0;
      assert.equal(res.fallback, true);
      assert.deepEqual(res.reply, FALLBACK_REPLIES.callEvent);
      assert.ok(res.reason && res.reason.length > 0);
      assert.ok(took >= 250 && took < 1200, `resolved after ${Math.round(took)} ms`);
    });

    test('an aborted request resolves at once with the fallback', async () => {
      const tenantId = await subject.tenant({ kind: 'slow', delayMs: 1500, reply: validReply });
      const abort = new AbortController();
      const t0 = performance.now();
      const pending = subject.port.request(request(tenantId, 'getIvrCommand'), 5000, abort.signal);
      setTimeout(() => abort.abort(), 100);
      const res = await pending;
      assert.equal(res.fallback, true);
      assert.deepEqual(res.reply, FALLBACK_REPLIES.getIvrCommand);
      assert.ok(performance.now() - t0 < 1000, 'did not wait for the webhook');
    });

    test('notify resolves after delivery: the tenant has the payload by then', async () => {
      const tenantId = await subject.tenant({ kind: 'reply', reply: () => ({}) });
      const req = request(tenantId, 'callNotify');
      await subject.port.notify(req, 5000);
      assert.deepEqual(subject.received(tenantId, req.sessionId), [
        { type: 'callNotify', payload: JSON.parse(JSON.stringify(req.payload)) },
      ]);
    });

    test('notify one after another: the tenant receives them in seq order', async () => {
      const tenantId = await subject.tenant({ kind: 'reply', reply: () => ({}) });
      const sessionId = id('s');
      for (const [seq, type] of [
        [1, 'callAnswered'],
        [2, 'callNotify'],
        [3, 'sessionCompleted'],
      ] as const) {
        await subject.port.notify(request(tenantId, type, seq, sessionId), 5000);
      }
      assert.deepEqual(
        subject.received(tenantId, sessionId).map((r) => [r.type, (r.payload as { seq: number }).seq]),
        [
          ['callAnswered', 1],
          ['callNotify', 2],
          ['sessionCompleted', 3],
        ],
      );
    });

    test('notify to an unreachable webhook resolves (never rejects)', async () => {
      const tenantId = await subject.tenant({ kind: 'unreachable' });
      await subject.port.notify(request(tenantId, 'sessionCompleted'), 3000);
    });
  });
}
