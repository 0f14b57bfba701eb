import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { SensitivePath } from '@sipms/shared/events/sensitive-fields';
import { runIvrLoop } from '../../src/call/ivr/ivr-loop.js';
import { CallSession } from '../../src/call/session/call-session.js';
import { Participant } from '../../src/call/session/participant.js';
import { FAKE_OFFER_SDP, FakeDialog, type FakeMediaLeg, flowKit, waitFor } from '../kit/index.js';

// `dtmf.sensitive` in the call core: the getIvrCommand that carries the digits of such a command is marked
// for the callback port (which seals them, docs/callback-delivery.md); the tenant still gets the digits;
// nothing the node journals or logs holds them.

async function inIvr(t: TestContext) {
  const kit = flowKit(t, { callbackMaxDeadlineMs: 100 });
  const session = new CallSession(kit.tenant, kit.deps);
  const participant = await Participant.join(
    session,
    'p1',
    { direction: 'inbound', from: 'sip:a@x', to: 'sip:b@y', sipCallId: 'c1' },
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
  // What the port was told about each getIvrCommand, in order.
  const marks: (readonly SensitivePath[] | undefined)[] = [];
  const loop = new Promise((resolve) => setImmediate(resolve)).then(() =>
    runIvrLoop({ participant, dialog, leg, audio: kit.audio, live: kit.live, usage: kit.usage }),
  );
  t.after(() => dialog.end('shutdown'));
  const running = (n: number) =>
    waitFor(
      () => kit.sessions.journalOf(session.sessionId).filter((e) => e.callback === 'getIvrCommand').length >= n,
      `command #${n} to run`,
    );
  return { kit, session, leg, loop, marks, running };
}

describe('sensitive digits (dtmf.sensitive)', () => {
  test('the next getIvrCommand is marked; the tenant gets the digits; journal and logs hold none', async (t) => {
    const { kit, session, leg, loop, marks, running } = await inIvr(t);
    const script = [{ dtmf: { maxDigits: 4, sensitive: true } }, { dtmf: { maxDigits: 2 } }, { hangup: true }];
    kit.callbacks.on('getIvrCommand', (_body, req) => {
      marks.push(req.sensitive);
      return script.shift() ?? { hangup: true };
    });
    await running(1);
    for (const d of '9183') leg.emitDtmf(d);
    await running(2);
    for (const d of '55') leg.emitDtmf(d);
    assert.equal(await loop, 'hangup');
    const gets = kit.callbacks.bodies('getIvrCommand');
    assert.deepEqual(
      gets.map((b) => b.dtmfParams?.digits),
      [undefined, '9183', '55'],
    );
    assert.deepEqual(marks, [undefined, ['dtmfParams.digits'], undefined], 'only the sensitive digits are marked');
    const journal = JSON.stringify(kit.sessions.journalOf(session.sessionId));
    assert.ok(journal.includes('"sensitive":true'), 'the command is journaled as the tenant sent it');
    assert.ok(!journal.includes('9183'), 'the digits are not journaled');
    assert.ok(!JSON.stringify(kit.logger.entries).includes('9183'), 'nor logged');
    kit.callbacks.assertNoViolations();
  });

  test('a getIvrCommand that can no longer be sent (session completed) is journaled with "***"', async (t) => {
    const kit = flowKit(t, { callbackMaxDeadlineMs: 100 });
    const session = new CallSession(kit.tenant, kit.deps);
    await session.complete('hangup');
    const res = await session.request(
      'getIvrCommand',
      { participantId: 'p1', dtmfParams: { digits: '2468', terminationKey: '#', reason: 'terminationKey' } },
      undefined,
      ['dtmfParams.digits'],
    );
    assert.equal(res.fallback, true);
    await waitFor(() => kit.sessions.journalOf(session.sessionId, /not sent/).length === 1, 'the unsent entry');
    const [entry] = kit.sessions.journalOf(session.sessionId, /not sent/);
    assert.deepEqual((entry!.fields as { dtmfParams: unknown }).dtmfParams, {
      digits: '***',
      terminationKey: '#',
      reason: 'terminationKey',
    });
  });
});
