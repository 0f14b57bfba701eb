import { InboxCommand } from '@sipms/shared/contracts/node-commands';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { Logger } from '@sipms/shared/util/logger';

export interface InboxReader {
  /** Claims the oldest commands of the node's inbox, as stored. */
  take(nodeId: string, limit?: number): Promise<unknown[]>;
}

/**
 * Polls this node's inbox, validates each claimed command against the InboxCommand contract and hands it
 * to `execute` (without waiting for it, so a long command never delays the next). An invalid command is
 * logged with its reason and dropped. The interval is the latency/cost trade-off of REST commands.
 */
export class InboxLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly inbox: InboxReader,
    private readonly nodeId: string,
    private readonly execute: (command: InboxCommand) => Promise<void>,
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
      const items = await this.inbox.take(this.nodeId);
      for (const item of items) {
        const parsed = parseOrReason(InboxCommand, item);
        if (!parsed.ok) {
          this.logger.error({ reason: parsed.reason, item }, 'invalid node command dropped');
          continue;
        }
        const command = parsed.value;
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
