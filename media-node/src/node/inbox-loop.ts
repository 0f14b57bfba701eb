import type { NodeCommand } from '@sipms/shared/data/node-registry';
import type { Logger } from '@sipms/shared/util/logger';

export interface InboxReader {
  take(nodeId: string, limit?: number): Promise<NodeCommand[]>;
}

/**
 * Polls this node's inbox and hands each claimed command to `execute` (without waiting for it, so a
 * long command never delays the next). The interval is the latency/cost trade-off of REST commands.
 */
export class InboxLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly inbox: InboxReader,
    private readonly nodeId: string,
    private readonly execute: (command: NodeCommand) => Promise<void>,
    private readonly logger: Logger,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.stopped = false;
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      const commands = await this.inbox.take(this.nodeId);
      for (const command of commands) {
        void this.execute(command).catch((err) =>
          this.logger.error({ err, commandId: command.commandId, kind: command.kind }, 'node command failed'),
        );
      }
    } catch (err) {
      this.logger.warn({ err }, 'inbox poll failed');
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
