import type { NodeHeartbeat } from '@sipms/shared/domain/node';
import type { Logger } from '@sipms/shared/util/logger';

export interface HeartbeatWriter {
  heartbeat(hb: NodeHeartbeat): Promise<void>;
  remove(nodeId: string): Promise<void>;
}

/**
 * Keeps this node's heartbeat item fresh (capacity, active calls, draining), so the control plane can
 * pick a node for outbound calls and notice a node that went away.
 */
export class NodePresence {
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(
    private readonly registry: HeartbeatWriter,
    private readonly self: {
      nodeId: string;
      sip: { host: string; port: number };
      maxCalls: number;
      conferenceRelay?: { host: string; port: number } | undefined;
    },
    private readonly activeCalls: () => number,
    private readonly logger: Logger,
    private readonly intervalMs = 5000,
    /** Tenants this node holds call slots for (reclaimed by the sweeper if the node dies). */
    private readonly slotTenants: () => string[] = () => [],
    /** The share of new calls the node refuses for its load (OverloadGuard): placements go elsewhere. */
    private readonly shedRatio: () => number = () => 0,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  /** Stop taking new calls: the next heartbeat says so. */
  async drain(): Promise<void> {
    this.draining = true;
    await this.beat();
  }

  private async beat(): Promise<void> {
    const shed = this.shedRatio();
    await this.registry
      .heartbeat({
        nodeId: this.self.nodeId,
        sip: this.self.sip,
        ...(this.self.conferenceRelay ? { conferenceRelay: this.self.conferenceRelay } : {}),
        maxCalls: this.self.maxCalls,
        activeCalls: this.activeCalls(),
        slotTenants: this.slotTenants(),
        draining: this.draining,
        ...(shed > 0 ? { shedRatio: shed } : {}),
        at: new Date().toISOString(),
      })
      .catch((err) => this.logger.warn({ err }, 'heartbeat write failed'));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.registry.remove(this.self.nodeId).catch((err) => this.logger.warn({ err }, 'heartbeat removal failed'));
  }
}
