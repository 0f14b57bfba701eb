import type { ParticipantRecord } from '@sipms/shared/domain/session';
import type { SessionRepository, UsageMeter } from '../../ports/call-data.js';
import type { SipMessageLog } from '../../ports/sip-messages.js';
import type { CallSession } from './call-session.js';
import type { JournalInput } from './journal.js';

export type ParticipantState = 'setup' | 'answered' | 'ended';

export interface ParticipantDeps {
  sessions: SessionRepository;
  usage: UsageMeter;
  /** The SIP messages of each Call-ID (built-in stack): journaled as the leg's ladder when it ends. */
  sipMessages?: SipMessageLog | undefined;
}

/**
 * One party of a session on this node, from setup to teardown: its item in the session, its usage
 * (attempt, answer, seconds), its journal entries and its state. Inbound callers, outbound IVR calls and
 * the callees of a B2BUA call all go through it, so each is metered and recorded the same way.
 */
export class Participant {
  private stateNow: ParticipantState = 'setup';
  private answeredAt: number | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private reachedMax = false;
  /** The write of the `active` state, once answered. */
  private activeWrite: Promise<void> | undefined;

  private constructor(
    readonly session: CallSession,
    readonly participantId: string,
    readonly direction: 'inbound' | 'outbound',
    private readonly deps: ParticipantDeps,
    /** The leg's SIP Call-ID once known (an outbound leg's when its INVITE goes out: `traceSip`). */
    private sipCallId: string,
  ) {}

  /** Names the leg's SIP Call-ID (an outbound leg learns it once its dialog exists). */
  traceSip(callId: string): void {
    this.sipCallId ||= callId;
  }

  /**
   * Creates the session item with this participant as its first party (`createSession`), or adds the
   * participant to the session; counts the call attempt.
   */
  static async join(
    session: CallSession,
    participantId: string,
    record: Omit<ParticipantRecord, 'state'>,
    deps: ParticipantDeps & { nodeId: string },
    options: { createSession: boolean },
  ): Promise<Participant> {
    const item: ParticipantRecord = { ...record, state: 'setup' };
    if (options.createSession) {
      await deps.sessions.create(
        {
          sessionId: session.sessionId,
          tenantId: session.tenant.tenantId,
          nodeId: deps.nodeId,
          state: 'active',
          createdAt: new Date(session.startedAt).toISOString(),
          ...(session.sessionReferenceId ? { sessionReferenceId: session.sessionReferenceId } : {}),
          participants: { [participantId]: item },
        },
        { newId: session.idDrawnHere },
      );
    } else {
      await deps.sessions.addParticipant(session.sessionId, participantId, item);
    }
    deps.usage.record(session.tenant.tenantId, { callAttempts: 1 });
    session.addMember();
    return new Participant(session, participantId, record.direction, deps, record.sipCallId);
  }

  get state(): ParticipantState {
    return this.stateNow;
  }

  get tenantId(): string {
    return this.session.tenant.tenantId;
  }

  journal(entry: JournalInput): void {
    this.session.journal({ ...entry, participantId: this.participantId });
  }

  /** The participant's leg is answered: metered, recorded, and (unless told otherwise) `callAnswered`. */
  answered(options: { notify?: boolean; event?: string } = {}): void {
    if (this.stateNow !== 'setup') return;
    this.stateNow = 'answered';
    this.answeredAt = Date.now();
    this.deps.usage.record(this.tenantId, { answeredCalls: 1 });
    this.journal({ kind: 'sip', event: options.event ?? 'answered' });
    this.activeWrite = this.writeState('active');
    if (options.notify !== false) void this.session.notify('callAnswered', { participantId: this.participantId });
  }

  /**
   * Ends the participant's call (through `hangup`) once it is `maxMs` old, counted from now (its answer):
   * the tenant's maxCallDurationSec, so a caller that never hangs up cannot hold a slot for ever.
   */
  limitDuration(maxMs: number, hangup: () => Promise<void>): void {
    clearTimeout(this.durationTimer);
    this.durationTimer = setTimeout(() => {
      this.reachedMax = true;
      this.journal({ kind: 'sip', event: 'maximum call duration reached', maxMs });
      hangup().catch((err) => this.session.log.warn({ err }, 'hang-up at the maximum duration failed'));
    }, maxMs);
    this.durationTimer.unref();
  }

  /** True once the participant's call was ended for reaching its maximum duration. */
  get reachedMaxDuration(): boolean {
    return this.reachedMax;
  }

  /** The participant has left: billed seconds from the answer, the item marked ended. Idempotent. */
  async end(): Promise<void> {
    clearTimeout(this.durationTimer);
    if (this.stateNow === 'ended') return;
    const answeredAt = this.answeredAt;
    this.stateNow = 'ended';
    if (answeredAt !== undefined)
      this.deps.usage.record(this.tenantId, { callSeconds: Math.round((Date.now() - answeredAt) / 1000) });
    this.journalSipMessages();
    // The ended state must not land before the active one (a short call), whoever writes it.
    await this.activeWrite;
    // The session's last participant is marked ended by the session's own end write (one request less).
    if (!this.session.removeMember(this.participantId)) await this.writeState('ended');
  }

  /** The leg's SIP messages as one journal entry: what a ladder of the call is drawn from. */
  private journalSipMessages(): void {
    const taken = this.sipCallId ? this.deps.sipMessages?.take(this.sipCallId) : undefined;
    if (!taken || taken.messages.length === 0) return;
    this.journal({
      kind: 'sip',
      event: 'messages',
      callId: this.sipCallId,
      messages: taken.messages,
      ...(taken.omitted > 0 ? { omitted: taken.omitted } : {}),
    });
  }

  private writeState(state: 'active' | 'ended'): Promise<void> {
    return this.deps.sessions
      .setParticipantState(this.session.sessionId, this.participantId, state)
      .catch((err) =>
        this.session.log.warn({ err, participantId: this.participantId, state }, 'participant state write failed'),
      );
  }
}
