import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FlowKit, flowKit, waitFor } from '../kit/index.js';

/** Live-call commands (NodeCommand) as the inbox hands them to LiveCommands, and the connections they make. */

const STAY = { phrases: [{ format: 'silence', durationMs: 60_000 }] };

async function finish(kit: FlowKit): Promise<void> {
  await kit.drained();
  kit.expectNoSlotsHeld();
  await kit.close();
}

/** An inbound caller in IVR, and a called party placed into its session (reply {} → IVR), both in IVR. */
async function twoInIvr(kit: FlowKit) {
  kit.callbacks.on('getIvrCommand', () => STAY);
  const call = kit.invite();
  const first = await kit.callbacks.waitFor('getIvrCommand');
  const callerId = first.body.participantId;
  const sessionId = kit.sessionId;
  await kit.commands.execute(
    kit.command({
      kind: 'placeIvrCall',
      payload: {
        sessionId,
        participantId: 'p-join',
        joinExisting: true,
        destination: 'sip:dan@example.com',
        timeoutSec: 30,
      },
    }),
  );
  await kit.callbacks.waitFor('getIvrCommand', { where: (b) => b.participantId === 'p-join' });
  return {
    call,
    sessionId,
    callerId,
    joinedDialog: kit.signaling.placed[0]!.dialog!,
    callerLeg: kit.media.legOf({ callId: call.callId })!,
    joinedLeg: kit.media.legOf({ participantId: 'p-join' })!,
  };
}

/** Connects the two participants with /connect and waits until the connection is recorded. */
async function connect(kit: FlowKit, sessionId: string, a: string, b: string, connectionId = 'c-1') {
  await kit.commands.execute(
    kit.command({ kind: 'connect', payload: { sessionId, participantIds: [a, b], connectionId } }),
  );
  assert.equal(kit.sessions.get(sessionId)?.connections?.[connectionId]?.state, 'connected');
}

const getIvrCount = (kit: FlowKit, participantId: string) =>
  kit.callbacks.ofType('getIvrCommand').filter((c) => c.body.participantId === participantId).length;

describe('live commands', { concurrency: true }, () => {
  test('placeIvrCall: journaled with the command id and placed', async (t) => {
    const kit = flowKit(t);
    const cmd = kit.command({
      kind: 'placeIvrCall',
      payload: {
        sessionId: 's-new',
        participantId: 'p-new',
        joinExisting: false,
        destination: 'sip:x@example.com',
        timeoutSec: 5,
      },
    });
    await kit.commands.execute(cmd);
    await finish(kit);
    const [entry] = kit.sessions.journalOf('s-new', 'placeIvrCall');
    assert.equal(entry?.commandId, cmd.commandId);
    assert.equal(entry?.destination, 'sip:x@example.com');
    assert.equal(kit.signaling.placed[0]?.request.target, 'sip:x@example.com');
    kit.expectCompleted('hangup', 's-new');
  });

  test('hangupParticipant: BYE to that participant; its session ends', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    const { body } = await kit.callbacks.waitFor('getIvrCommand');
    await kit.commands.execute(
      kit.command({
        kind: 'hangupParticipant',
        payload: { sessionId: kit.sessionId, participantId: body.participantId },
      }),
    );
    await finish(kit);
    assert.equal(call.dialog!.byeSent, true);
    assert.equal(kit.callbacks.ofType('callEvent').length, 0, 'a hang-up the tenant asked for is no callEvent');
    kit.expectCompleted('hangup');
  });

  test('interruptIvrCommand: playback stops, the next getIvrCommand follows at once (no dtmfParams)', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => ({ ...STAY, dtmf: { maxDigits: 4 } }));
    const call = kit.invite();
    const { body } = await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    await waitFor(() => leg.played.length === 1, 'the command to run');
    leg.emitDtmf('1');
    await kit.commands.execute(
      kit.command({
        kind: 'interruptIvrCommand',
        payload: { sessionId: kit.sessionId, participantId: body.participantId },
      }),
    );
    const next = await kit.callbacks.waitFor('getIvrCommand', { count: 2 });
    assert.equal(next.body.dtmfParams, undefined);
    assert.ok(leg.opNames.includes('stopPlayback'));
    assert.equal(kit.sessions.journalOf(kit.sessionId).filter((e) => e.event === 'interrupted').length, 1);
    call.dialog!.remoteBye();
    await finish(kit);
  });

  for (const kind of ['hangupParticipant', 'interruptIvrCommand'] as const) {
    test(`${kind} of a participant not on this node: journaled as ignored, nothing else`, async (t) => {
      const kit = flowKit(t);
      kit.callbacks.on('getIvrCommand', () => STAY);
      const call = kit.invite();
      await kit.callbacks.waitFor('getIvrCommand');
      const cmd = kit.command({ kind, payload: { sessionId: kit.sessionId, participantId: 'p-nobody' } });
      await kit.commands.execute(cmd);
      const entry = await waitFor(
        () => kit.sessions.journalOf(kit.sessionId, `${kind} ignored: participant not on this node`)[0],
        'the journal entry',
      );
      assert.equal(entry?.participantId, 'p-nobody');
      assert.equal(entry?.commandId, cmd.commandId);
      assert.equal(call.dialog!.isEnded, false);
      assert.equal(kit.callbacks.ofType('getIvrCommand').length, 1);
      call.dialog!.remoteBye();
      await finish(kit);
    });
  }

  test('connect: both leave IVR and hear each other; no getIvrCommand while connected', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    const before = kit.callbacks.ofType('getIvrCommand').length;
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    assert.equal(p.callerLeg.connectedTo, p.joinedLeg.sinkSide);
    assert.equal(p.joinedLeg.connectedTo, p.callerLeg.sinkSide);
    await waitFor(
      () => p.callerLeg.opNames.includes('stopPlayback') && p.joinedLeg.opNames.includes('stopPlayback'),
      'playback stopped',
    );
    assert.deepEqual(kit.sessions.journalOf(p.sessionId, 'connected')[0]?.participantIds, [p.callerId, 'p-join']);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(kit.callbacks.ofType('getIvrCommand').length, before);
    // A second connect of a connected participant is ignored.
    await kit.commands.execute(
      kit.command({
        kind: 'connect',
        payload: { sessionId: p.sessionId, participantIds: [p.callerId, 'p-join'], connectionId: 'c-2' },
      }),
    );
    assert.equal(kit.sessions.journalOf(p.sessionId, /^connect ignored/).length, 1);
    p.joinedDialog.remoteBye();
    await finish(kit);
  });

  test('splitConnection: callEvent connectionSplit for each; {} returns both to IVR', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    const callerGets = getIvrCount(kit, p.callerId);
    const joinedGets = getIvrCount(kit, 'p-join');
    await kit.commands.execute(
      kit.command({ kind: 'splitConnection', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    const splits = kit.callbacks.bodies('callEvent').filter((b) => b.event === 'connectionSplit');
    assert.deepEqual(
      splits.map((b) => [b.participantId, b.connectionId]),
      [
        [p.callerId, 'c-1'],
        ['p-join', 'c-1'],
      ],
    );
    assert.equal(p.callerLeg.connectedTo, 'ivr');
    assert.equal(p.joinedLeg.connectedTo, 'ivr');
    assert.equal(kit.sessions.get(p.sessionId)?.connections?.['c-1']?.state, 'split');
    await waitFor(
      () => getIvrCount(kit, p.callerId) > callerGets && getIvrCount(kit, 'p-join') > joinedGets,
      'both back in IVR',
    );
    // Splitting it again: no such connection.
    await kit.commands.execute(
      kit.command({ kind: 'splitConnection', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.equal(kit.sessions.journalOf(p.sessionId, 'split ignored: no such connection on this node').length, 1);
    p.joinedDialog.remoteBye();
    await waitFor(() => kit.outbound.activeCalls === 0, 'the joined participant gone');
    p.call.dialog!.remoteBye();
    await finish(kit);
    kit.expectCompleted('callingPartyDrop');
  });

  test('splitConnection: reply drop hangs that participant up, the other returns to IVR', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    kit.callbacks.on('callEvent', (b) =>
      b.event === 'connectionSplit' && b.participantId === 'p-join' ? { action: 'drop' } : {},
    );
    const callerGets = getIvrCount(kit, p.callerId);
    await kit.commands.execute(
      kit.command({ kind: 'splitConnection', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.equal(p.joinedDialog.byeSent, true);
    assert.equal(p.call.dialog!.isEnded, false);
    await waitFor(() => getIvrCount(kit, p.callerId) > callerGets, 'the caller back in IVR');
    p.call.dialog!.remoteBye();
    await finish(kit);
  });

  test('a connected party hangs up: callEvent about it; {} hangs up the other', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    p.joinedDialog.remoteBye();
    await finish(kit);
    const drops = kit.callbacks.bodies('callEvent').filter((b) => b.event.endsWith('Drop'));
    assert.deepEqual(
      drops.map((b) => [b.event, b.participantId]),
      [['calledPartyDrop', 'p-join']],
    );
    assert.equal(p.call.dialog!.byeSent, true);
    assert.equal(kit.sessions.get(p.sessionId)?.connections?.['c-1']?.state, 'split');
    kit.expectCompleted('hangup');
  });

  test('a connected party hangs up: reply ivr sends the other back to IVR', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    kit.callbacks.queue('callEvent', { action: 'ivr' });
    const callerGets = getIvrCount(kit, p.callerId);
    p.joinedDialog.remoteBye();
    await waitFor(() => getIvrCount(kit, p.callerId) > callerGets, 'the caller back in IVR');
    assert.equal(p.callerLeg.connectedTo, 'ivr');
    assert.equal(p.call.dialog!.isEnded, false);
    p.call.dialog!.remoteBye();
    await finish(kit);
    kit.expectCompleted('callingPartyDrop');
  });

  test('the connected caller hangs up: callingPartyDrop; reply ivr keeps the other in the session', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    kit.callbacks.queue('callEvent', { action: 'ivr' });
    const joinedGets = getIvrCount(kit, 'p-join');
    p.call.dialog!.remoteBye();
    await kit.callbacks.waitFor('callEvent', { where: (b) => b.event === 'callingPartyDrop' });
    await waitFor(() => getIvrCount(kit, 'p-join') > joinedGets, 'the called party back in IVR');
    assert.equal(p.joinedDialog.isEnded, false);
    assert.equal(kit.callbacks.ofType('sessionCompleted').length, 0, 'the session goes on with the called party');
    p.joinedDialog.remoteBye();
    await finish(kit);
    // Ended by its last participant; the reason is the one of the flow that owns the session.
    kit.expectCompleted('callingPartyDrop');
    assert.ok(
      kit.callbacks.bodies('callEvent').some((b) => b.event === 'calledPartyDrop' && b.participantId === 'p-join'),
    );
  });

  test('recording a connection: both parties recorded, mixed, stored, recordingReady', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.ok(p.callerLeg.recording && p.joinedLeg.recording, 'both legs record');
    // A second start while recording is ignored.
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.equal(kit.sessions.journalOf(p.sessionId, /^startrecording ignored/).length, 1);
    await kit.commands.execute(
      kit.command({ kind: 'stopRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    const [saved] = kit.audio.saved;
    assert.equal(saved?.mixed, true);
    assert.equal(saved?.tenantId, kit.tenant.tenantId);
    assert.match(saved!.fileName, /^rec-c-1-\d+$/);
    assert.deepEqual(saved?.files, [p.callerLeg.recordings[0]!.file, p.joinedLeg.recordings[0]!.file]);
    const ready = await kit.callbacks.waitFor('callNotify', { where: (b) => b.event === 'recordingReady' });
    assert.equal(ready.body.reason, saved!.fileName);
    assert.equal(kit.sessions.journalOf(p.sessionId, 'recording stored')[0]?.fileName, saved!.fileName);
    // Nothing is recording any more.
    await kit.commands.execute(
      kit.command({ kind: 'stopRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.equal(kit.sessions.journalOf(p.sessionId, 'stoprecording ignored: not recording').length, 1);
    p.joinedDialog.remoteBye();
    await finish(kit);
  });

  test('a split stops and stores a running connection recording', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    await kit.commands.execute(
      kit.command({ kind: 'splitConnection', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    assert.equal(kit.audio.saved.length, 1);
    assert.equal(kit.audio.saved[0]?.files.length, 2);
    await kit.callbacks.waitFor('callNotify', { where: (b) => b.event === 'recordingReady' });
    p.joinedDialog.remoteBye();
    await waitFor(() => kit.outbound.activeCalls === 0, 'the joined participant gone');
    p.call.dialog!.remoteBye();
    await finish(kit);
  });

  test('recording a participant by replyId: its leg alone, stored, recordingReady for it', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    const { body } = await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: kit.sessionId, replyId: body.replyId } }),
    );
    assert.ok(leg.recording);
    await kit.commands.execute(
      kit.command({ kind: 'stopRecording', payload: { sessionId: kit.sessionId, replyId: body.replyId } }),
    );
    const [saved] = kit.audio.saved;
    assert.equal(saved?.mixed, false);
    assert.match(saved!.fileName, new RegExp(`^rec-${body.participantId}-\\d+$`));
    assert.deepEqual(saved?.files, [leg.recordings[0]!.file]);
    const ready = await kit.callbacks.waitFor('callNotify', { where: (b) => b.event === 'recordingReady' });
    assert.equal(ready.body.participantId, body.participantId);
    assert.equal(ready.body.reason, saved!.fileName);
    call.dialog!.remoteBye();
    await finish(kit);
  });

  test('a recording by replyId still running when the caller hangs up: stored, recordingReady, then sessionCompleted', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    const { body } = await kit.callbacks.waitFor('getIvrCommand');
    const leg = kit.media.legs[0]!;
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: kit.sessionId, replyId: body.replyId } }),
    );
    call.dialog!.remoteBye();
    await finish(kit);
    const [saved] = kit.audio.saved;
    assert.deepEqual(saved?.files, [leg.recordings[0]!.file], 'the recording is stored, not thrown away');
    const names = kit.callbacks.events(kit.sessionId);
    assert.ok(names.includes('callNotify:recordingReady'), names.join(' '));
    assert.equal(names.at(-1), 'sessionCompleted', names.join(' '));
    assert.equal(kit.sessions.journalOf(kit.sessionId, 'recording stored')[0]?.fileName, saved!.fileName);
  });

  test('a connection recording still running when a party hangs up: the mix is stored before the session completes', async (t) => {
    const kit = flowKit(t);
    const p = await twoInIvr(kit);
    await connect(kit, p.sessionId, p.callerId, 'p-join');
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: p.sessionId, connectionId: 'c-1' } }),
    );
    p.call.dialog!.remoteBye();
    await finish(kit);
    const [saved] = kit.audio.saved;
    assert.equal(saved?.mixed, true);
    assert.equal(saved?.files.length, 2, 'both parties in the mix');
    const names = kit.callbacks.events(kit.sessionId);
    assert.ok(names.includes('callNotify:recordingReady'), names.join(' '));
    assert.equal(names.at(-1), 'sessionCompleted', names.join(' '));
  });

  test('recording by an unknown replyId, or stopping one never started: journaled as ignored', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    await kit.callbacks.waitFor('getIvrCommand');
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: kit.sessionId, replyId: 'e-unknown' } }),
    );
    await kit.commands.execute(
      kit.command({ kind: 'stopRecording', payload: { sessionId: kit.sessionId, replyId: 'e-unknown' } }),
    );
    assert.equal(
      kit.sessions.journalOf(kit.sessionId, 'startrecording ignored: unknown replyId or already recording').length,
      1,
    );
    assert.equal(kit.sessions.journalOf(kit.sessionId, 'stoprecording ignored: not recording').length, 1);
    assert.equal(kit.media.legs[0]!.recording, undefined);
    call.dialog!.remoteBye();
    await finish(kit);
  });

  test('a recording that cannot be stored: recordingFailed with the reason', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('getIvrCommand', () => STAY);
    const call = kit.invite();
    const { body } = await kit.callbacks.waitFor('getIvrCommand');
    await kit.commands.execute(
      kit.command({ kind: 'startRecording', payload: { sessionId: kit.sessionId, replyId: body.replyId } }),
    );
    kit.audio.saveRecording = async () => {
      throw new Error('disk full');
    };
    await kit.commands.execute(
      kit.command({ kind: 'stopRecording', payload: { sessionId: kit.sessionId, replyId: body.replyId } }),
    );
    const failed = await kit.callbacks.waitFor('callNotify', { where: (b) => b.event === 'recordingFailed' });
    assert.equal(failed.body.reason, 'disk full');
    call.dialog!.remoteBye();
    await finish(kit);
  });
});
