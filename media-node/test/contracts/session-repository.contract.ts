import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { JournalEntry, ParticipantRecord, SessionRecord } from '@sipms/shared/domain/session';
import type { SessionRepository } from '../../src/ports/call-data.js';

/**
 * How a contract run reads back what the repository stored. The port itself is write-only (the call flow
 * never reads sessions back); what it wrote is observable through the session API (the real store's
 * `get` and `readJournal`) or the fake's own inspection methods, adapted to this shape by each test file.
 */
export interface SessionInspect {
  session(sessionId: string): Promise<SessionRecord | undefined>;
  /** The session's journal as the API lists it. */
  journal(sessionId: string): Promise<JournalEntry[]>;
}

export interface SessionRepositoryUnderTest {
  repo: SessionRepository;
  inspect: SessionInspect;
  close?(): Promise<void>;
}

const id = (prefix: string) => `${prefix}${randomBytes(6).toString('hex')}`;

function newSession(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const sessionId = id('s');
  return {
    sessionId,
    tenantId: 't-contract',
    nodeId: 'node-1',
    state: 'active',
    createdAt: new Date().toISOString(),
    participants: {
      p1: { direction: 'inbound', from: 'sip:alice@example.com', to: 'sip:ivr@t.sip.test', sipCallId: 'c1@x' },
    },
    ...overrides,
  };
}

/** The SessionRepository port's behaviour, run against a real store and against a fake alike. */
export function sessionRepositoryContract(
  name: string,
  make: () => SessionRepositoryUnderTest | Promise<SessionRepositoryUnderTest>,
): void {
  describe(`SessionRepository contract: ${name}`, () => {
    let subject: SessionRepositoryUnderTest;
    before(async () => {
      subject = await make();
    });
    after(async () => {
      await subject?.close?.();
    });

    test('create, then the session reads back as written', async () => {
      const session = newSession({ sessionReferenceId: 'ref-1' });
      await subject.repo.create(session);
      assert.deepEqual(await subject.inspect.session(session.sessionId), session);
    });

    test('a session id that was never created reads back as undefined', async () => {
      assert.equal(await subject.inspect.session(id('s')), undefined);
    });

    test('creating the same session id twice fails and keeps the first', async () => {
      const session = newSession();
      await subject.repo.create(session);
      await assert.rejects(subject.repo.create({ ...session, nodeId: 'node-2', participants: {} }));
      assert.deepEqual(await subject.inspect.session(session.sessionId), session);
    });

    test('addParticipant adds beside the existing participants', async () => {
      const session = newSession();
      await subject.repo.create(session);
      const callee: ParticipantRecord = {
        direction: 'outbound',
        from: 'sip:ivr@t.sip.test',
        to: 'sip:bob@example.com',
        sipCallId: 'c2@x',
        state: 'setup',
      };
      await subject.repo.addParticipant(session.sessionId, 'p2', callee);
      const stored = await subject.inspect.session(session.sessionId);
      assert.deepEqual(stored?.participants, { ...session.participants, p2: callee });
    });

    test('addParticipant to a session that does not exist fails', async () => {
      await assert.rejects(
        subject.repo.addParticipant(id('s'), 'p1', {
          direction: 'outbound',
          from: 'sip:a@x',
          to: 'sip:b@x',
          sipCallId: 'c@x',
        }),
      );
    });

    test('setParticipantState changes only that participant’s state', async () => {
      const session = newSession();
      await subject.repo.create(session);
      const second: ParticipantRecord = {
        direction: 'outbound',
        from: 'a',
        to: 'b',
        sipCallId: 'c3@x',
        state: 'setup',
      };
      await subject.repo.addParticipant(session.sessionId, 'p2', second);
      await subject.repo.setParticipantState(session.sessionId, 'p2', 'active');
      await subject.repo.setParticipantState(session.sessionId, 'p1', 'ended');
      const stored = await subject.inspect.session(session.sessionId);
      // `active` also records the answer time: what a sweeper bills from if the node dies.
      const { answeredAt, ...p2 } = stored?.participants.p2 ?? {};
      assert.ok(typeof answeredAt === 'string' && Math.abs(Date.now() - Date.parse(answeredAt)) < 5000, answeredAt);
      assert.deepEqual(
        { ...stored?.participants, p2 },
        {
          p1: { ...session.participants.p1, state: 'ended' },
          p2: { ...second, state: 'active' },
        },
      );
    });

    test('setParticipantState of a participant the session does not have fails', async () => {
      const session = newSession();
      await subject.repo.create(session);
      await assert.rejects(subject.repo.setParticipantState(session.sessionId, 'nobody', 'ended'));
      assert.deepEqual((await subject.inspect.session(session.sessionId))?.participants, session.participants);
    });

    test('setConnection records a connection and overwrites it by id', async () => {
      const session = newSession();
      await subject.repo.create(session);
      await subject.repo.setConnection(session.sessionId, 'k1', { participantIds: ['p1', 'p2'], state: 'connected' });
      await subject.repo.setConnection(session.sessionId, 'k2', { participantIds: ['p1', 'p3'], state: 'connected' });
      await subject.repo.setConnection(session.sessionId, 'k1', { participantIds: ['p1', 'p2'], state: 'split' });
      const stored = await subject.inspect.session(session.sessionId);
      assert.deepEqual(stored?.connections, {
        k1: { participantIds: ['p1', 'p2'], state: 'split' },
        k2: { participantIds: ['p1', 'p3'], state: 'connected' },
      });
    });

    test('setConnection on a session that does not exist fails', async () => {
      await assert.rejects(
        subject.repo.setConnection(id('s'), 'k1', { participantIds: ['p1', 'p2'], state: 'connected' }),
      );
    });

    test('end sets state, endReason and endedAt; the rest stays', async () => {
      const session = newSession();
      await subject.repo.create(session);
      const before = Date.now();
      await subject.repo.end(session.sessionId, 'caller hung up');
      const stored = await subject.inspect.session(session.sessionId);
      assert.ok(stored);
      const { endedAt, ...rest } = stored;
      assert.deepEqual(rest, { ...session, state: 'ended', endReason: 'caller hung up' });
      assert.equal(typeof endedAt, 'string');
      assert.ok(Date.parse(endedAt!) >= before - 1000 && Date.parse(endedAt!) <= Date.now() + 1000, endedAt);
    });

    test('end marks the participants it is given ended in the same write, and no other', async () => {
      const session = newSession();
      await subject.repo.create(session);
      const second: ParticipantRecord = {
        direction: 'outbound',
        from: 'a',
        to: 'b',
        sipCallId: 'c4@x',
        state: 'active',
      };
      await subject.repo.addParticipant(session.sessionId, 'p2', second);
      assert.equal(await subject.repo.end(session.sessionId, 'callingPartyDrop', ['p1']), true);
      const stored = await subject.inspect.session(session.sessionId);
      assert.equal(stored?.state, 'ended');
      assert.deepEqual(stored?.participants, { p1: { ...session.participants.p1, state: 'ended' }, p2: second });
    });

    test('end of a session that has ended already is refused: false, nothing changes', async () => {
      const session = newSession();
      await subject.repo.create(session);
      assert.equal(await subject.repo.end(session.sessionId, 'nodeFailed'), true);
      assert.equal(await subject.repo.end(session.sessionId, 'hangup'), false);
      assert.equal((await subject.inspect.session(session.sessionId))?.endReason, 'nodeFailed');
    });

    test('end of a session that does not exist fails', async () => {
      await assert.rejects(subject.repo.end(id('s'), 'whatever'));
    });

    test('journal: entries come back in order, each with its fields and an ISO `at`', async () => {
      const session = newSession();
      await subject.repo.create(session);
      const before = Date.now();
      await subject.repo.journal(session.sessionId, { kind: 'sip', event: 'invite', from: 'sip:a@x' });
      await new Promise((r) => setTimeout(r, 5));
      await subject.repo.journal(session.sessionId, { kind: 'callback', callback: 'newCall', fallback: false });
      await new Promise((r) => setTimeout(r, 5));
      await subject.repo.journal(session.sessionId, { kind: 'error', event: 'media failed', reason: 'gone' });
      const entries = await subject.inspect.journal(session.sessionId);
      assert.deepEqual(
        entries.map(({ at: _at, ...fields }) => fields),
        [
          { kind: 'sip', event: 'invite', from: 'sip:a@x' },
          { kind: 'callback', callback: 'newCall', fallback: false },
          { kind: 'error', event: 'media failed', reason: 'gone' },
        ],
      );
      for (const e of entries) {
        assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(Date.parse(e.at) >= before - 1000 && Date.parse(e.at) <= Date.now() + 1000, e.at);
      }
      const ats = entries.map((e) => e.at);
      assert.deepEqual(ats, [...ats].sort());
    });

    test('journal: an explicit `at` is kept, and entries are ordered by `at`, not by arrival', async () => {
      const session = newSession();
      await subject.repo.create(session);
      await subject.repo.journal(session.sessionId, { kind: 'media', event: 'second', at: '2030-01-01T00:00:02.000Z' });
      await subject.repo.journal(session.sessionId, { kind: 'media', event: 'first', at: '2030-01-01T00:00:01.000Z' });
      const entries = await subject.inspect.journal(session.sessionId);
      assert.deepEqual(entries, [
        { kind: 'media', event: 'first', at: '2030-01-01T00:00:01.000Z' },
        { kind: 'media', event: 'second', at: '2030-01-01T00:00:02.000Z' },
      ]);
    });

    test('journals of different sessions are kept apart', async () => {
      const a = newSession();
      const b = newSession();
      await subject.repo.create(a);
      await subject.repo.create(b);
      await subject.repo.journal(a.sessionId, { kind: 'sip', event: 'a' });
      await subject.repo.journal(b.sessionId, { kind: 'sip', event: 'b' });
      assert.deepEqual(
        (await subject.inspect.journal(a.sessionId)).map((e) => e.event),
        ['a'],
      );
      assert.deepEqual(
        (await subject.inspect.journal(b.sessionId)).map((e) => e.event),
        ['b'],
      );
    });
  });
}
