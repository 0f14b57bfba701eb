import type { MediaLeg } from '../../ports/media.js';

/** What a live-call command can do to a participant on this node. */
export interface ParticipantControl {
  /** Stops the running IVR command; the next getIvrCommand follows. */
  interrupt(): void;
  /** Hangs the participant up (BYE). */
  hangup(): Promise<void>;
  /** For /connect: the participant's media, its direction, and its IVR loop paused and resumed. */
  connectable?: {
    leg: MediaLeg;
    direction: 'inbound' | 'outbound';
    /** Resolves when the participant's call has ended. */
    ended: Promise<unknown>;
    /** Leaves IVR (the running command stops) until resume(); while held, a hang-up is the connection's to report. */
    hold(): void;
    resume(): void;
    readonly held: boolean;
  };
}

/** Where running participants make themselves reachable for live-call commands. */
export interface ParticipantRegistry {
  /** Returns the function that unregisters. */
  register(sessionId: string, participantId: string, control: ParticipantControl): () => void;
  /**
   * The participant is leaving and its media is still open: runs what live commands attached to that
   * moment (a recording still running is stored, not lost with the media). Never rejects.
   */
  leave(sessionId: string, participantId: string): Promise<void>;
}
