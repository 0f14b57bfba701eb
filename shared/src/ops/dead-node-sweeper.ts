import { NODE_STALE_AFTER_MS, type NodeHeartbeat } from '../domain/node.js';
import type { Logger } from '../util/logger.js';

export interface SweeperDeps {
  registry: {
    allNodes(): Promise<NodeHeartbeat[]>;
    removeIfUnchanged(nodeId: string, at: string): Promise<boolean>;
  };
  slots: { reclaim(tenantId: string, nodeId: string): Promise<number> };
  logger: Logger;
}

export interface SweepResult {
  /** Nodes found dead and swept. */
  nodes: string[];
  /** Concurrent-call slots given back for them. */
  slots: number;
}

/**
 * Notices media nodes that stopped beating (crashed, killed, cut off) and releases what they held, so
 * a dead node never keeps a tenant at its call limit. Every live node runs it, and so does a scheduled
 * function (for when no node is left); sweeps may overlap: every step is conditional and idempotent.
 */
export class DeadNodeSweeper {
  constructor(
    private readonly deps: SweeperDeps,
    private readonly staleAfterMs = NODE_STALE_AFTER_MS,
  ) {}

  async sweep(options: { exceptNode?: string; now?: number } = {}): Promise<SweepResult> {
    const now = options.now ?? Date.now();
    const result: SweepResult = { nodes: [], slots: 0 };
    for (const node of await this.deps.registry.allNodes()) {
      if (node.nodeId === options.exceptNode || now - Date.parse(node.at) <= this.staleAfterMs) continue;
      const log = this.deps.logger.child({ deadNode: node.nodeId });
      let released = 0;
      for (const tenantId of node.slotTenants ?? []) released += await this.deps.slots.reclaim(tenantId, node.nodeId);
      // Only once everything is released does the heartbeat go; a node that beat again keeps it.
      if (await this.deps.registry.removeIfUnchanged(node.nodeId, node.at)) {
        log.warn({ lastHeartbeat: node.at, slotsReleased: released }, 'media node presumed dead: swept');
        result.nodes.push(node.nodeId);
      }
      result.slots += released;
    }
    return result;
  }
}
