import type { ConferenceStore } from '@sipms/shared/data/conference-store';
import type { NodeRegistry } from '@sipms/shared/data/node-registry';
import type { SessionStore } from '@sipms/shared/data/session-store';
import type { ConferenceRecord, ConferenceRef } from '@sipms/shared/domain/conference';
import { ConflictError, NotFoundError } from '@sipms/shared/errors';

/**
 * Conference control as the API sees it (docs/conferences.md): read the conference item, check what the
 * request names, then hand the command to the node hosting the conference through its inbox. A conference
 * whose host node is no longer live is not found: it ended with its host (the item is a leftover).
 */
export class ConferenceService {
  constructor(
    private readonly conferences: Pick<ConferenceStore, 'get'>,
    private readonly registry: Pick<NodeRegistry, 'liveNodes' | 'send'>,
    private readonly sessions: Pick<SessionStore, 'get'>,
  ) {}

  /** The conference if it is live; another tenant's conference is not found either (its key is the tenant's). */
  async get(tenantId: string, name: string): Promise<ConferenceRecord> {
    const conference = await this.conferences.get(tenantId, name);
    if (!conference) throw new NotFoundError('conference');
    const live = await this.registry.liveNodes();
    if (!live.some((n) => n.nodeId === conference.hostNodeId)) throw new NotFoundError('conference');
    return conference;
  }

  async view(tenantId: string, name: string) {
    const c = await this.get(tenantId, name);
    const participants = Object.entries(c.participants ?? {})
      .map(([participantId, m]) => ({
        participantId,
        sessionId: m.sessionId,
        muted: m.muted,
        deaf: m.deaf,
        joinedAt: m.joinedAt,
      }))
      .sort((a, b) => a.joinedAt.localeCompare(b.joinedAt));
    return {
      name: c.name,
      createdAt: c.createdAt,
      maxParticipants: c.maxParticipants,
      count: participants.length,
      recording: Boolean(c.recording),
      participants,
    };
  }

  async updateParticipant(
    tenantId: string,
    name: string,
    participantId: string,
    change: { muted?: boolean | undefined; deaf?: boolean | undefined },
  ): Promise<void> {
    const c = await this.withParticipant(tenantId, name, participantId);
    await this.registry.send(c.hostNodeId, {
      kind: 'conferenceUpdate',
      tenantId,
      payload: {
        ...ref(c),
        participantId,
        ...(change.muted !== undefined ? { muted: change.muted } : {}),
        ...(change.deaf !== undefined ? { deaf: change.deaf } : {}),
      },
    });
  }

  async kick(tenantId: string, name: string, participantId: string): Promise<void> {
    const c = await this.withParticipant(tenantId, name, participantId);
    await this.registry.send(c.hostNodeId, { kind: 'conferenceKick', tenantId, payload: { ...ref(c), participantId } });
  }

  async end(tenantId: string, name: string): Promise<void> {
    const c = await this.get(tenantId, name);
    await this.registry.send(c.hostNodeId, { kind: 'conferenceEnd', tenantId, payload: ref(c) });
  }

  /**
   * /startrecording and /stoprecording with conferenceName. Start names the prompt file the mix will be stored
   * as (the response tells the tenant, since recordingReady may go to no session).
   */
  async recording(
    tenantId: string,
    kind: 'startRecording' | 'stopRecording',
    body: { conferenceName: string; sessionId?: string | undefined; participantId?: string | undefined },
  ): Promise<{ fileName?: string }> {
    const c = await this.get(tenantId, body.conferenceName);
    if (kind === 'stopRecording') {
      if (!c.recording) throw new ConflictError(`conference ${c.name} is not being recorded`);
      await this.registry.send(c.hostNodeId, { kind: 'conferenceStopRecording', tenantId, payload: ref(c) });
      return {};
    }
    if (c.recording)
      throw new ConflictError(`conference ${c.name} is already being recorded (${c.recording.fileName})`);
    let notify: { sessionId: string; participantId: string } | undefined;
    if (body.sessionId && body.participantId) {
      const session = await this.sessions.get(body.sessionId);
      if (!session || session.tenantId !== tenantId) throw new NotFoundError('session');
      if (!Object.hasOwn(session.participants, body.participantId)) throw new NotFoundError('participant');
      notify = { sessionId: body.sessionId, participantId: body.participantId };
    }
    const fileName = `conf-${c.name}-${Date.now()}`.slice(0, 200);
    await this.registry.send(c.hostNodeId, {
      kind: 'conferenceStartRecording',
      tenantId,
      payload: { ...ref(c), fileName, ...(notify ? { notify } : {}) },
    });
    return { fileName };
  }

  private async withParticipant(tenantId: string, name: string, participantId: string): Promise<ConferenceRecord> {
    const c = await this.get(tenantId, name);
    if (!Object.hasOwn(c.participants ?? {}, participantId)) throw new NotFoundError('participant');
    return c;
  }
}

function ref(c: ConferenceRecord): Omit<ConferenceRef, 'tenantId'> {
  return { name: c.name, conferenceId: c.conferenceId };
}
