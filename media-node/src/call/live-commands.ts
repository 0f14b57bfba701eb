import type { NodeCommand } from '@sipms/shared/data/node-registry';
import type { Logger } from '@sipms/shared/util/logger';
import type { SessionRepository } from '../ports/call-data.js';
import type { Connections } from './connections.js';
import type { LiveSessions } from './live-sessions.js';
import type { OutboundCallFlow, PlaceIvrCallCommand } from './outbound-call-flow.js';

/**
 * Runs the live-call commands that reach this node's inbox. The API validated them against the session
 * item; a participant that left in between makes the command a journaled no-op.
 */
export class LiveCommands {
  constructor(
    private readonly live: LiveSessions,
    private readonly sessions: SessionRepository,
    private readonly outbound: Pick<OutboundCallFlow, 'place'>,
    private readonly connections: Pick<
      Connections,
      | 'connect'
      | 'split'
      | 'startRecording'
      | 'stopRecording'
      | 'startParticipantRecording'
      | 'stopParticipantRecording'
    >,
    private readonly logger: Logger,
  ) {}

  async execute(command: NodeCommand): Promise<void> {
    const { sessionId, participantId } = command.payload as { sessionId?: string; participantId?: string };
    if (!sessionId) {
      this.logger.warn({ command }, 'node command without sessionId ignored');
      return;
    }
    const target = participantId ? this.live.participant(sessionId, participantId) : undefined;
    const journal = (event: string, extra: Record<string, unknown> = {}) =>
      void this.sessions
        .journal(sessionId, { kind: 'command', event, commandId: command.commandId, participantId, ...extra })
        .catch(() => {});
    switch (command.kind) {
      case 'placeIvrCall':
        journal('placeIvrCall', { destination: (command.payload as { destination?: string }).destination });
        this.outbound.place({
          ...(command.payload as Omit<PlaceIvrCallCommand, 'tenantId'>),
          tenantId: command.tenantId,
        });
        return;
      case 'connect': {
        const { participantIds, connectionId } = command.payload as {
          participantIds: [string, string];
          connectionId: string;
        };
        journal('connect', { connectionId, participantIds });
        await this.connections.connect(sessionId, connectionId, participantIds);
        return;
      }
      case 'splitConnection': {
        const { connectionId } = command.payload as { connectionId: string };
        journal('splitConnection', { connectionId });
        await this.connections.split(sessionId, connectionId);
        return;
      }
      case 'startRecording':
      case 'stopRecording': {
        const { connectionId, replyId } = command.payload as { connectionId?: string; replyId?: string };
        journal(command.kind, { connectionId, replyId });
        const start = command.kind === 'startRecording';
        if (connectionId) {
          if (start) await this.connections.startRecording(sessionId, connectionId);
          else await this.connections.stopRecording(sessionId, connectionId);
        } else if (replyId) {
          if (start) await this.connections.startParticipantRecording(sessionId, replyId);
          else await this.connections.stopParticipantRecording(sessionId, replyId);
        }
        return;
      }
      case 'hangupParticipant':
        if (!target) return journal('hangupParticipant ignored: participant not on this node');
        journal('hangupParticipant');
        await target.hangup();
        return;
      case 'interruptIvrCommand':
        if (!target) return journal('interruptIvrCommand ignored: participant not on this node');
        journal('interruptIvrCommand');
        target.interrupt();
        return;
      default:
        journal(`unknown command ${command.kind} ignored`);
    }
  }
}
