import type { CallSession } from '../session/call-session.js';
import type { ParticipantControl, ParticipantRegistry } from '../session/participant-control.js';

export type { ParticipantControl } from '../session/participant-control.js';

/**
 * The sessions this node owns and their participants, so that commands arriving in the node's inbox
 * (from the REST API, wherever it ran) reach the right call.
 */
export class LiveSessions implements ParticipantRegistry {
  private readonly sessions = new Map<string, Map<string, ParticipantControl>>();
  private readonly owners = new Map<string, CallSession>();
  private readonly leaving = new Map<string, Set<() => Promise<void>>>();

  /** The session object (its seq counter and callback queue) while its owner flow runs on this node. */
  own(session: CallSession): () => void {
    this.owners.set(session.sessionId, session);
    return () => {
      if (this.owners.get(session.sessionId) === session) this.owners.delete(session.sessionId);
    };
  }

  session(sessionId: string): CallSession | undefined {
    return this.owners.get(sessionId);
  }

  register(sessionId: string, participantId: string, control: ParticipantControl): () => void {
    let participants = this.sessions.get(sessionId);
    if (!participants) {
      participants = new Map();
      this.sessions.set(sessionId, participants);
    }
    participants.set(participantId, control);
    return () => {
      const p = this.sessions.get(sessionId);
      if (p?.get(participantId) !== control) return;
      p.delete(participantId);
      if (p.size === 0) this.sessions.delete(sessionId);
    };
  }

  /** Work to do when the participant leaves, while its media is still open; returns the remover. */
  onLeave(sessionId: string, participantId: string, work: () => Promise<void>): () => void {
    const key = `${sessionId}\u0000${participantId}`;
    let set = this.leaving.get(key);
    if (!set) {
      set = new Set();
      this.leaving.set(key, set);
    }
    set.add(work);
    return () => {
      set.delete(work);
      if (set.size === 0 && this.leaving.get(key) === set) this.leaving.delete(key);
    };
  }

  async leave(sessionId: string, participantId: string): Promise<void> {
    const key = `${sessionId}\u0000${participantId}`;
    const work = this.leaving.get(key);
    this.leaving.delete(key);
    // Each piece of work reports its own failure (journal, recordingFailed): none may stop the others.
    await Promise.allSettled([...(work ?? [])].map((w) => w()));
  }

  participant(sessionId: string, participantId: string): ParticipantControl | undefined {
    return this.sessions.get(sessionId)?.get(participantId);
  }

  get size(): number {
    return this.sessions.size;
  }
}
