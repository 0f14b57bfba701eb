import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { DtmfMerger } from '../../src/call/ivr/dtmf-merger.js';
import { LoopGuard, runIvrLoop } from '../../src/call/ivr/ivr-loop.js';
import { CallSession } from '../../src/call/session/call-session.js';
import { Participant } from '../../src/call/session/participant.js';
import { FAKE_OFFER_SDP, FakeDialog, type FakeMediaLeg, flowKit, reply, waitFor } from '../kit/index.js';

/** One participant in IVR (runIvrLoop): getIvrCommand → run → repeat, until a side hangs up. */

async function inIvr(t: TestContext, options: { direction?: 'inbound' | 'outbound'; startHeld?: boolean } = {}) {
  const kit = flowKit(t, { callbackMaxDeadlineMs: 100 });
  const session = new CallSession(kit.tenant, kit.deps);
  const direction = options.direction ?? 'inbound';
  const participant = await Participant.join(
    session,
    'p1',
    { direction, from: 'sip:a@x', to: 'sip:b@y', sipCallId: 'c1' },
    kit.deps,
    { createSession: true },
  );
  const dialog = new FakeDialog();
  const leg = (await kit.media.openLeg({
    callId: 'c1',
    callerTag: 'a',
    ivrTag: 'i',
    offerSdp: FAKE_OFFER_SDP,
  })) as FakeMediaLeg;
  // Started on the next turn of the event loop, so the test scripts the tenant first.
  const loop = new Promise((resolve) => setImmediate(resolve)).then(() =>
    runIvrLoop({
      participant,
      dialog,
      leg,
      audio: kit.audio,
      live: kit.live,
      usage: kit.usage,
      ...(options.startHeld ? { startHeld: true } : {}),
    }),
  );
  t.after(() => dialog.end('shutdown'));
  const gets = () => kit.callbacks.bodies('getIvrCommand');
  const control = () => kit.live.participant(session.sessionId, 'p1');
  /** Resolves once the `n`-th command is running (it is journaled right before it starts). */
  const running = (n = 1) =>
    waitFor(
      () => kit.sessions.journalOf(session.sessionId).filter((e) => e.callback === 'getIvrCommand').length >= n,
      `command #${n} to run`,
    );
  return { kit, session, participant, dialog, leg, loop, gets, control, running };
}

const LONG = { format: 'silence', durationMs: 60_000 };

describe('IVR loop', { concurrency: true }, () => {
  test('phrases play in order, then the next getIvrCommand carries the digits collected', async (t) => {
    const { kit, leg, loop, gets, dialog } = await inIvr(t);
    kit.audio.addPrompt(kit.tenant.tenantId, 'welcome');
    kit.callbacks.queue(
      'getIvrCommand',
      {
        phrases: [
          { format: 'file', fileName: 'welcome' },
          { format: 'tts', text: 'Press two digits' },
          { format: 'silence', durationMs: 30 },
          { format: 'url', url: 'https://cdn.example.com/beep.wav' },
          { format: 'awstts', awsTTSParameters: { Text: 'Bye', VoiceId: 'Joanna' } },
        ],
        dtmf: { maxDigits: 2, firstDigitTimeoutMs: 2000 },
      },
      { hangup: true },
    );
    await waitFor(() => leg.played.length === 5, 'all phrases');
    leg.emitDtmf('4');
    leg.emitDtmf('2');
    assert.equal(await loop, 'hangup');
    assert.deepEqual(leg.played, [
      `/fake/prompts/${kit.tenant.tenantId}/welcome.au`,
      '/fake/tts/Press two digits.au',
      '/fake/silence/30.au',
      `/fake/url/${encodeURIComponent('https://cdn.example.com/beep.wav')}.au`,
      '/fake/tts/Bye.au',
    ]);
    assert.equal(gets().length, 2);
    assert.equal(gets()[0]!.dtmfParams, undefined);
    assert.deepEqual(gets()[1]!.dtmfParams, { digits: '42', terminationKey: '', reason: 'maxDigits' });
    assert.equal(kit.usage.totals(kit.tenant.tenantId).ttsCharacters, 'Press two digits'.length + 'Bye'.length);
    assert.equal(dialog.byeSent, true);
    kit.callbacks.assertNoViolations();
  });

  test('the termination key and the first-digit timeout end a collection with their reason', async (t) => {
    const { kit, leg, loop, gets, running } = await inIvr(t);
    kit.callbacks.queue(
      'getIvrCommand',
      { dtmf: { maxDigits: 5, terminationKey: '#' } },
      { dtmf: { maxDigits: 5, firstDigitTimeoutMs: 100 } },
      { hangup: true },
    );
    await running();
    leg.emitDtmf('1');
    leg.emitDtmf('#');
    assert.equal(await loop, 'hangup');
    assert.deepEqual(gets()[1]!.dtmfParams, { digits: '1', terminationKey: '#', reason: 'terminationKey' });
    assert.deepEqual(gets()[2]!.dtmfParams, { digits: '', terminationKey: '', reason: 'timeout' });
  });

  test('barge-in: a key stops the playing phrase at once and skips the rest; the key is collected', async (t) => {
    const { kit, leg, loop, gets } = await inIvr(t);
    kit.audio.addPrompt(kit.tenant.tenantId, 'menu');
    kit.callbacks.queue(
      'getIvrCommand',
      { phrases: [LONG, { format: 'file', fileName: 'menu' }], bargeIn: 'all', dtmf: { maxDigits: 1 } },
      { hangup: true },
    );
    await waitFor(() => leg.played.length === 1, 'the first phrase');
    const t0 = performance.now();
    leg.emitDtmf('7');
    await waitFor(() => gets().length === 2, 'the next getIvrCommand');
    assert.ok(performance.now() - t0 < 500, 'not after the minute of silence');
    assert.ok(leg.opNames.includes('stopPlayback'));
    assert.deepEqual(leg.played, ['/fake/silence/60000.au'], 'the second phrase is skipped');
    assert.deepEqual(gets()[1]!.dtmfParams, { digits: '7', terminationKey: '', reason: 'maxDigits' });
    await loop;
  });

  test('without barge-in a key does not stop the phrase; it is kept (type-ahead)', async (t) => {
    const { kit, leg, loop, gets } = await inIvr(t);
    kit.callbacks.queue(
      'getIvrCommand',
      { phrases: [{ format: 'silence', durationMs: 150 }], dtmf: { maxDigits: 1 } },
      { hangup: true },
    );
    await waitFor(() => leg.played.length === 1, 'the phrase');
    const t0 = performance.now();
    leg.emitDtmf('3');
    await waitFor(() => gets().length === 2, 'the next getIvrCommand');
    assert.ok(performance.now() - t0 >= 100, 'after the phrase');
    assert.ok(!leg.opNames.includes('stopPlayback'));
    assert.equal(gets()[1]!.dtmfParams?.digits, '3');
    await loop;
  });

  test('hangup:true: BYE after the phrases, no digit collection, no callEvent', async (t) => {
    const { kit, leg, loop, dialog } = await inIvr(t);
    kit.callbacks.queue('getIvrCommand', {
      phrases: [{ format: 'tts', text: 'Goodbye' }],
      dtmf: { maxDigits: 3 },
      hangup: true,
    });
    assert.equal(await loop, 'hangup');
    assert.equal(dialog.byeSent, true);
    assert.deepEqual(leg.played, ['/fake/tts/Goodbye.au']);
    assert.deepEqual(kit.callbacks.types(), ['getIvrCommand']);
  });

  test('interrupt (the registered control): playback stops, the next getIvrCommand follows without digits', async (t) => {
    const { kit, leg, loop, gets, control, dialog } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG], dtmf: { maxDigits: 3 } }));
    await waitFor(() => leg.played.length === 1, 'the command to run');
    leg.emitDtmf('9');
    control()!.interrupt();
    await waitFor(() => gets().length === 2, 'the next getIvrCommand');
    assert.equal(gets()[1]!.dtmfParams, undefined);
    assert.ok(leg.opNames.includes('stopPlayback'));
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
  });

  test('interrupt while the getIvrCommand reply is pending: that reply is not run, the next getIvrCommand follows', async (t) => {
    const { kit, leg, loop, gets, control, dialog } = await inIvr(t);
    let n = 0;
    kit.callbacks.on('getIvrCommand', () => (++n === 1 ? reply.after(300, { phrases: [LONG] }) : { phrases: [LONG] }));
    await waitFor(() => gets().length === 1 && control() !== undefined, 'the first getIvrCommand in flight');
    control()!.interrupt();
    await waitFor(() => gets().length === 2, 'the next getIvrCommand after the interrupted reply');
    await waitFor(() => leg.played.length === 1, 'the second reply runs');
    assert.equal(kit.sessions.journalOf(kit.sessionId, 'interrupted').length, 1);
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
  });

  test('remote BYE: callEvent callingPartyDrop for a caller, carried by sessionCompleted; the loop ends and unregisters', async (t) => {
    const { kit, leg, loop, dialog, control, session, participant } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await waitFor(() => leg.played.length === 1, 'the command to run');
    assert.equal(control()?.connectable?.leg, leg);
    assert.equal(control()?.connectable?.direction, 'inbound');
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
    // The session's only participant: its drop waits for the session's end, as the call flow then ends it.
    assert.deepEqual(kit.callbacks.events(), ['getIvrCommand']);
    await participant.end();
    await session.complete('callingPartyDrop');
    assert.deepEqual(kit.callbacks.events(), ['getIvrCommand', 'callEvent:callingPartyDrop', 'sessionCompleted']);
    assert.equal(kit.callbacks.bodies('callEvent')[0]?.participantId, 'p1');
    assert.equal(control(), undefined);
    assert.equal(leg.dtmfSubscribers, 0, 'RFC 4733 digits unsubscribed');
    assert.equal(dialog.byeSent, false);
    assert.equal(kit.sessions.journalOf(session.sessionId, 'ended')[0]?.reason, 'remote-bye');
  });

  test('remote BYE of a called party: callEvent calledPartyDrop', async (t) => {
    const { kit, loop, dialog, session, participant } = await inIvr(t, { direction: 'outbound' });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await kit.callbacks.waitFor('getIvrCommand');
    dialog.remoteBye();
    assert.equal(await loop, 'calledPartyDrop');
    await participant.end();
    await session.complete('calledPartyDrop');
    assert.equal(kit.callbacks.bodies('callEvent')[0]?.event, 'calledPartyDrop');
    assert.deepEqual(kit.callbacks.types().slice(-2), ['callEvent', 'sessionCompleted']);
  });

  test('remote BYE with another participant in the session: the callEvent is a request, answered before the loop ends', async (t) => {
    const { kit, loop, dialog, session } = await inIvr(t);
    await Participant.join(
      session,
      'p2',
      { direction: 'outbound', from: 'sip:b@y', to: 'sip:c@z', sipCallId: 'c2' },
      kit.deps,
      { createSession: false },
    );
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await kit.callbacks.waitFor('getIvrCommand');
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
    const [event] = kit.callbacks.ofType('callEvent');
    assert.equal(event?.kind, 'request', 'its reply may matter to the session that goes on');
    assert.ok(event?.result, 'answered before the loop returned');
  });

  for (const [reason, expected] of [
    ['transport-error', 'transportError'],
    ['shutdown', 'nodeShutdown'],
    ['ack-timeout', 'ackTimeout'],
  ] as const) {
    test(`the dialog ending with ${reason}: end reason ${expected}, no callEvent`, async (t) => {
      const { kit, loop, dialog } = await inIvr(t);
      kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
      await kit.callbacks.waitFor('getIvrCommand');
      dialog.end(reason);
      assert.equal(await loop, expected);
      assert.equal(kit.callbacks.ofType('callEvent').length, 0);
    });
  }

  test('media failure: BYE, callNotify mediaFailed, callEvent ivrFailed; end reason mediaFailed', async (t) => {
    const { kit, leg, loop, dialog, session } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await waitFor(() => leg.played.length === 1, 'the command to run');
    leg.fail('rtpengine exited');
    assert.equal(await loop, 'mediaFailed');
    assert.equal(dialog.byeSent, true);
    await kit.callbacks.waitFor('callEvent');
    assert.deepEqual(
      kit.callbacks.calls
        .slice(1)
        .map((c) => [c.type, (c.body as { event?: string }).event, (c.body as { reason?: string }).reason]),
      [
        ['callNotify', 'mediaFailed', 'rtpengine exited'],
        ['callEvent', 'ivrFailed', 'media failed: rtpengine exited'],
      ],
    );
    assert.equal(kit.sessions.journalOf(session.sessionId, 'media failed')[0]?.reason, 'rtpengine exited');
  });

  test('digits from SIP INFO and RFC 4733 are one stream; the same press both ways counts once', async (t) => {
    const { kit, leg, loop, gets, dialog, running } = await inIvr(t);
    kit.callbacks.queue('getIvrCommand', { dtmf: { maxDigits: 3 } }, { hangup: true });
    await running();
    leg.emitDtmf('1');
    dialog.sendInfoDtmf('1'); // the same press, reported twice
    dialog.sendInfoDtmf('2');
    leg.emitDtmf('2'); // the same press
    leg.emitDtmf('3');
    await loop;
    assert.deepEqual(gets()[1]!.dtmfParams, { digits: '123', terminationKey: '', reason: 'maxDigits' });
  });

  test('a phrase that cannot be played is skipped with callNotify ivrFailed; the command goes on', async (t) => {
    const { kit, leg, loop, session } = await inIvr(t);
    kit.audio.failingUrls.add('https://cdn.example.com/gone.wav');
    kit.callbacks.queue('getIvrCommand', {
      phrases: [
        { format: 'file', fileName: 'missing' },
        { format: 'url', url: 'https://cdn.example.com/gone.wav' },
        { format: 'tts', text: 'still here' },
      ],
      hangup: true,
    });
    await loop;
    assert.deepEqual(leg.played, ['/fake/tts/still here.au']);
    await kit.callbacks.waitFor('callNotify', { count: 2 });
    const failed = kit.callbacks.bodies('callNotify');
    assert.deepEqual(
      failed.map((b) => b.event),
      ['ivrFailed', 'ivrFailed'],
    );
    assert.match(failed[0]!.reason!, /file phrase skipped: prompt file "missing" does not exist/);
    assert.match(failed[1]!.reason!, /url phrase skipped: .*HTTP 404/);
    assert.equal(kit.sessions.journalOf(session.sessionId, 'ivrFailed').length, 2);
  });

  test('an invalid getIvrCommand reply: the fallback (an apology, then hang-up), the reason journaled', async (t) => {
    const { kit, leg, loop, session } = await inIvr(t);
    kit.callbacks.queue('getIvrCommand', { phrases: [{ format: 'mp3', file: 'x' }] });
    assert.equal(await loop, 'hangup');
    assert.equal(leg.played.length, 1);
    assert.match(leg.played[0]!, /We are sorry/);
    const entry = kit.sessions.journalOf(session.sessionId).find((e) => e.callback === 'getIvrCommand');
    assert.equal(entry?.fallback, true);
    assert.match(String(entry?.reason), /reply fails the schema: phrases/);
  });

  test('no getIvrCommand reply in time: the same fallback', async (t) => {
    const { kit, leg, loop } = await inIvr(t);
    kit.callbacks.queue('getIvrCommand', reply.never());
    assert.equal(await loop, 'hangup');
    assert.match(leg.played[0]!, /We are sorry/);
  });

  test('record: stored under its file name, recordingReady, the next getIvrCommand carries it; usage', async (t) => {
    const { kit, leg, loop, gets } = await inIvr(t);
    leg.recordingDurationMs = 1500;
    kit.callbacks.queue(
      'getIvrCommand',
      { record: { fileName: 'msg-1', maxDurationSec: 5, terminationKey: '#' } },
      { hangup: true },
    );
    await waitFor(() => leg.recording, 'the recording');
    leg.emitAudioLevel(0.5);
    leg.emitDtmf('#');
    await loop;
    assert.deepEqual(kit.audio.saved, [
      { tenantId: kit.tenant.tenantId, fileName: 'msg-1', files: [leg.recordings[0]!.file], mixed: false },
    ]);
    const ready = kit.callbacks.bodies('callNotify').find((b) => b.event === 'recordingReady');
    assert.deepEqual(ready?.recording, { fileName: 'msg-1', durationMs: 1500 });
    assert.equal(ready?.reason, 'terminationKey');
    assert.deepEqual(gets()[1]!.recording, { fileName: 'msg-1', durationMs: 1500 });
    assert.equal(kit.usage.totals(kit.tenant.tenantId).recordingSeconds, 1.5);
  });

  test('a re-INVITE is answered by the media leg', async (t) => {
    const { kit, leg, loop, dialog } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await kit.callbacks.waitFor('getIvrCommand');
    assert.deepEqual(await dialog.remoteReinvite('v=0 new'), { status: 200, sdp: leg.reofferAnswerSdp });
    assert.deepEqual(leg.ops.at(-1), { op: 'reoffer', arg: 'v=0 new' });
    dialog.remoteBye();
    await loop;
  });

  test('started held: no getIvrCommand until resumed', async (t) => {
    const { kit, loop, control, dialog } = await inIvr(t, { startHeld: true });
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [LONG] }));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(kit.callbacks.calls.length, 0);
    assert.equal(control()?.connectable?.held, true);
    control()!.connectable!.resume();
    await kit.callbacks.waitFor('getIvrCommand');
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
  });

  test('held while a command runs: it stops; a reply that arrives while held is not run', async (t) => {
    const { kit, leg, loop, control, dialog, gets } = await inIvr(t);
    kit.callbacks.queue(
      'getIvrCommand',
      { phrases: [LONG] },
      reply.after(40, { phrases: [{ format: 'tts', text: 'late' }] }),
    );
    await waitFor(() => leg.played.length === 1, 'the command to run');
    control()!.connectable!.hold();
    await waitFor(() => leg.opNames.includes('stopPlayback'), 'playback stopped');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(gets().length, 1);
    control()!.connectable!.resume();
    await waitFor(() => gets().length === 2, 'getIvrCommand after the resume');
    await waitFor(() => leg.played.length === 2, 'the command of that reply');
    // Held again while the tenant is still answering: that reply is dropped.
    kit.callbacks.queue('getIvrCommand', reply.after(40, { phrases: [{ format: 'tts', text: 'dropped' }] }));
    control()!.interrupt();
    await waitFor(() => gets().length === 3, 'the third getIvrCommand');
    control()!.connectable!.hold();
    await new Promise((r) => setTimeout(r, 80));
    assert.ok(!leg.played.includes('/fake/tts/dropped.au'));
    // A held participant's hang-up is the connection's to report: no callEvent from the loop.
    dialog.remoteBye();
    assert.equal(await loop, 'callingPartyDrop');
    assert.equal(kit.callbacks.ofType('callEvent').length, 0);
  });

  test('a getIvrCommand reply of {} means no action: no further getIvrCommand until a live command', async (t) => {
    const { kit, loop, dialog, gets, control, session } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({}));
    await kit.callbacks.waitFor('getIvrCommand');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gets().length, 1, 'the participant waits in silence: no hot loop');
    assert.ok(
      kit.sessions.journalOf(session.sessionId).some((e) => e.event === 'no action: waiting for a live command'),
    );
    control()!.interrupt();
    await waitFor(() => gets().length === 2, 'the next getIvrCommand after the interrupt');
    dialog.remoteBye();
    await loop;
  });

  test('loop guard: commands that take no time, more than 10 within 10 s, end the call with reason ivrLoop', async (t) => {
    const { kit, loop, dialog, gets, session } = await inIvr(t);
    kit.callbacks.on('getIvrCommand', () => ({ phrases: [{ format: 'silence', durationMs: 1 }] }));
    assert.equal(await loop, 'ivrLoop');
    assert.equal(gets().length, 11);
    assert.equal(dialog.byeSent, true);
    const entry = kit.sessions.journalOf(session.sessionId).find((e) => e.event === 'ivrLoop');
    assert.match(String(entry?.reason), /more than 10 getIvrCommand callbacks within 10 s/);
  });
});

describe('LoopGuard', () => {
  test('a turn with a second of media resets it; old short turns leave the window', () => {
    let now = 0;
    const guard = new LoopGuard(() => now);
    for (let i = 0; i < 10; i++) assert.equal(guard.turn(5), false);
    assert.equal(guard.turn(1500), false, 'real media: the count starts again');
    for (let i = 0; i < 10; i++) assert.equal(guard.turn(5), false);
    now += 10_001;
    for (let i = 0; i < 10; i++) assert.equal(guard.turn(5), false);
    assert.equal(guard.turn(5), true);
  });
});

describe('DtmfMerger', () => {
  test('the same digit from the other source within the window is one press; otherwise each counts', () => {
    let now = 1000;
    const out: string[] = [];
    const merger = new DtmfMerger(
      (d) => out.push(d),
      400,
      () => now,
    );
    merger.push('5', 'rfc4733');
    now += 100;
    merger.push('5', 'info'); // the same press, reported twice
    now += 50;
    merger.push('5', 'rfc4733'); // the same source again: a new press
    now += 500;
    merger.push('5', 'info'); // the other source, but outside the window
    now += 10;
    merger.push('6', 'info'); // another digit
    now += 10;
    merger.push('6', 'info');
    assert.deepEqual(out, ['5', '5', '5', '6', '6']);
  });
});
