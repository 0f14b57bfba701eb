import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PlaceIvrCallCommand } from '../../src/call/flows/outbound-call-flow.js';
import { callOutcome, FAKE_CALLEE_SDP, type FlowKit, flowKit, waitFor } from '../kit/index.js';

/** POST /placeivrcall as the node runs it (OutboundCallFlow.place). */

const STAY = { phrases: [{ format: 'silence', durationMs: 60_000 }] };

function placement(kit: FlowKit, overrides: Partial<PlaceIvrCallCommand> = {}): PlaceIvrCallCommand {
  return {
    tenantId: kit.tenant.tenantId,
    sessionId: 's-out-1',
    participantId: 'p-out-1',
    joinExisting: false,
    destination: 'sip:carol@example.com',
    timeoutSec: 30,
    ...overrides,
  };
}

async function finish(kit: FlowKit): Promise<void> {
  await kit.drained();
  kit.expectNoSlotsHeld();
  await kit.close();
}

describe('outbound IVR call', { concurrency: true }, () => {
  test('answered: callAnswered, then getIvrCommand; the called party runs IVR; session ends with it', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('getIvrCommand', { phrases: [{ format: 'tts', text: 'Hello Carol' }], hangup: true });
    kit.outbound.place(placement(kit, { sessionReferenceId: 'order-17' }));
    await finish(kit);
    const attempt = kit.signaling.placed[0]!;
    const leg = kit.media.legOf({ participantId: 'p-out-1' })!;
    assert.equal(attempt.request.target, 'sip:carol@example.com');
    assert.deepEqual(attempt.request.from, { uri: `sip:ivr@${kit.tenant.domain}` });
    assert.equal(attempt.request.sdp, leg.offerTowardsPeer);
    assert.equal(attempt.request.ringTimeoutMs, 30_000);
    assert.deepEqual(leg.ops[0], { op: 'accept', arg: FAKE_CALLEE_SDP });
    assert.deepEqual(leg.played, ['/fake/tts/Hello Carol.au']);
    assert.equal(attempt.dialog!.byeSent, true);
    assert.deepEqual(kit.callbacks.types(), ['callAnswered', 'getIvrCommand', 'sessionCompleted']);
    for (const c of kit.callbacks.calls) {
      assert.equal(c.sessionId, 's-out-1');
      assert.equal(c.body.sessionReferenceId, 'order-17');
    }
    assert.equal(kit.callbacks.bodies('callAnswered')[0]?.participantId, 'p-out-1');
    assert.equal(kit.callbacks.bodies('getIvrCommand')[0]?.participantId, 'p-out-1');
    kit.expectCompleted('hangup', 's-out-1');
    const record = kit.sessions.get('s-out-1')!;
    assert.equal(record.sessionReferenceId, 'order-17');
    const { answeredAt, ...stored } = record.participants['p-out-1']!;
    assert.match(String(answeredAt), /^\d{4}-\d\d-\d\dT/, 'the answer time is stored (billing after a node failure)');
    assert.deepEqual(stored, {
      direction: 'outbound',
      from: '',
      to: 'sip:carol@example.com',
      sipCallId: '',
      state: 'ended',
    });
    assert.deepEqual(kit.active.admissions, [], 'the API counted the attempt already');
    const totals = kit.usage.totals(kit.tenant.tenantId);
    assert.equal(totals.callAttempts, 1);
    assert.equal(totals.answeredCalls, 1);
    assert.equal(totals.ttsCharacters, 'Hello Carol'.length);
    assert.equal(leg.closed, true);
  });

  test('the caller id: a number becomes a user of the tenant domain, a SIP URI is used as given', async (t) => {
    const kit = flowKit(t);
    kit.tenants.claim('+4930555', kit.tenant.tenantId);
    kit.outbound.place(placement(kit, { callerId: '+4930555' }));
    kit.outbound.place(
      placement(kit, { sessionId: 's-out-2', participantId: 'p-out-2', callerId: `sip:desk@${kit.tenant.domain}` }),
    );
    await finish(kit);
    const froms = kit.signaling.placed.map((a) => a.request.from.uri).sort();
    assert.deepEqual(froms, [`sip:%2B4930555@${kit.tenant.domain}`, `sip:desk@${kit.tenant.domain}`].sort());
  });

  test('a called party whose SDP points the media at a forbidden address is hung up: calledPartyFailed', async (t) => {
    const kit = flowKit(t, { destinationPolicy: (a) => (a.startsWith('10.') ? 'private' : undefined) });
    kit.signaling.script(callOutcome.answer({ sdp: FAKE_CALLEE_SDP.replaceAll('192.0.2.20', '10.0.0.8') }));
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.equal(kit.signaling.placed[0]!.dialog?.byeSent, true);
    assert.deepEqual(kit.callbacks.events(), ['callEvent:calledPartyFailed', 'sessionCompleted']);
    assert.match(String(kit.callbacks.bodies('callEvent')[0]?.reason), /media address not allowed: private/);
  });

  test("a caller id that is not the tenant's is refused: nothing placed, callEvent calledPartyFailed, journaled", async (t) => {
    const kit = flowKit(t);
    kit.tenants.claim('+4930555', 'someone-else');
    kit.outbound.place(placement(kit, { callerId: '+4930555' }));
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    assert.deepEqual(kit.callbacks.events(), ['callEvent:calledPartyFailed', 'sessionCompleted']);
    const entry = kit.sessions.journalOf('s-out-1').find((e) => e.field === 'callerId');
    assert.match(String(entry?.reason), /not one of the tenant's numbers/);
  });

  test('maxCallDurationSec: the called party is hung up at that age, sessionCompleted maxDuration', async (t) => {
    const kit = flowKit(t, { tenant: { maxCallDurationSec: 0.05 } });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 60_000 }] }));
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.equal(kit.signaling.placed[0]!.dialog?.byeSent, true);
    kit.expectCompleted('maxDuration', 's-out-1');
  });

  test('busy: callEvent calledPartyBusy, then sessionCompleted; no callAnswered', async (t) => {
    const kit = flowKit(t);
    kit.signaling.script(callOutcome.busy());
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.deepEqual(kit.callbacks.events(), ['callEvent:calledPartyBusy', 'sessionCompleted']);
    assert.deepEqual(kit.callbacks.bodies('callEvent')[0], {
      ...kit.callbacks.bodies('callEvent')[0],
      participantId: 'p-out-1',
      reason: 'SIP 486',
    });
    kit.expectCompleted('calledPartyBusy', 's-out-1');
    assert.equal(kit.sessions.get('s-out-1')!.participants['p-out-1']?.state, 'ended');
    assert.equal(kit.media.legOf({ participantId: 'p-out-1' })!.closed, true);
    assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
  });

  test('no answer and failure are callEvents too', async (t) => {
    const kit = flowKit(t);
    kit.signaling.script(callOutcome.reject(408), callOutcome.reject(404));
    kit.outbound.place(placement(kit));
    await kit.drained();
    kit.outbound.place(placement(kit, { sessionId: 's-out-2', participantId: 'p-out-2' }));
    await finish(kit);
    kit.expectCompleted('calledPartyNoAnswer', 's-out-1');
    kit.expectCompleted('calledPartyFailed', 's-out-2');
    assert.equal(kit.callbacks.bodies('callEvent', 's-out-2')[0]?.reason, 'SIP 404');
  });

  test('ringing and early media: one callNotify each, however many 18x arrive; early media is accepted', async (t) => {
    const kit = flowKit(t);
    kit.signaling.script(
      callOutcome.answer({
        afterMs: 10,
        progress: [
          { status: 180 },
          { status: 180 },
          { status: 183, sdp: 'v=0 early' },
          { status: 183, sdp: 'v=0 early' },
        ],
      }),
    );
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.deepEqual(kit.callbacks.events(), [
      'callNotify:ringing',
      'callNotify:earlyMedia',
      'callAnswered',
      'getIvrCommand',
      'sessionCompleted',
    ]);
    const leg = kit.media.legOf({ participantId: 'p-out-1' })!;
    assert.deepEqual(
      leg.ops.filter((o) => o.op === 'accept').map((o) => o.arg),
      ['v=0 early', FAKE_CALLEE_SDP],
    );
  });

  test('the called party hangs up in IVR: callEvent calledPartyDrop, then sessionCompleted', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    kit.outbound.place(placement(kit));
    await kit.callbacks.waitFor('getIvrCommand');
    kit.signaling.placed[0]!.dialog!.remoteBye();
    await finish(kit);
    assert.deepEqual(kit.callbacks.events(), [
      'callAnswered',
      'getIvrCommand',
      'callEvent:calledPartyDrop',
      'sessionCompleted',
    ]);
    kit.expectCompleted('calledPartyDrop', 's-out-1');
  });

  test('an unknown tenant: journaled on the session, nothing placed', async (t) => {
    const kit = flowKit(t);
    kit.outbound.place(placement(kit, { tenantId: 'tn-gone' }));
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    assert.equal(kit.media.legs.length, 0);
    assert.deepEqual(kit.callbacks.calls, []);
    const [entry] = kit.sessions.journalOf('s-out-1');
    assert.equal(entry?.event, 'placeivrcall ignored: unknown tenant');
    assert.equal(entry?.participantId, 'p-out-1');
    assert.equal(kit.limits.acquired, 0);
  });

  test('joining a session this node does not hold: journaled, nothing placed', async (t) => {
    const kit = flowKit(t);
    kit.outbound.place(placement(kit, { joinExisting: true, sessionId: 's-elsewhere' }));
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    assert.deepEqual(kit.callbacks.calls, []);
    assert.equal(
      kit.sessions.journalOf('s-elsewhere')[0]?.event,
      'placeivrcall ignored: session not active on its node',
    );
    assert.equal(kit.sessions.get('s-elsewhere'), undefined);
  });

  test('over the concurrent-call limit: journaled with the limit, nothing placed', async (t) => {
    const kit = flowKit(t, { limits: { maxConcurrentCalls: 1 } });
    kit.active.set(kit.tenant.tenantId, 'node-other', 1);
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    const [entry] = kit.sessions.journalOf('s-out-1');
    assert.equal(entry?.event, 'placeivrcall refused');
    assert.equal(entry?.reason, 'at most 1 simultaneous calls');
  });

  test('the media engine refusing the leg: journaled, callEvent calledPartyFailed, sessionCompleted mediaFailed', async (t) => {
    const kit = flowKit(t);
    kit.media.failNextOpen('rtpengine: no ports left');
    kit.outbound.place(placement(kit));
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    assert.equal(kit.sessions.journalOf('s-out-1', 'media offer failed')[0]?.reason, 'rtpengine: no ports left');
    assert.deepEqual(
      kit.callbacks.bodies('callEvent').map((b) => [b.event, b.participantId, b.reason]),
      [['calledPartyFailed', 'p-out-1', 'media failed: rtpengine: no ports left']],
    );
    kit.expectCompleted('mediaFailed', 's-out-1');
    assert.equal(kit.logger.find('outbound call flow failed').length, 0, 'not a crash of the flow');
  });
});

describe('outbound participant joining a session', { concurrency: true }, () => {
  /** An inbound caller in IVR (the session this node holds), then a placement into its session. */
  async function joined(kit: FlowKit) {
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    const first = await kit.callbacks.waitFor('getIvrCommand');
    const callerId = first.body.participantId;
    kit.outbound.place(placement(kit, { sessionId: kit.sessionId, participantId: 'p-join', joinExisting: true }));
    await kit.callbacks.waitFor('callEvent', { where: (b) => b.event === 'calledPartyAnswered' });
    return { call, callerId };
  }

  test('on answer: callAnswered and callEvent calledPartyAnswered; reply drop hangs it up, the session goes on', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('callEvent', { action: 'drop' });
    const { call } = await joined(kit);
    await waitFor(() => kit.outbound.activeCalls === 0, 'the outbound participant to finish');
    const attempt = kit.signaling.placed[0]!;
    assert.equal(attempt.dialog!.byeSent, true);
    assert.equal(kit.sessions.get(kit.sessionId)!.participants['p-join']?.state, 'ended');
    assert.equal(kit.callbacks.ofType('getIvrCommand').filter((c) => c.body.participantId === 'p-join').length, 0);
    assert.equal(kit.callbacks.ofType('sessionCompleted').length, 0, 'the caller is still there');
    assert.ok(kit.callbacks.bodies('callAnswered').some((b) => b.participantId === 'p-join'));
    call.dialog!.remoteBye();
    await finish(kit);
    kit.expectCompleted('callingPartyDrop');
  });

  test('reply {}: the joined participant runs IVR', async (t) => {
    const kit = flowKit(t);
    const { call } = await joined(kit);
    await kit.callbacks.waitFor('getIvrCommand', { where: (b) => b.participantId === 'p-join' });
    kit.signaling.placed[0]!.dialog!.remoteBye();
    await waitFor(() => kit.outbound.activeCalls === 0, 'the outbound participant to finish');
    assert.ok(
      kit.callbacks.bodies('callEvent').some((b) => b.event === 'calledPartyDrop' && b.participantId === 'p-join'),
    );
    call.dialog!.remoteBye();
    await finish(kit);
    kit.expectCompleted('callingPartyDrop');
  });

  test('the caller leaves while the placed participant still rings: the session ends after it', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    kit.callbacks.on('callEvent', (b) => (b.event === 'calledPartyAnswered' ? { action: 'drop' } : {}));
    kit.signaling.script(callOutcome.manual());
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    kit.outbound.place(placement(kit, { sessionId: kit.sessionId, participantId: 'p-join', joinExisting: true }));
    const attempt = await waitFor(() => kit.signaling.placed[0], 'the call placed');
    attempt.progress(180);
    call.dialog!.remoteBye();
    await kit.callbacks.waitFor('callEvent', { where: (b) => b.event === 'callingPartyDrop' });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(kit.inbound.activeCalls, 1, 'the owner waits for the participant it cannot see yet');
    assert.equal(kit.callbacks.ofType('sessionCompleted').length, 0);
    attempt.answer();
    await finish(kit);
    assert.deepEqual(kit.callbacks.events().slice(-4), [
      'callEvent:callingPartyDrop',
      'callAnswered',
      'callEvent:calledPartyAnswered',
      'sessionCompleted',
    ]);
    assert.equal(attempt.dialog!.byeSent, true);
    kit.expectCompleted('callingPartyDrop');
  });

  test('reply bridge: connected to the other participant at once, never in IVR', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('callEvent', (b) =>
      b.event === 'calledPartyAnswered' ? { action: 'bridge', participantIds: [callerIdOf(kit), 'p-join'] } : {},
    );
    const { call, callerId } = await joined(kit);
    const joinedLeg = kit.media.legOf({ participantId: 'p-join' })!;
    const callerLeg = kit.media.legOf({ callId: call.callId })!;
    await waitFor(() => kit.sessions.get(kit.sessionId)?.connections, 'the connection item');
    assert.equal(joinedLeg.connectedTo, callerLeg.sinkSide);
    assert.equal(callerLeg.connectedTo, joinedLeg.sinkSide);
    const [connection] = Object.values(kit.sessions.get(kit.sessionId)!.connections!);
    assert.deepEqual(connection, { participantIds: [callerId, 'p-join'], state: 'connected' });
    assert.equal(kit.callbacks.ofType('getIvrCommand').filter((c) => c.body.participantId === 'p-join').length, 0);
    // The called party leaves: the connection reports it, {} hangs up the caller, the session ends.
    kit.signaling.placed[0]!.dialog!.remoteBye();
    await finish(kit);
    assert.ok(
      kit.callbacks.bodies('callEvent').some((b) => b.event === 'calledPartyDrop' && b.participantId === 'p-join'),
    );
    assert.equal(call.dialog!.byeSent, true);
    kit.expectCompleted('hangup');
  });
});

function callerIdOf(kit: FlowKit): string {
  return kit.callbacks.bodies('newCall')[0]!.participantId;
}
