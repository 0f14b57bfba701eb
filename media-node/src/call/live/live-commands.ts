import type { NodeCommand } from '@sipms/shared/contracts/node-commands';
import type { Logger } from '@sipms/shared/util/logger';
import type { SessionRepository } from '../../ports/call-data.js';
import type { OutboundCallFlow } from '../flows/outbound-call-flow.js';
import type { JournalInput } from '../session/journal.js';
import type { Connections } from './connections.js';
import type { LiveSessions } from './live-sessions.js';

/**
 * Runs the live-call commands that reach this node's inbox (validated against the NodeCommand contract
 * at the inbox). The API checked them against the session item; a participant that left in between
 * makes the command a journaled no-op.
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
    const { sessionId } = command.payload;
    const journal = (event: string, extra: Omit<JournalInput, 'kind'> = {}) =>
      void this.sessions
        .journal(sessionId, { kind: 'command', event, commandId: command.commandId, ...extra })
        .catch((err) => this.logger.warn({ err, sessionId, commandId: command.commandId }, 'journal write failed'));
    switch (command.kind) {
      case 'placeIvrCall':
        journal('placeIvrCall', {
          participantId: command.payload.participantId,
          destination: command.payload.destination,
        });
        this.outbound.place({ ...command.payload, tenantId: command.tenantId });
        return;
      case 'connect': {
        const { participantIds, connectionId } = command.payload;
        journal('connect', { connectionId, participantIds });
        await this.connections.connect(sessionId, connectionId, participantIds);
        return;
      }
      case 'splitConnection':
        journal('splitConnection', { connectionId: command.payload.connectionId });
        await this.connections.split(sessionId, command.payload.connectionId);
        return;
      case 'startRecording':
      case 'stopRecording': {
        const start = command.kind === 'startRecording';
        if ('connectionId' in command.payload) {
          const { connectionId } = command.payload;
          journal(command.kind, { connectionId });
          if (start) await this.connections.startRecording(sessionId, connectionId);
          else await this.connections.stopRecording(sessionId, connectionId);
        } else {
          const { replyId } = command.payload;
          journal(command.kind, { replyId });
          if (start) await this.connections.startParticipantRecording(sessionId, replyId);
          else await this.connections.stopParticipantRecording(sessionId, replyId);
        }
        return;
      }
      case 'hangupParticipant':
      case 'interruptIvrCommand': {
        const { participantId } = command.payload;
        const target = this.live.participant(sessionId, participantId);
        if (!target) return journal(`${command.kind} ignored: participant not on this node`, { participantId });
        journal(command.kind, { participantId });
        if (command.kind === 'hangupParticipant') await target.hangup();
        else target.interrupt();
        return;
      }
    }
  }
}
