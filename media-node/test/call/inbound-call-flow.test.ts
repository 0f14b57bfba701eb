import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { MediaCapacityError } from '../../src/ports/media.js';
import {
  callOutcome,
  deferred,
  FAKE_CALLEE_SDP,
  type FlowKit,
  flowKit,
  type OutboundScript,
  reply,
  waitFor,
} from '../kit/index.js';

/** A getIvrCommand reply that keeps the participant in IVR (a minute of silence) until something else happens. */
const STAY = { phrases: [{ format: 'silence', durationMs: 60_000 }] };

async function finish(kit: FlowKit): Promise<void> {
  await kit.drained();
  kit.expectNoSlotsHeld();
  await kit.close();
}

describe('inbound call flow', { concurrency: true }, () => {
  test('an unknown target gets 404: no session, no callback, no slot, no usage', async (t) => {
    const kit = flowKit(t);
    const call = kit.invite({ requestUri: 'sip:bob@other.example.net' });
    assert.equal((await call.finalResponse).status, 404);
    await finish(kit);
    assert.deepEqual(kit.callbacks.calls, []);
    assert.deepEqual(kit.sessions.writes, [], 'no state at all');
    assert.equal(kit.limits.acquired + kit.limits.refusals.length, 0);
    assert.deepEqual(kit.usage.records, []);
    assert.equal(kit.media.legs.length, 0);
  });

  test('maxCallDurationSec: a caller that never hangs up is hung up at that age, sessionCompleted maxDuration', async (t) => {
    const kit = flowKit(t, { tenant: { maxCallDurationSec: 0.05 } });
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 60_000 }] }));
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.dialog?.byeSent, true, 'the node sent BYE');
    kit.expectCompleted('maxDuration');
    assert.ok(kit.sessions.journalOf(kit.sessionId).some((e) => e.event === 'maximum call duration reached'));
  });

  test('the operator limit bounds the tenant setting: the stricter wins', async (t) => {
    const kit = flowKit(t, { tenant: { maxCallDurationSec: 3600, limits: { maxCallDurationSec: 0.05 } } });
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 60_000 }] }));
    kit.invite();
    await finish(kit);
    kit.expectCompleted('maxDuration');
  });

  test('a number the tenant claimed reaches it on any host', async (t) => {
    const kit = flowKit(t);
    kit.tenants.claim('+4930123456', kit.tenant.tenantId);
    kit.callbacks.queue('newCall', { action: 'drop', sipStatus: 486 });
    const call = kit.invite({ requestUri: 'sip:+4930123456@203.0.113.5' });
    assert.equal((await call.finalResponse).status, 486);
    await finish(kit);
    assert.equal(kit.callbacks.bodies('newCall')[0]?.to.user, '+4930123456');
    assert.equal(kit.callbacks.bodies('newCall')[0]?.requestUri, 'sip:+4930123456@203.0.113.5');
  });

  test('an INVITE without SDP gets 488 and creates nothing', async (t) => {
    const kit = flowKit(t);
    const call = kit.invite({ sdp: null });
    assert.equal((await call.finalResponse).status, 488);
    await finish(kit);
    assert.deepEqual(kit.callbacks.calls, []);
    assert.deepEqual(kit.sessionIds, []);
    assert.equal(kit.limits.acquired, 0, 'no slot taken');
  });

  test('over the calls-per-second limit: 503 with Retry-After and a Warning naming the limit; nothing created', async (t) => {
    const kit = flowKit(t, { limits: { callsPerSecond: 1 } });
    // Both INVITEs in one window, however slowly the machine runs the first call.
    kit.active.now = () => 1_000_000;
    kit.callbacks.on('getIvrCommand', () => STAY);
    const first = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    const second = kit.invite();
    const refused = await second.finalResponse;
    assert.equal(refused.status, 503);
    assert.equal(refused.reason, 'Service Unavailable (at most 1 new calls per second)');
    assert.equal(refused.headers?.['Retry-After'], '1');
    assert.equal(refused.headers?.Warning, '399 sip-mediaserver "at most 1 new calls per second"');
    assert.equal(kit.sessionIds.length, 1, 'only the first call has a session');
    assert.equal(kit.callbacks.ofType('newCall').length, 1);
    first.dialog!.remoteBye();
    await finish(kit);
    assert.deepEqual(
      kit.limits.refusals.map((r) => r.limit),
      ['callsPerSecond'],
    );
  });

  test('over the concurrent-call limit (other nodes counted): 503 naming maxConcurrentCalls', async (t) => {
    const kit = flowKit(t, { limits: { maxConcurrentCalls: 2 } });
    kit.active.set(kit.tenant.tenantId, 'node-other', 2);
    const call = kit.invite();
    const refused = await call.finalResponse;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.Warning, '399 sip-mediaserver "at most 2 simultaneous calls"');
    await finish(kit);
    assert.deepEqual(kit.sessionIds, []);
    assert.deepEqual(kit.callbacks.calls, []);
  });

  test('the media offer failing: 488, sessionCompleted mediaFailed, no newCall, the reason journaled', async (t) => {
    const kit = flowKit(t);
    kit.media.failNextOpen('rtpengine: codec negotiation failed');
    const call = kit.invite();
    assert.equal((await call.finalResponse).status, 488);
    await finish(kit);
    assert.deepEqual(kit.callbacks.types(), ['sessionCompleted']);
    kit.expectCompleted('mediaFailed');
    const [entry] = kit.sessions.journalOf(kit.sessionId, 'media offer failed');
    assert.equal(entry?.reason, 'rtpengine: codec negotiation failed');
    assert.deepEqual(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
  });

  test('no media capacity on the node: 503 with Retry-After (not 488: the offer is fine), mediaFailed', async (t) => {
    const kit = flowKit(t);
    kit.media.failNextOpen(new MediaCapacityError('no free media ports: Ran out of ports'));
    const call = kit.invite();
    const refused = await call.finalResponse;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.['Retry-After'], '1');
    await finish(kit);
    kit.expectCompleted('mediaFailed');
  });

  test('newCall ivr: answered with the IVR answer, callAnswered, then getIvrCommand; hangup:true sends BYE', async (t) => {
    const kit = flowKit(t);
    kit.audio.addPrompt(kit.tenant.tenantId, 'welcome');
    kit.callbacks.queue('getIvrCommand', { phrases: [{ format: 'file', fileName: 'welcome' }], hangup: true });
    const call = kit.invite({
      from: { uri: 'sip:alice@192.0.2.10', displayName: 'Alice' },
      xHeaders: { 'X-Account': '42' },
      source: { address: '198.51.100.7', transport: 'tcp' },
    });
    await finish(kit);
    const leg = kit.media.legs[0]!;
    assert.deepEqual(call.responses, [{ status: 200, sdp: leg.ivrAnswerSdp }]);
    assert.equal(kit.media.offers[0]?.offerSdp, call.sdp);
    assert.deepEqual(leg.played, [`/fake/prompts/${kit.tenant.tenantId}/welcome.au`]);
    assert.equal(call.dialog?.byeSent, true);
    assert.equal(leg.closed, true);
    assert.deepEqual(kit.callbacks.types(), ['newCall', 'callAnswered', 'getIvrCommand', 'sessionCompleted']);
    assert.deepEqual(
      kit.callbacks.calls.map((c) => c.seq),
      [1, 2, 3, 4],
    );
    const newCall = kit.callbacks.bodies('newCall')[0]!;
    const participantId = newCall.participantId;
    assert.equal(newCall.sipCallId, call.callId);
    assert.deepEqual(newCall.from, { uri: 'sip:alice@192.0.2.10', user: 'alice', displayName: 'Alice' });
    assert.deepEqual(newCall.to, { uri: `sip:ivr@${kit.tenant.domain}`, user: 'ivr' });
    assert.deepEqual(newCall.headers, { 'X-Account': '42' });
    assert.equal(newCall.sourceAddress, '198.51.100.7');
    assert.equal(newCall.transport, 'tcp');
    assert.equal(kit.callbacks.bodies('callAnswered')[0]?.participantId, participantId);
    assert.equal(kit.callbacks.bodies('getIvrCommand')[0]?.participantId, participantId);
    kit.expectCompleted('hangup');
    const record = kit.sessions.get(kit.sessionId)!;
    assert.equal(record.nodeId, kit.nodeId);
    const { answeredAt, ...stored } = record.participants[participantId]!;
    assert.match(String(answeredAt), /^\d{4}-\d\d-\d\dT/, 'the answer time is stored (billing after a node failure)');
    assert.deepEqual(stored, {
      direction: 'inbound',
      from: 'sip:alice@192.0.2.10',
      to: `sip:ivr@${kit.tenant.domain}`,
      sipCallId: call.callId,
      state: 'ended',
    });
    assert.deepEqual(kit.usage.totals(kit.tenant.tenantId), {
      callAttempts: 1,
      answeredCalls: 1,
      callSeconds: 0,
      ttsCharacters: 0,
      recordingSeconds: 0,
    });
  });

  test('newCall drop: the status and reason asked for; no answer, no media answer', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'drop', sipStatus: 486, reason: 'Busy Here' });
    const call = kit.invite();
    await finish(kit);
    assert.deepEqual(call.responses, [{ status: 486, reason: 'Busy Here', headers: {} }]);
    assert.ok(!kit.media.legs[0]!.opNames.includes('connectIvr'));
    assert.equal(kit.media.legs[0]!.closed, true);
    kit.expectCompleted('dropped');
    assert.deepEqual(kit.callbacks.types(), ['newCall', 'sessionCompleted']);
    assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
  });

  test('newCall drop without a status: 603', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'drop' });
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 603);
    kit.expectCompleted('dropped');
  });

  test('newCall redirect: 302 with the contact', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'redirect', contact: 'sip:desk@example.com' });
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 302);
    assert.deepEqual(call.final?.contacts, ['sip:desk@example.com']);
    kit.expectCompleted('redirected');
  });

  test('an invalid newCall reply: the fallback (480), with the reason journaled', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'dance' });
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 480);
    kit.expectCompleted('dropped');
    const entry = kit.sessions.journalOf(kit.sessionId).find((e) => e.callback === 'newCall');
    assert.equal(entry?.fallback, true);
    assert.match(String(entry?.reason), /reply fails the schema: action/);
  });

  test('a reply that reaches the node invalid is still refused by the node: 480, its reason journaled', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', reply.raw({ action: 'call' }));
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 480);
    const entry = kit.sessions.journalOf(kit.sessionId).find((e) => e.callback === 'newCall');
    assert.equal(entry?.fallback, true);
    assert.match(String(entry?.reason), /destination/);
    assert.equal(kit.signaling.placed.length, 0);
  });

  test('no newCall reply before the deadline: 480', async (t) => {
    const kit = flowKit(t, { callbackMaxDeadlineMs: 30 });
    kit.callbacks.queue('newCall', reply.never());
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 480);
    const entry = kit.sessions.journalOf(kit.sessionId).find((e) => e.callback === 'newCall');
    assert.match(String(entry?.reason), /no reply within/);
  });

  test('the caller CANCELs while newCall waits: 487, never answered, sessionCompleted callingPartyCancel', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', reply.after(5_000, { action: 'ivr' }));
    const call = kit.invite();
    await kit.callbacks.waitFor('newCall');
    assert.equal(call.cancel(), true);
    await finish(kit);
    assert.deepEqual(
      call.responses.map((r) => r.status),
      [487],
    );
    assert.equal(kit.callbacks.ofType('newCall')[0]?.result?.reason, 'aborted');
    assert.deepEqual(kit.callbacks.types(), ['newCall', 'sessionCompleted']);
    kit.expectCompleted('callingPartyCancel');
    assert.equal(kit.sessions.journalOf(kit.sessionId, 'cancelled').length, 1);
    assert.equal(kit.media.legs[0]!.closed, true);
  });

  test('the caller hangs up in IVR: callEvent callingPartyDrop, then sessionCompleted callingPartyDrop', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    call.dialog!.remoteBye();
    await finish(kit);
    assert.deepEqual(kit.callbacks.events(), [
      'newCall',
      'callAnswered',
      'getIvrCommand',
      'callEvent:callingPartyDrop',
      'sessionCompleted',
    ]);
    kit.expectCompleted('callingPartyDrop');
    assert.equal(call.dialog?.byeSent, false, 'no BYE back to a caller who hung up');
    assert.equal(
      kit.sessions.get(kit.sessionId)?.participants[kit.callbacks.bodies('newCall')[0]!.participantId]?.state,
      'ended',
    );
  });

  test('the ACK never arrives: ackTimeout, no getIvrCommand, the slot released', async (t) => {
    const kit = flowKit(t);
    const call = kit.invite({ ack: 'timeout' });
    await finish(kit);
    assert.equal(call.dialog?.endReason, 'ack-timeout');
    assert.deepEqual(kit.callbacks.types(), ['newCall', 'sessionCompleted']);
    kit.expectCompleted('ackTimeout');
    assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
  });

  test('a session store outage before the session exists: 500, no callback, the slot released, the offered leg closed', async (t) => {
    const kit = flowKit(t);
    kit.sessions.failNext('create');
    const call = kit.invite();
    assert.equal((await call.finalResponse).status, 500);
    await finish(kit);
    assert.deepEqual(kit.callbacks.calls, []);
    assert.equal(kit.limits.acquired, 1);
    assert.equal(kit.logger.find('call flow failed').length, 1);
    // The offer went to rtpengine while the session was being written: its leg must not outlive the call.
    assert.equal(kit.media.legs.length, 1);
    await waitFor(() => kit.media.legs[0]?.closed, 'the offered leg closed');
  });

  test('the media offer goes out while the session is written, not after: one wait less before newCall', async (t) => {
    const kit = flowKit(t);
    const stored = deferred();
    const create = kit.sessions.create.bind(kit.sessions);
    kit.sessions.create = async (session) => {
      await stored.promise;
      return create(session);
    };
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.queue('getIvrCommand', { hangup: true });
    const call = kit.invite();
    await waitFor(() => kit.media.offers.length === 1, 'the offer, with the session write still pending');
    assert.deepEqual(kit.callbacks.calls, [], 'no newCall before the session is stored');
    stored.resolve();
    assert.equal((await call.finalResponse).status, 200);
    await finish(kit);
    assert.equal(kit.media.legs.length, 1);
  });

  test('while draining: 503 with Retry-After 5 and nothing else', async (t) => {
    const kit = flowKit(t);
    kit.inbound.stopAccepting();
    const call = kit.invite();
    assert.deepEqual(call.final, { status: 503, reason: 'Service Unavailable', headers: { 'Retry-After': '5' } });
    await finish(kit);
    assert.equal(kit.limits.acquired, 0);
  });

  test('an overloaded node: 503 with Retry-After and the reason, before any lookup; one log line for a burst', async (t) => {
    let reason: string | undefined = 'node overloaded: event-loop delay 612 ms';
    const kit = flowKit(t, { overload: { refusal: () => reason } });
    const calls = [kit.invite(), kit.invite(), kit.invite()];
    for (const call of calls) {
      assert.deepEqual(call.final, {
        status: 503,
        reason: 'Service Unavailable (node overloaded)',
        headers: { 'Retry-After': '2', Warning: '399 sip-mediaserver "node overloaded: event-loop delay 612 ms"' },
      });
    }
    assert.equal(kit.logger.find('new calls refused: node overloaded (503)').length, 1);
    assert.deepEqual(kit.sessions.writes, [], 'no state at all');
    assert.equal(kit.limits.acquired + kit.limits.refusals.length, 0);
    assert.deepEqual(kit.callbacks.calls, []);
    // Once the guard lets calls through again, the next INVITE is a call.
    reason = undefined;
    kit.callbacks.queue('newCall', { action: 'drop', sipStatus: 486 });
    const next = kit.invite();
    assert.equal((await next.finalResponse).status, 486);
    await finish(kit);
  });

  test('the flow reports its running calls and drains', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    assert.equal(kit.inbound.activeCalls, 1);
    let drained = false;
    const draining = kit.inbound.drained().then(() => {
      drained = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(drained, false);
    call.dialog!.remoteBye();
    await draining;
    assert.equal(kit.inbound.activeCalls, 0);
    await finish(kit);
  });

  test('a re-INVITE from the caller is answered by the media leg', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    const res = await call.dialog!.remoteReinvite('v=0 hold');
    assert.deepEqual(res, { status: 200, sdp: kit.media.legs[0]!.reofferAnswerSdp });
    call.dialog!.remoteBye();
    await finish(kit);
  });
});

describe('inbound call flow: one node, many calls', () => {
  test('every path leaves the node clean (slots, legs, participants)', async (t) => {
    // One kit, several calls one after the other: ivr, drop, redirect, media failure, cancel.
    const kit = flowKit(t);
    kit.callbacks.queue(
      'newCall',
      { action: 'ivr' },
      { action: 'drop', sipStatus: 404 },
      { action: 'redirect', contact: 'sip:x@example.com' },
      reply.after(2_000, { action: 'ivr' }),
    );
    kit.invite();
    await kit.drained();
    kit.invite();
    await kit.drained();
    kit.invite();
    await kit.drained();
    kit.media.failNextOpen();
    kit.invite();
    await kit.drained();
    const cancelled = kit.invite();
    await waitFor(() => kit.callbacks.ofType('newCall').length === 4, 'the fourth newCall');
    cancelled.cancel();
    await finish(kit);
    assert.equal(kit.media.openLegs, 0, 'every media leg closed');
    assert.equal(kit.live.size, 0, 'no participant left registered');
    for (const id of kit.sessionIds) {
      const record = kit.sessions.get(id)!;
      assert.equal(record.state, 'ended');
      for (const p of Object.values(record.participants)) assert.equal(p.state, 'ended');
    }
    assert.equal(kit.active.countOf(kit.tenant.tenantId, kit.nodeId), 0, 'the node holds no slot any more');
  });
});

describe('inbound call flow: billed seconds', () => {
  test('usage: one attempt, one answered call and its whole seconds', async (t) => {
    const kit = flowKit(t);
    let shift = 0;
    const realNow = Date.now.bind(Date);
    t.mock.method(Date, 'now', () => realNow() + shift);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    shift = 1600; // the caller listens for 1.6 s
    call.dialog!.remoteBye();
    await finish(kit);
    const totals = kit.usage.totals(kit.tenant.tenantId);
    assert.equal(totals.callAttempts, 1);
    assert.equal(totals.answeredCalls, 1);
    assert.equal(totals.callSeconds, 2, '1.6 s rounds to 2');
    assert.ok(kit.expectCompleted('callingPartyDrop').sessionDuration >= 1.6);
  });
});

/** newCall {action:"call"}: a B2BUA leg to the destination, relayed by the media engine. */

const CALL_BOB = { action: 'call', destination: 'sip:bob@example.com' };

/** An inbound call whose newCall reply is `action`, and its callee's outcome `outcome`. */
function bridge(
  t: TestContext,
  action: Record<string, unknown> = CALL_BOB,
  outcome: OutboundScript = callOutcome.answer(),
) {
  const kit = flowKit(t);
  kit.tenants.claim('+4930999', kit.tenant.tenantId); // the tenant's own number, a valid caller id
  kit.callbacks.queue('newCall', action);
  kit.signaling.script(outcome);
  const call = kit.invite();
  return { kit, call };
}

/** The participantIds of the caller (from newCall) and of the callee (the other participant of the session). */
function parties(kit: FlowKit): { callerId: string; calleeId: string } {
  const callerId = kit.callbacks.bodies('newCall')[0]!.participantId;
  const ids = Object.keys(kit.sessions.get(kit.sessionId)!.participants);
  const calleeId = ids.find((id) => id !== callerId)!;
  return { callerId, calleeId };
}

describe('B2BUA callee', { concurrency: true }, () => {
  test('a callee whose SDP points the media at a forbidden address is hung up: calledPartyFailed, the caller 502', async (t) => {
    const kit = flowKit(t, { destinationPolicy: (a) => (a.startsWith('169.254.') ? 'link-local' : undefined) });
    kit.callbacks.queue('newCall', CALL_BOB);
    kit.signaling.script(callOutcome.answer({ sdp: FAKE_CALLEE_SDP.replaceAll('192.0.2.20', '169.254.169.254') }));
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 502);
    assert.equal(kit.signaling.placed[0]!.dialog?.byeSent, true, 'the callee got BYE');
    const event = kit.callbacks.bodies('callEvent')[0];
    assert.equal(event?.event, 'calledPartyFailed');
    assert.match(String(event?.reason), /media address not allowed: link-local/);
    assert.equal(kit.media.legs[0]!.ops.filter((o) => o.op === 'connectPeer').length, 0, 'no media towards it');
  });

  test('a destination outside the operator allow-lists is refused: 480, nothing placed, journaled', async (t) => {
    const kit = flowKit(t, {
      destinationAllowed: (d) => (d.includes('premium') ? `calls to ${d} are not allowed` : undefined),
    });
    kit.callbacks.queue('newCall', { action: 'call', destination: 'sip:premium@carrier.example' });
    const call = kit.invite();
    await finish(kit);
    assert.equal(call.final?.status, 480);
    assert.equal(kit.signaling.placed.length, 0);
    const entry = kit.sessions.journalOf(kit.sessionId).find((e) => e.field === 'destination');
    assert.match(String(entry?.reason), /not allowed/);
  });

  test('Max-Forwards is carried and decremented across the B2BUA', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', CALL_BOB);
    kit.signaling.script(callOutcome.answer());
    kit.invite({ maxForwards: 7 });
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    assert.equal(kit.signaling.placed[0]!.request.maxForwards, 6);
  });

  test("a caller id that is not the tenant's (another customer's number, a foreign domain) is refused: 480, journaled", async (t) => {
    for (const callerId of ['+4930111222', 'sip:ceo@bank.example.com']) {
      const kit = flowKit(t);
      kit.tenants.claim('+4930111222', 'another-tenant');
      kit.callbacks.queue('newCall', { ...CALL_BOB, callerId });
      const call = kit.invite();
      await finish(kit);
      assert.equal(call.final?.status, 480, callerId);
      assert.equal(kit.signaling.placed.length, 0, 'nothing was placed');
      const entry = kit.sessions.journalOf(kit.sessionId).find((e) => e.field === 'callerId');
      assert.match(String(entry?.reason), /callerId/);
    }
  });

  test("the tenant's domain, its own numbers and the forwarded caller are valid caller ids", async (t) => {
    for (const callerId of ['sip:sales@DOMAIN', '+4930999', 'sip:alice@192.0.2.10', 'support']) {
      const kit = flowKit(t);
      kit.tenants.claim('+4930999', kit.tenant.tenantId);
      kit.callbacks.queue('newCall', { ...CALL_BOB, callerId: callerId.replace('DOMAIN', kit.tenant.domain) });
      kit.signaling.script(callOutcome.answer());
      kit.invite();
      await kit.callbacks.waitFor('callAnswered', { count: 2 });
      assert.equal(kit.signaling.placed.length, 1, callerId);
    }
  });

  test('answered: the callee gets the offer, the caller the answer to the callee SDP; both get callAnswered', async (t) => {
    const { kit, call } = bridge(t, {
      ...CALL_BOB,
      callerId: '+4930999',
      timeoutSec: 20,
      headers: { 'X-Ref': '7' },
    });
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    const leg = kit.media.legs[0]!;
    const placed = kit.signaling.placed[0]!;
    assert.equal(placed.request.target, 'sip:bob@example.com');
    assert.deepEqual(placed.request.from, { uri: `sip:%2B4930999@${kit.tenant.domain}` });
    assert.equal(placed.request.sdp, leg.offerTowardsPeer);
    assert.deepEqual(placed.request.headers, { 'X-Ref': '7' });
    assert.equal(placed.request.ringTimeoutMs, 20_000);
    assert.equal(placed.request.signal, call.cancelled, 'a CANCEL of the caller cancels the callee');
    assert.deepEqual(call.final, { status: 200, sdp: leg.peerAnswerSdp });
    assert.deepEqual(leg.ops[0], { op: 'connectPeer', arg: FAKE_CALLEE_SDP });
    const { callerId, calleeId } = parties(kit);
    assert.deepEqual(
      kit.callbacks
        .bodies('callAnswered')
        .map((b) => b.participantId)
        .sort(),
      [callerId, calleeId].sort(),
    );
    const { answeredAt, ...callee } = kit.sessions.get(kit.sessionId)!.participants[calleeId]!;
    assert.ok(answeredAt, 'the answer time is stored');
    assert.deepEqual(callee, {
      direction: 'outbound',
      from: '+4930999',
      to: 'sip:bob@example.com',
      sipCallId: '',
      state: 'active',
    });
    assert.equal(kit.callbacks.ofType('getIvrCommand').length, 0, 'a bridged caller is not in IVR');
    call.dialog!.remoteBye();
    await finish(kit);
    const totals = kit.usage.totals(kit.tenant.tenantId);
    assert.equal(totals.callAttempts, 2);
    assert.equal(totals.answeredCalls, 2);
  });

  test('without a callerId the callee sees the caller', async (t) => {
    const { kit, call } = bridge(t, CALL_BOB);
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    assert.deepEqual(kit.signaling.placed[0]!.request.from, { uri: 'sip:alice@192.0.2.10', displayName: 'Alice' });
    call.dialog!.remoteBye();
    await finish(kit);
  });

  test('ringing and early media reach the caller (180/183) and the tenant (callNotify) once each', async (t) => {
    const { kit, call } = bridge(
      t,
      CALL_BOB,
      callOutcome.answer({
        afterMs: 20,
        progress: [
          { status: 180 },
          { status: 180 },
          { status: 183, sdp: 'v=0 early' },
          { status: 183, sdp: 'v=0 early2' },
        ],
      }),
    );
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    const leg = kit.media.legs[0]!;
    const { calleeId } = parties(kit);
    assert.deepEqual(
      call.responses.map((r) => [r.status, r.sdp]),
      [
        [180, undefined],
        [183, leg.peerAnswerSdp],
        [200, leg.peerAnswerSdp],
      ],
    );
    assert.deepEqual(
      leg.ops.filter((o) => o.op === 'connectPeer').map((o) => o.arg),
      ['v=0 early', FAKE_CALLEE_SDP],
    );
    const notes = kit.callbacks.bodies('callNotify');
    assert.deepEqual(
      notes.map((b) => [b.event, b.participantId]),
      [
        ['ringing', calleeId],
        ['earlyMedia', calleeId],
      ],
    );
    call.dialog!.remoteBye();
    await finish(kit);
  });

  for (const c of [
    { name: 'busy (486)', outcome: callOutcome.busy(), event: 'calledPartyBusy', reason: 'SIP 486', status: 486 },
    {
      name: 'busy everywhere (600)',
      outcome: callOutcome.reject(600),
      event: 'calledPartyBusy',
      reason: 'SIP 600',
      status: 486,
    },
    {
      name: 'declined as unavailable (480)',
      outcome: callOutcome.reject(480),
      event: 'calledPartyNoAnswer',
      reason: 'SIP 480',
      status: 480,
    },
    {
      name: 'no answer before the ring timeout',
      // The ring timer of the SIP stack fires (at timeoutSec; scripted sooner here).
      outcome: callOutcome.noAnswer({ progress: [{ status: 180 }], afterMs: 20 }),
      event: 'calledPartyNoAnswer',
      reason: 'no answer before the timeout',
      status: 480,
      timeoutSec: 1,
    },
    {
      name: 'failed (503)',
      outcome: callOutcome.reject(503),
      event: 'calledPartyFailed',
      reason: 'SIP 503',
      status: 502,
    },
    {
      name: 'unreachable',
      outcome: callOutcome.fail('transport-error'),
      event: 'calledPartyFailed',
      reason: 'transport failed',
      status: 502,
    },
  ]) {
    test(`callee ${c.name}: callEvent ${c.event}; reply {} gives the caller ${c.status}`, async (t) => {
      const { kit, call } = bridge(
        t,
        { ...CALL_BOB, ...(c.timeoutSec ? { timeoutSec: c.timeoutSec } : {}) },
        c.outcome,
      );
      await finish(kit);
      const { callerId, calleeId } = parties(kit);
      const events = kit.callbacks.bodies('callEvent');
      assert.deepEqual(
        events.map((b) => [b.event, b.participantId, b.reason]),
        [[c.event, calleeId, c.reason]],
      );
      assert.equal(call.final?.status, c.status);
      kit.expectCompleted(c.event);
      const record = kit.sessions.get(kit.sessionId)!;
      assert.equal(record.participants[calleeId]?.state, 'ended');
      assert.equal(record.participants[callerId]?.state, 'ended');
      assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
      if (c.timeoutSec) assert.equal(kit.signaling.placed[0]!.cancelSent, true, 'CANCEL after the ring timeout');
    });
  }

  test('callee busy, reply drop: the same as {}', async (t) => {
    const { kit, call } = bridge(t, CALL_BOB, callOutcome.busy());
    kit.callbacks.queue('callEvent', { action: 'drop' });
    await finish(kit);
    assert.equal(call.final?.status, 486);
    kit.expectCompleted('calledPartyBusy');
  });

  test('callee busy, reply ivr: the caller is answered into IVR instead', async (t) => {
    const { kit, call } = bridge(t, CALL_BOB, callOutcome.busy());
    kit.callbacks.queue('callEvent', { action: 'ivr' });
    kit.callbacks.queue('getIvrCommand', { phrases: [{ format: 'tts', text: 'Bob is busy' }], hangup: true });
    await finish(kit);
    const leg = kit.media.legs[0]!;
    assert.deepEqual(call.final, { status: 200, sdp: leg.ivrAnswerSdp });
    assert.deepEqual(leg.played, ['/fake/tts/Bob is busy.au']);
    const { callerId } = parties(kit);
    assert.equal(kit.callbacks.bodies('getIvrCommand')[0]?.participantId, callerId);
    assert.deepEqual(kit.callbacks.events(), [
      'newCall',
      'callEvent:calledPartyBusy',
      'callAnswered',
      'getIvrCommand',
      'sessionCompleted',
    ]);
    kit.expectCompleted('hangup');
  });

  test('a number without an outbound trunk: calledPartyFailed, nothing dialled, the caller gets 502', async (t) => {
    const { kit, call } = bridge(t, { action: 'call', destination: '+4930123' });
    await finish(kit);
    assert.equal(kit.signaling.placed.length, 0);
    assert.equal(kit.callbacks.bodies('callEvent')[0]?.event, 'calledPartyFailed');
    assert.equal(call.final?.status, 502);
  });

  test('the caller hangs up while bridged: BYE to the callee, callEvent callingPartyDrop, session ends', async (t) => {
    const { kit, call } = bridge(t);
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    const calleeDialog = kit.signaling.placed[0]!.dialog!;
    call.dialog!.remoteBye();
    await finish(kit);
    const { callerId, calleeId } = parties(kit);
    assert.equal(calleeDialog.byeSent, true);
    assert.deepEqual(
      kit.callbacks.bodies('callEvent').map((b) => [b.event, b.participantId]),
      [['callingPartyDrop', callerId]],
    );
    kit.expectCompleted('callingPartyDrop');
    assert.equal(kit.sessions.get(kit.sessionId)!.participants[calleeId]?.state, 'ended');
    assert.equal(kit.media.legs[0]!.closed, true);
  });

  test('the callee hangs up, reply {}: callEvent calledPartyDrop, then the caller is hung up', async (t) => {
    const { kit, call } = bridge(t);
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    kit.signaling.placed[0]!.dialog!.remoteBye();
    await finish(kit);
    const { calleeId } = parties(kit);
    assert.deepEqual(
      kit.callbacks.bodies('callEvent').map((b) => [b.event, b.participantId]),
      [['calledPartyDrop', calleeId]],
    );
    assert.equal(call.dialog!.byeSent, true);
    kit.expectCompleted('calledPartyDrop');
  });

  test('the callee hangs up, reply ivr: the caller goes back to IVR on the same media port (no re-INVITE)', async (t) => {
    const { kit, call } = bridge(t);
    kit.callbacks.queue('callEvent', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => STAY);
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    kit.signaling.placed[0]!.dialog!.remoteBye();
    const get = await kit.callbacks.waitFor('getIvrCommand');
    const { callerId } = parties(kit);
    assert.equal(get.body.participantId, callerId);
    const leg = kit.media.legs[0]!;
    assert.ok(leg.opNames.includes('connectIvr'));
    assert.equal(leg.connectedTo, 'ivr');
    assert.deepEqual(call.dialog!.reinvites, []);
    assert.equal(call.dialog!.byeSent, false);
    call.dialog!.remoteBye();
    await finish(kit);
    assert.deepEqual(kit.callbacks.events(), [
      'newCall',
      'callAnswered',
      'callAnswered',
      'callEvent:calledPartyDrop',
      'getIvrCommand',
      'callEvent:callingPartyDrop',
      'sessionCompleted',
    ]);
    kit.expectCompleted('callingPartyDrop');
  });

  test('the caller CANCELs while the callee rings: CANCEL to the callee, 487, no callEvent', async (t) => {
    const { kit, call } = bridge(t, CALL_BOB, callOutcome.manual());
    await kit.callbacks.waitFor('newCall');
    const attempt = await (async () => {
      while (kit.signaling.placed.length === 0) await new Promise((r) => setTimeout(r, 1));
      return kit.signaling.placed[0]!;
    })();
    attempt.progress(180);
    call.cancel();
    await finish(kit);
    assert.equal(attempt.state, 'cancelled');
    assert.equal(attempt.cancelSent, true);
    assert.deepEqual(
      call.responses.map((r) => r.status),
      [180, 487],
    );
    assert.equal(kit.callbacks.ofType('callEvent').length, 0);
    kit.expectCompleted('callingPartyCancel');
    const { calleeId } = parties(kit);
    assert.equal(kit.sessions.get(kit.sessionId)!.participants[calleeId]?.state, 'ended');
  });

  test('the caller cannot be answered once the callee has: the callee gets BYE', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', CALL_BOB);
    const call = kit.invite({ ack: 'timeout' });
    await finish(kit);
    assert.equal(kit.signaling.placed[0]!.dialog!.byeSent, true);
    // An ACK timeout is not a CANCEL: the caller never confirmed the answer.
    kit.expectCompleted('ackTimeout');
    assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 0);
    assert.equal(call.dialog?.endReason, 'ack-timeout');
  });
});
