import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, SessionRepository } from '../../ports/call-data.js';
import type { JournalInput } from '../session/journal.js';
import { callEventReply } from '../session/replies.js';
import type { LiveSessions, ParticipantControl } from './live-sessions.js';

interface Connection {
  connectionId: string;
  sessionId: string;
  parties: [string, string];
  directions: Record<string, 'inbound' | 'outbound'>;
  recording?: { startedAt: number; forget: (() => void)[] };
  /** The recording being stopped and stored (a hang-up and a stop may ask at once: one store). */
  storing?: Promise<void>;
}

type Connectable = NonNullable<ParticipantControl['connectable']>;

/**
 * /connect and /splitconnection on the node that owns the session: two participants leave IVR and hear
 * each other (their rtpengine calls are chained: each leg's IVR side is pointed at the other's), until a
 * split or a hang-up. A split sends callEvent connectionSplit for each participant (reply `drop` hangs it
 * up, anything else returns it to IVR); a hang-up sends callEvent callingPartyDrop/calledPartyDrop for the
 * party that left, and the reply decides for the other (`ivr` back to IVR, else hang up).
 */
export class Connections {
  private readonly active = new Map<string, Connection>();

  constructor(
    private readonly live: LiveSessions,
    private readonly sessions: SessionRepository,
    private readonly audio: Pick<AudioSources, 'saveRecording' | 'saveMixedRecording'>,
    private readonly logger: Logger,
  ) {}

  private readonly solo = new Map<string, { participantId: string; startedAt: number; forget: () => void }>();

  /** /startrecording by replyId: records the participant the getIvrCommand with that replyId was for. */
  async startParticipantRecording(sessionId: string, replyId: string): Promise<void> {
    const participantId = this.live.session(sessionId)?.participantForReply(replyId);
    const leg = participantId ? this.party(sessionId, participantId)?.leg : undefined;
    if (!participantId || !leg || this.solo.has(replyId)) {
      this.journal(sessionId, { event: 'startrecording ignored: unknown replyId or already recording', replyId });
      return;
    }
    await leg.startRecording();
    // A hang-up before /stoprecording stores what was recorded (docs/api.md): the leg is still open then.
    const forget = this.live.onLeave(sessionId, participantId, () => this.stopParticipantRecording(sessionId, replyId));
    this.solo.set(replyId, { participantId, startedAt: Date.now(), forget });
    this.journal(sessionId, { event: 'recording started', replyId, participantId });
  }

  async stopParticipantRecording(sessionId: string, replyId: string): Promise<void> {
    const rec = this.solo.get(replyId);
    this.solo.delete(replyId);
    rec?.forget();
    const session = this.live.session(sessionId);
    const leg = rec ? this.party(sessionId, rec.participantId)?.leg : undefined;
    if (!rec || !leg || !session) {
      this.journal(sessionId, { event: 'stoprecording ignored: not recording', replyId });
      return;
    }
    try {
      const { file, durationMs } = await leg.stopRecording();
      const fileName = `rec-${rec.participantId}-${Date.now()}`;
      await this.audio.saveRecording(session.tenant.tenantId, fileName, file);
      this.journal(sessionId, { event: 'recording stored', replyId, fileName, durationMs });
      void session.notify('callNotify', {
        participantId: rec.participantId,
        event: 'recordingReady',
        reason: fileName,
      });
    } catch (err) {
      this.journal(sessionId, { event: 'recording failed', replyId, reason: (err as Error).message });
      void session.notify('callNotify', {
        participantId: rec.participantId,
        event: 'recordingFailed',
        reason: (err as Error).message,
      });
    }
  }

  /** /startrecording: records both parties of a connection (each leg records its party's audio). */
  async startRecording(sessionId: string, connectionId: string): Promise<void> {
    const c = this.active.get(connectionId);
    if (!c || c.sessionId !== sessionId || c.recording) {
      this.journal(sessionId, {
        event: 'startrecording ignored: no such connection, or it is recording',
        connectionId,
      });
      return;
    }
    for (const id of c.parties) await this.party(sessionId, id)?.leg.startRecording();
    // Either party hanging up stores the mix while both legs are still open.
    const forget = c.parties.map((id) => this.live.onLeave(sessionId, id, () => this.finishRecording(c)));
    c.recording = { startedAt: Date.now(), forget };
    this.journal(sessionId, { event: 'recording started', connectionId });
  }

  /**
   * /stoprecording (also at split and hang-up): both parties' audio mixed into one WAV, stored as a prompt
   * file of the tenant, announced with callNotify recordingReady.
   */
  async stopRecording(sessionId: string, connectionId: string): Promise<void> {
    const c = this.active.get(connectionId);
    if (!c || c.sessionId !== sessionId || !c.recording) {
      this.journal(sessionId, { event: 'stoprecording ignored: not recording', connectionId });
      return;
    }
    await this.finishRecording(c);
  }

  private finishRecording(c: Connection): Promise<void> {
    if (!c.recording) return c.storing ?? Promise.resolve();
    for (const forget of c.recording.forget) forget();
    c.recording = undefined;
    c.storing = this.storeRecording(c);
    return c.storing;
  }

  private async storeRecording(c: Connection): Promise<void> {
    const session = this.live.session(c.sessionId);
    try {
      const parts = [];
      for (const id of c.parties) {
        const leg = this.party(c.sessionId, id)?.leg;
        if (leg) parts.push(await leg.stopRecording());
      }
      if (parts.length === 0) throw new Error('no party could be recorded');
      const fileName = `rec-${c.connectionId}-${Date.now()}`;
      const tenantId = session?.tenant.tenantId;
      if (!tenantId) throw new Error('the session has ended');
      await this.audio.saveMixedRecording(
        tenantId,
        fileName,
        parts.map((p) => p.file),
      );
      const durationMs = Math.max(...parts.map((p) => p.durationMs));
      this.journal(c.sessionId, { event: 'recording stored', connectionId: c.connectionId, fileName, durationMs });
      void session?.notify('callNotify', { participantId: c.parties[0], event: 'recordingReady', reason: fileName });
    } catch (err) {
      this.logger.warn({ err, connectionId: c.connectionId }, 'connection recording failed');
      this.journal(c.sessionId, {
        event: 'recording failed',
        connectionId: c.connectionId,
        reason: (err as Error).message,
      });
      void session?.notify('callNotify', {
        participantId: c.parties[0],
        event: 'recordingFailed',
        reason: (err as Error).message,
      });
    }
  }

  private connectedIn(sessionId: string, participantId: string): boolean {
    for (const c of this.active.values())
      if (c.sessionId === sessionId && c.parties.includes(participantId)) return true;
    return false;
  }

  private party(sessionId: string, participantId: string): Connectable | undefined {
    return this.live.participant(sessionId, participantId)?.connectable;
  }

  private journal(sessionId: string, entry: Omit<JournalInput, 'kind'>): void {
    this.sessions
      .journal(sessionId, { kind: 'command', ...entry })
      .catch((err) => this.logger.warn({ err, sessionId }, 'journal write failed'));
  }

  async connect(sessionId: string, connectionId: string, [a, b]: [string, string]): Promise<void> {
    const pa = this.party(sessionId, a);
    const pb = this.party(sessionId, b);
    if (!pa || !pb || this.connectedIn(sessionId, a) || this.connectedIn(sessionId, b)) {
      this.journal(sessionId, { event: 'connect ignored: a participant is gone or already connected', connectionId });
      return;
    }
    pa.hold();
    pb.hold();
    await pa.leg.connectTo(pb.leg.sinkSide);
    await pb.leg.connectTo(pa.leg.sinkSide);
    const connection: Connection = {
      connectionId,
      sessionId,
      parties: [a, b],
      directions: { [a]: pa.direction, [b]: pb.direction },
    };
    this.active.set(connectionId, connection);
    await this.sessions
      .setConnection(sessionId, connectionId, { participantIds: [a, b], state: 'connected' })
      .catch((err) => this.logger.warn({ err, sessionId, connectionId }, 'connection write failed'));
    this.journal(sessionId, { event: 'connected', connectionId, participantIds: [a, b] });
    void Promise.race([pa.ended.then(() => a), pb.ended.then(() => b)]).then((gone) => this.onHangup(connection, gone));
  }

  async split(sessionId: string, connectionId: string): Promise<void> {
    const connection = this.active.get(connectionId);
    if (!connection || connection.sessionId !== sessionId) {
      this.journal(sessionId, { event: 'split ignored: no such connection on this node', connectionId });
      return;
    }
    await this.end(connection, 'split');
    const session = this.live.session(sessionId);
    for (const participantId of connection.parties) {
      const p = this.party(sessionId, participantId);
      if (!p) continue;
      const res = session
        ? await session.request('callEvent', { participantId, event: 'connectionSplit', connectionId })
        : { reply: {} };
      if (callEventReply(res.reply).action === 'drop') await this.live.participant(sessionId, participantId)?.hangup();
      else p.resume();
    }
  }

  /** Points both legs back at the IVR sink and forgets the connection. */
  private async end(connection: Connection, why: string): Promise<void> {
    if (!this.active.has(connection.connectionId)) return;
    await this.finishRecording(connection);
    if (!this.active.delete(connection.connectionId)) return;
    for (const participantId of connection.parties) {
      const p = this.party(connection.sessionId, participantId);
      await p?.leg.connectTo(undefined).catch((err) => this.logger.warn({ err }, 'leg could not return to IVR'));
    }
    await this.sessions
      .setConnection(connection.sessionId, connection.connectionId, {
        participantIds: connection.parties,
        state: 'split',
      })
      .catch((err) => this.logger.warn({ err, connectionId: connection.connectionId }, 'connection write failed'));
    this.journal(connection.sessionId, { event: `connection ended (${why})`, connectionId: connection.connectionId });
  }

  private async onHangup(connection: Connection, gone: string): Promise<void> {
    if (!this.active.has(connection.connectionId)) return;
    const otherId = connection.parties[0] === gone ? connection.parties[1] : connection.parties[0];
    await this.end(connection, `${gone} hung up`);
    const session = this.live.session(connection.sessionId);
    const event = connection.directions[gone] === 'outbound' ? 'calledPartyDrop' : 'callingPartyDrop';
    const res = session ? await session.request('callEvent', { participantId: gone, event }) : { reply: {} };
    const other = this.live.participant(connection.sessionId, otherId);
    if (callEventReply(res.reply).action === 'ivr') other?.connectable?.resume();
    else await other?.hangup();
  }
}
