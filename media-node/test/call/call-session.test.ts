import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_CARRIED } from '@sipms/shared/events/delivery-budget';
import { BEFORE_END_WAIT_MS, CallSession } from '../../src/call/session/call-session.js';
import { Participant } from '../../src/call/session/participant.js';
import type { CallbackPort } from '../../src/ports/callbacks.js';
import { ConditionalCheckFailed, flowKit, reply, settle, waitFor } from '../kit/index.js';

/** CallSession (seq, ordering, replyIds, completion) and Participant (session item, usage, state). */

/** A session whose item is stored (active, no participants yet), as a flow creates it. */
async function storedSession(kit: ReturnType<typeof flowKit>): Promise<CallSession> {
  const session = new CallSession(kit.tenant, kit.deps);
  await kit.sessions.create({
    sessionId: session.sessionId,
    tenantId: kit.tenant.tenantId,
    nodeId: kit.nodeId,
    state: 'active',
    createdAt: new Date().toISOString(),
    participants: {},
  });
  return session;
}

describe('CallSession', { concurrency: true }, () => {
  test('seq starts at 1 and increases per session, independently of other sessions', async (t) => {
    const kit = flowKit(t);
    const a = new CallSession(kit.tenant, kit.deps);
    const b = new CallSession(kit.tenant, kit.deps);
    await Promise.all([
      a.notify('callNotify', { participantId: 'p1', event: 'ringing' }),
      b.notify('callNotify', { participantId: 'p2', event: 'ringing' }),
      a.request('callEvent', { participantId: 'p1', event: 'calledPartyAnswered' }),
      b.notify('callAnswered', { participantId: 'p2' }),
      a.notify('callAnswered', { participantId: 'p1' }),
    ]);
    const seqs = (s: CallSession) => kit.callbacks.calls.filter((c) => c.sessionId === s.sessionId).map((c) => c.seq);
    assert.deepEqual(seqs(a), [1, 2, 3]);
    assert.deepEqual(seqs(b), [1, 2]);
    assert.ok(a.sessionId !== b.sessionId);
    kit.callbacks.assertNoViolations();
  });

  test('callbacks go out in order, one at a time, even when the first is slow to deliver', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.on('callAnswered', () => reply.after(60));
    const session = new CallSession(kit.tenant, kit.deps);
    void session.notify('callAnswered', { participantId: 'p1' });
    const res = await session.request('getIvrCommand', { participantId: 'p1' });
    assert.equal(res.fallback, false);
    const [answered, get] = kit.callbacks.calls;
    assert.equal(answered?.type, 'callAnswered');
    assert.equal(get?.type, 'getIvrCommand');
    assert.ok(get!.startedAt >= answered!.finishedAt!, 'getIvrCommand waited for callAnswered to be delivered');
    assert.ok(answered!.finishedAt! - answered!.startedAt >= 50);
    kit.callbacks.assertNoViolations();
  });

  test('a reply-bearing callback carries a replyId that names its participant; others carry none', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    await session.request('getIvrCommand', { participantId: 'p-a' });
    await session.notify('callAnswered', { participantId: 'p-b' });
    await session.request('callEvent', { participantId: 'p-a', event: 'calledPartyAnswered' });
    await session.notify('callNotify', { participantId: 'p-a', event: 'ringing' });
    const [get, answered, event, note] = kit.callbacks.calls;
    const getReply = (get!.body as { replyId: string }).replyId;
    const answeredReply = (answered!.body as { replyId: string }).replyId;
    assert.equal(getReply, get!.eventId, 'the replyId is the event id (the reply is stored under it)');
    assert.equal(session.participantForReply(getReply), 'p-a');
    assert.equal(session.participantForReply(answeredReply), 'p-b');
    assert.equal('replyId' in event!.body, false);
    assert.equal('replyId' in note!.body, false);
    assert.equal(session.participantForReply('e-unknown'), undefined);
    kit.callbacks.assertNoViolations();
  });

  test('the common fields: sessionId, seq, timestamp, and sessionReferenceId where set', async (t) => {
    const kit = flowKit(t);
    const withRef = new CallSession(kit.tenant, kit.deps, 'order-9', 's-fixed');
    const without = new CallSession(kit.tenant, kit.deps);
    await withRef.notify('callAnswered', { participantId: 'p1' });
    await without.notify('callAnswered', { participantId: 'p1' });
    const [a, b] = kit.callbacks.calls;
    assert.equal(a!.sessionId, 's-fixed');
    assert.equal(a!.body.sessionReferenceId, 'order-9');
    assert.equal('sessionReferenceId' in b!.body, false);
    assert.ok(!Number.isNaN(Date.parse(a!.body.timestamp)));
    assert.equal(a!.tenantId, kit.tenant.tenantId);
    kit.callbacks.assertNoViolations();
  });

  test('the reply deadline covers every attempt, the backoff, the fallback URL and slack', async (t) => {
    const kit = flowKit(t, { tenant: { callbackTimeoutMs: 2000, callbackRetries: 2 } });
    const session = new CallSession(kit.tenant, kit.deps);
    assert.equal(session.replyDeadlineMs, 3000 * 3 + 2000 + 2000);
    await session.request('callEvent', { participantId: 'p1', event: 'calledPartyAnswered' });
    assert.equal(kit.callbacks.calls[0]?.deadlineMs, 13_000);
  });

  test('complete: the session item ended, sessionCompleted once with the reason and a numeric duration', async (t) => {
    const kit = flowKit(t);
    const session = await storedSession(kit);
    await new Promise((r) => setTimeout(r, 120));
    await Promise.all([session.complete('hangup'), session.complete('other')]);
    await session.complete('again');
    assert.equal(session.isCompleted, true);
    const body = kit.expectCompleted('hangup', session.sessionId);
    assert.ok(body.sessionDuration >= 0.1 && body.sessionDuration < 1, `${body.sessionDuration}`);
    assert.equal(Math.round(body.sessionDuration * 10), body.sessionDuration * 10, 'tenths of a second');
  });

  test('complete: the journal queued so far is stored before sessionCompleted is sent', async (t) => {
    const kit = flowKit(t);
    const session = await storedSession(kit);
    const order: string[] = [];
    const flush = kit.sessions.flushJournal.bind(kit.sessions);
    kit.sessions.flushJournal = async (sessionId) => {
      order.push(
        `flush ${sessionId === session.sessionId ? 'of this session' : sessionId} (callbacks sent: ${kit.callbacks.calls.map((c) => c.type).join(',') || 'none'})`,
      );
      await new Promise((r) => setTimeout(r, 30)); // a batch write in flight
      await flush(sessionId);
      order.push('flushed');
    };
    session.journal({ kind: 'sip', event: 'ended', reason: 'hangup' });
    await session.complete('hangup');
    kit.expectCompleted('hangup', session.sessionId);
    assert.deepEqual(order, ['flush of this session (callbacks sent: none)', 'flushed']);
  });

  test('complete of a session a dead-node sweeper completed meanwhile (nodeFailed): not reported again', async (t) => {
    const kit = flowKit(t);
    const session = await storedSession(kit);
    assert.equal(await kit.sessions.end(session.sessionId, 'nodeFailed'), true, 'the sweeper');
    await session.complete('callingPartyDrop');
    assert.equal(session.isCompleted, true);
    assert.deepEqual(kit.callbacks.types(), []);
    const errors = kit.sessions.journalOf(session.sessionId).filter((e) => e.kind === 'error');
    assert.deepEqual(
      errors.map((e) => e.event),
      ['sessionCompleted not sent: the session was already completed'],
    );
  });

  test('nothing is sent after sessionCompleted: notify and request are journaled instead', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    await session.complete('hangup');
    await session.notify('callNotify', { participantId: 'p1', event: 'ringing' });
    const res = await session.request('getIvrCommand', { participantId: 'p1' });
    const event = await session.request('callEvent', { participantId: 'p1', event: 'callingPartyDrop' });
    assert.deepEqual(kit.callbacks.types(), ['sessionCompleted']);
    assert.equal(res.fallback, true, 'the flow gets the defined fallback');
    assert.deepEqual(event.reply, {});
    const errors = kit.sessions.journalOf(session.sessionId).filter((e) => e.kind === 'error');
    assert.deepEqual(
      errors.map((e) => e.event),
      [
        'callNotify after sessionCompleted not sent',
        'getIvrCommand after sessionCompleted not sent',
        'callEvent after sessionCompleted not sent',
      ],
    );
    assert.deepEqual(errors[0]?.fields, { participantId: 'p1', event: 'ringing' }, 'what was not sent is kept');
    kit.callbacks.assertNoViolations();
  });

  test('whenEmpty resolves once every participant that joined has ended', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    await session.whenEmpty();
    const rec = { direction: 'inbound' as const, from: '', to: '', sipCallId: '' };
    const a = await Participant.join(session, 'a', rec, kit.deps, { createSession: true });
    const b = await Participant.join(session, 'b', rec, kit.deps, { createSession: false });
    let empty = false;
    const waiting = session.whenEmpty().then(() => {
      empty = true;
    });
    await a.end();
    await a.end();
    await new Promise((r) => setImmediate(r));
    assert.equal(empty, false, 'b is still there (a ending twice counts once)');
    await b.end();
    await waiting;
    assert.equal(empty, true);
  });

  /** The callback port as the session calls it: each call's type, what it carries and its deadline. */
  function spyPort(inner: CallbackPort) {
    const sent: { type: string; carried: string[]; deadlineMs: number }[] = [];
    const port: CallbackPort = {
      request: (req, d, s) => {
        sent.push({ type: req.type, carried: (req.carried ?? []).map((c) => c.type), deadlineMs: d });
        return inner.request(req, d, s);
      },
      notify: (req, d) => {
        sent.push({ type: req.type, carried: (req.carried ?? []).map((c) => c.type), deadlineMs: d });
        return inner.notify(req, d);
      },
    };
    return { port, sent };
  }

  test('a notification with a callback queued behind it by the next turn is carried by it: one delivery, in order', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port });
    const answered = session.notify('callAnswered', { participantId: 'p1' });
    const res = await session.request('getIvrCommand', { participantId: 'p1' });
    await answered;
    assert.equal(res.fallback, false);
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [{ type: 'getIvrCommand', carried: ['callAnswered'] }],
    );
    assert.equal(sent[0]?.deadlineMs, session.replyDeadlineMs * 2, 'the wait covers both deliveries');
    assert.deepEqual(kit.callbacks.types(), ['callAnswered', 'getIvrCommand'], 'the tenant still gets both, in order');
    kit.callbacks.assertNoViolations();
  });

  test('a lone notification is delivered on its own; the next callback carries nothing', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port });
    await session.notify('callAnswered', { participantId: 'p1' });
    await session.request('getIvrCommand', { participantId: 'p1' });
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [
        { type: 'callAnswered', carried: [] },
        { type: 'getIvrCommand', carried: [] },
      ],
    );
    assert.equal(sent[0]?.deadlineMs, session.replyDeadlineMs);
  });

  test('at most MAX_CARRIED ride with one callback; sessionCompleted carries what precedes it', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port });
    const notes = Array.from({ length: MAX_CARRIED + 2 }, (_, i) =>
      session.notify('callNotify', { participantId: 'p1', event: `e${i}` }),
    );
    const completed = session.complete('hangup');
    await Promise.all([...notes, completed]);
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried: carried.length })),
      [
        { type: 'callNotify', carried: MAX_CARRIED },
        { type: 'sessionCompleted', carried: 1 },
      ],
    );
    assert.equal(kit.callbacks.calls.length, MAX_CARRIED + 3);
    kit.callbacks.assertNoViolations();
  });

  test('a tenant whose settings make one delivery of two longer than the longest allowed: nothing is carried', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const tenant = { ...kit.tenant, callbackTimeoutMs: 15_000, callbackRetries: 5 };
    const session = new CallSession(tenant, { ...kit.deps, callbacks: port });
    const answered = session.notify('callAnswered', { participantId: 'p1' });
    await session.request('getIvrCommand', { participantId: 'p1' });
    await answered;
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [
        { type: 'callAnswered', carried: [] },
        { type: 'getIvrCommand', carried: [] },
      ],
    );
  });

  test('notifyBeforeEnd: the drop waits for the session to end and rides with sessionCompleted, in order', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port });
    await session.request('getIvrCommand', { participantId: 'p1' });
    const dropped = session.notifyBeforeEnd('callEvent', { participantId: 'p1', event: 'callingPartyDrop' });
    // The teardown before the end (the leg's close, the end write) takes a while: the drop waits meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(sent.length, 1, 'nothing sent yet');
    await session.complete('callingPartyDrop');
    await dropped;
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [
        { type: 'getIvrCommand', carried: [] },
        { type: 'sessionCompleted', carried: ['callEvent'] },
      ],
    );
    assert.deepEqual(kit.callbacks.events(), ['getIvrCommand', 'callEvent:callingPartyDrop', 'sessionCompleted']);
    kit.callbacks.assertNoViolations();
  });

  test('notifyBeforeEnd, then a participant joins: the session goes on, the drop is sent alone at once', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port });
    const dropped = session.notifyBeforeEnd('callEvent', { participantId: 'p1', event: 'callingPartyDrop' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    session.addMember();
    await dropped;
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [{ type: 'callEvent', carried: [] }],
    );
  });

  test('notifyBeforeEnd with no callback after it: sent alone once the wait (BEFORE_END_WAIT_MS) has passed', async (t) => {
    const kit = flowKit(t);
    const { port, sent } = spyPort(kit.callbacks);
    const waitMs = 150;
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: port, beforeEndWaitMs: waitMs });
    const started = performance.now();
    await session.notifyBeforeEnd('callEvent', { participantId: 'p1', event: 'callingPartyDrop' });
    assert.ok(performance.now() - started >= waitMs - 5, 'it waited for a callback to carry it');
    assert.deepEqual(
      sent.map(({ type, carried }) => ({ type, carried })),
      [{ type: 'callEvent', carried: [] }],
    );
    assert.ok(BEFORE_END_WAIT_MS >= 1000, 'the default leaves room for a slow teardown');
  });

  test('notifyBeforeEnd, then a sweeper has completed the session: the drop is sent alone, nothing after it', async (t) => {
    const kit = flowKit(t);
    const session = await storedSession(kit);
    const dropped = session.notifyBeforeEnd('callEvent', { participantId: 'p1', event: 'callingPartyDrop' });
    assert.equal(await kit.sessions.end(session.sessionId, 'nodeFailed'), true, 'the sweeper');
    await session.complete('callingPartyDrop');
    await dropped;
    assert.deepEqual(kit.callbacks.types(), ['callEvent']);
  });

  test('a callback path that throws does not stop the queue (logged)', async (t) => {
    const kit = flowKit(t);
    let first = true;
    const flaky: CallbackPort = {
      request: (req, d, s) => kit.callbacks.request(req, d, s),
      notify: async (req, d) => {
        if (first) {
          first = false;
          throw new Error('bus down');
        }
        return kit.callbacks.notify(req, d);
      },
    };
    const session = new CallSession(kit.tenant, { ...kit.deps, callbacks: flaky });
    const failed = session.notify('callAnswered', { participantId: 'p1' });
    await assert.rejects(failed, /bus down/);
    await session.notify('callNotify', { participantId: 'p1', event: 'ringing' });
    assert.deepEqual(kit.callbacks.types(), ['callNotify']);
    await waitFor(() => kit.logger.find('callback queue step failed').length === 1, 'the error logged');
  });

  test('a journal write that fails is logged, never thrown', async (t) => {
    const kit = flowKit(t);
    kit.sessions.failNext('journal');
    const session = new CallSession(kit.tenant, kit.deps);
    session.journal({ kind: 'sip', event: 'x' });
    await waitFor(() => kit.logger.find('journal write failed', 'warn').length === 1, 'the warning');
  });
});

describe('Participant', { concurrency: true }, () => {
  const record = { direction: 'inbound' as const, from: 'sip:a@x', to: 'sip:b@y', sipCallId: 'c1' };

  test('join creates the session item with the participant in setup, and counts an attempt', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps, 'ref-1');
    const p = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    const item = kit.sessions.get(session.sessionId)!;
    assert.equal(item.state, 'active');
    assert.equal(item.nodeId, kit.nodeId);
    assert.equal(item.sessionReferenceId, 'ref-1');
    assert.deepEqual(item.participants, { p1: { ...record, state: 'setup' } });
    assert.equal(p.state, 'setup');
    assert.equal(kit.usage.totals(kit.tenant.tenantId).callAttempts, 1);
    // A second participant joins the same item.
    await Participant.join(session, 'p2', { ...record, direction: 'outbound' }, kit.deps, { createSession: false });
    assert.deepEqual(Object.keys(kit.sessions.get(session.sessionId)!.participants), ['p1', 'p2']);
    // Creating it again is refused (the store's condition), and nothing is counted.
    await assert.rejects(
      Participant.join(session, 'p3', record, kit.deps, { createSession: true }),
      (err: Error) => err instanceof ConditionalCheckFailed,
    );
    assert.equal(kit.usage.totals(kit.tenant.tenantId).callAttempts, 2);
  });

  test('answered: counted once, the item active, callAnswered (unless told not to)', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    const p = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    const q = await Participant.join(session, 'p2', record, kit.deps, { createSession: false });
    p.answered();
    p.answered();
    q.answered({ notify: false, event: 'bridged' });
    await waitFor(() => kit.sessions.get(session.sessionId)!.participants.p2?.state === 'active', 'the state write');
    assert.equal(p.state, 'answered');
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p1?.state, 'active');
    assert.equal(kit.usage.totals(kit.tenant.tenantId).answeredCalls, 2);
    await waitFor(() => kit.callbacks.calls.length === 1, 'callAnswered');
    assert.deepEqual(
      kit.callbacks.bodies('callAnswered').map((b) => b.participantId),
      ['p1'],
    );
    assert.equal(kit.sessions.journalOf(session.sessionId, 'bridged')[0]?.participantId, 'p2');
  });

  test('end before an answer: no seconds; the last participant is marked ended by the session end write; idempotent', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    const p = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    await p.end();
    await p.end();
    assert.equal(p.state, 'ended');
    assert.equal(kit.usage.records.filter((r) => 'callSeconds' in r.counters).length, 0);
    p.answered();
    assert.equal(p.state, 'ended', 'an ended participant cannot be answered');
    assert.equal(kit.sessions.writes.filter((w) => w.startsWith('setParticipantState')).length, 0);
    await session.complete('callingPartyDrop');
    const stored = kit.sessions.get(session.sessionId)!;
    assert.equal(stored.state, 'ended');
    assert.equal(stored.participants.p1?.state, 'ended');
  });

  test('a participant that is not the last writes its own ended state', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    const p1 = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    const p2 = await Participant.join(session, 'p2', record0(), kit.deps, { createSession: false });
    await p1.end();
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p1?.state, 'ended');
    await p2.end();
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p2?.state, 'setup', 'left to the session end');
    await session.complete('callingPartyDrop');
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p2?.state, 'ended');
  });

  test('one joining an emptied session before it completes: the one that left is written ended at once', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    const p1 = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    await p1.end();
    await Participant.join(session, 'p2', record0(), kit.deps, { createSession: false });
    await settle();
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p1?.state, 'ended');
    await session.complete('callingPartyDrop');
    assert.equal(kit.sessions.get(session.sessionId)!.participants.p2?.state, 'setup', 'p2 never left');
  });

  test('a state write refused by the store is logged, not thrown', async (t) => {
    const kit = flowKit(t);
    const session = new CallSession(kit.tenant, kit.deps);
    const p = await Participant.join(session, 'p1', record, kit.deps, { createSession: true });
    await Participant.join(session, 'p2', record0(), kit.deps, { createSession: false });
    kit.sessions.failNext('setParticipantState');
    await p.end();
    assert.equal(kit.logger.find('participant state write failed').length, 1);
  });
});

describe('Participant seconds', () => {
  test('end after an answer bills the whole seconds since the answer, once', async (t) => {
    const kit = flowKit(t);
    let now = Date.parse('2024-05-01T10:00:00Z');
    t.mock.method(Date, 'now', () => now);
    const session = new CallSession(kit.tenant, kit.deps);
    const p = await Participant.join(session, 'p1', record0(), kit.deps, { createSession: true });
    now += 5_000; // ringing does not count
    p.answered({ notify: false });
    now += 61_400;
    await p.end();
    now += 10_000;
    await p.end();
    assert.equal(kit.usage.totals(kit.tenant.tenantId).callSeconds, 61);
  });
});

function record0() {
  return { direction: 'outbound' as const, from: '', to: 'sip:c@example.com', sipCallId: '' };
}
