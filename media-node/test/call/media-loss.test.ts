import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callOutcome, type FlowKit, flowKit, waitFor } from '../kit/index.js';

// The media of a call lost: rtpengine dying (mediaFailed) or the caller silent for MEDIA_TIMEOUT_SEC
// (mediaTimeout), in IVR and while bridged to a callee (docs/ivr.md). Fake media and signaling.

const STAY = { phrases: [{ format: 'silence', durationMs: 60_000 }] };
const CALL_BOB = { action: 'call', destination: 'sip:bob@example.com' };

async function finish(kit: FlowKit): Promise<void> {
  await kit.drained();
  kit.expectNoSlotsHeld();
  await kit.close();
}

const eventsOf = (kit: FlowKit, type: 'callNotify' | 'callEvent') =>
  kit.callbacks.bodies(type).map((b) => [(b as { event: string }).event, (b as { reason?: string }).reason]);

describe('media lost', { concurrency: true }, () => {
  test('in IVR, the caller silent: BYE, callNotify mediaTimeout, callEvent ivrFailed; sessionCompleted mediaTimeout', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    await waitFor(() => leg.played.length === 1, 'the command to run');
    assert.equal(leg.timeout('no RTP or RTCP from the caller for 60 s'), true);
    await finish(kit);
    assert.equal(call.dialog?.byeSent, true);
    assert.deepEqual(eventsOf(kit, 'callNotify'), [['mediaTimeout', 'no RTP or RTCP from the caller for 60 s']]);
    assert.deepEqual(eventsOf(kit, 'callEvent'), [
      ['ivrFailed', 'media timeout: no RTP or RTCP from the caller for 60 s'],
    ]);
    kit.expectCompleted('mediaTimeout');
    assert.equal(kit.sessions.journalOf(kit.sessionId, 'media timeout').length, 1);
    assert.equal(leg.closed, true, 'the leg is released');
  });

  test('a caller on hold (re-INVITE sendonly) does not time out', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    await leg.reoffer('v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n');
    assert.equal(leg.timeout(), false);
    call.dialog!.remoteBye();
    await finish(kit);
    kit.expectCompleted('callingPartyDrop');
  });

  for (const kind of ['mediaTimeout', 'mediaFailed'] as const) {
    test(`bridged to a callee, ${kind}: both get BYE, callNotify ${kind}, callEvent ivrFailed; sessionCompleted ${kind}`, async (t) => {
      const kit = flowKit(t);
      kit.callbacks.queue('newCall', CALL_BOB);
      kit.signaling.script(callOutcome.answer());
      const call = kit.invite();
      await kit.callbacks.waitFor('callAnswered', { count: 2 });
      const leg = kit.media.legs[0]!;
      await waitFor(() => leg.failureSubscribers > 0, 'the bridge to watch the media');
      if (kind === 'mediaTimeout') assert.equal(leg.timeout('no RTP or RTCP from the caller for 60 s'), true);
      else leg.fail('rtpengine exited');
      await finish(kit);
      assert.equal(call.dialog?.byeSent, true, 'the caller got BYE');
      assert.equal(kit.signaling.placed[0]!.dialog?.byeSent, true, 'the callee got BYE');
      const what = kind === 'mediaTimeout' ? 'media timeout' : 'media failed';
      const reason = kind === 'mediaTimeout' ? 'no RTP or RTCP from the caller for 60 s' : 'rtpengine exited';
      assert.deepEqual(eventsOf(kit, 'callNotify'), [[kind, reason]]);
      assert.deepEqual(eventsOf(kit, 'callEvent'), [['ivrFailed', `${what}: ${reason}`]]);
      kit.expectCompleted(kind);
      assert.equal(leg.failureSubscribers, 0, 'the bridge stopped listening');
    });
  }

  test('bridged, then the callee hangs up and the caller goes back to IVR: only the IVR reports the timeout', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', CALL_BOB);
    kit.callbacks.queue('callEvent', { action: 'ivr' });
    kit.callbacks.on('getIvrCommand', () => STAY);
    kit.signaling.script(callOutcome.answer());
    kit.invite();
    await kit.callbacks.waitFor('callAnswered', { count: 2 });
    kit.signaling.placed[0]!.dialog!.remoteBye();
    await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    assert.equal(leg.failureSubscribers, 1);
    leg.timeout();
    await finish(kit);
    assert.deepEqual(
      eventsOf(kit, 'callNotify').map(([e]) => e),
      ['mediaTimeout'],
    );
    kit.expectCompleted('mediaTimeout');
  });
});
