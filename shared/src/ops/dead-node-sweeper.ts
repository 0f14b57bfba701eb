import { NODE_STALE_AFTER_MS, type NodeHeartbeat } from '../domain/node.js';
import type { Logger } from '../util/logger.js';
import type { NodeFailure } from './node-failure.js';

export interface SweeperDeps {
  registry: {
    allNodes(): Promise<NodeHeartbeat[]>;
    removeIfUnchanged(nodeId: string, at: string): Promise<boolean>;
  };
  slots: { reclaim(tenantId: string, nodeId: string): Promise<number> };
  /** Completes the sessions a dead node left active (`nodeFailed`); without it only slots are released. */
  sessions?: Pick<NodeFailure, 'completeNode'>;
  logger: Logger;
}

export interface SweepResult {
  /** Nodes found dead and swept. */
  nodes: string[];
  /** Concurrent-call slots given back for them. */
  slots: number;
  /** Their sessions completed with `nodeFailed`. */
  sessions: number;
}

/**
 * Notices media nodes that stopped beating (crashed, killed, cut off) and releases what they held, so
 * a dead node never keeps a tenant at its call limit, and completes the sessions it left active
 * (`sessionCompleted` with reason `nodeFailed`). Every live node runs it, and so does a scheduled
 * function (for when no node is left); sweeps may overlap: every step is conditional and idempotent.
 */
export class DeadNodeSweeper {
  constructor(
    private readonly deps: SweeperDeps,
    private readonly staleAfterMs = NODE_STALE_AFTER_MS,
  ) {}

  async sweep(options: { exceptNode?: string; now?: number } = {}): Promise<SweepResult> {
    const now = options.now ?? Date.now();
    const result: SweepResult = { nodes: [], slots: 0, sessions: 0 };
    for (const node of await this.deps.registry.allNodes()) {
      if (node.nodeId === options.exceptNode || now - Date.parse(node.at) <= this.staleAfterMs) continue;
      this.add(result, await this.sweepNode(node, now));
    }
    return result;
  }

  /**
   * At a node's start-up, before it takes calls: what its previous process (same node id: a restart)
   * left behind is released and completed as for a dead node, however fresh its last heartbeat.
   */
  async recoverPrevious(nodeId: string, now = Date.now()): Promise<SweepResult> {
    const result: SweepResult = { nodes: [], slots: 0, sessions: 0 };
    const previous = (await this.deps.registry.allNodes()).find((n) => n.nodeId === nodeId);
    if (previous) this.add(result, await this.sweepNode(previous, now));
    else if (this.deps.sessions)
      result.sessions = (await this.deps.sessions.completeNode(nodeId, undefined, now)).completed.length;
    return result;
  }

  private add(result: SweepResult, swept: { nodeId: string; removed: boolean; slots: number; sessions: number }) {
    if (swept.removed) result.nodes.push(swept.nodeId);
    result.slots += swept.slots;
    result.sessions += swept.sessions;
  }

  private async sweepNode(node: NodeHeartbeat, now: number) {
    const log = this.deps.logger.child({ deadNode: node.nodeId });
    let released = 0;
    for (const tenantId of node.slotTenants ?? []) released += await this.deps.slots.reclaim(tenantId, node.nodeId);
    // The heartbeat's time is where the node's calls are taken to have ended.
    const sessions = (await this.deps.sessions?.completeNode(node.nodeId, node.at, now)) ?? {
      completed: [],
      failed: 0,
      pending: 0,
    };
    const swept = { nodeId: node.nodeId, removed: false, slots: released, sessions: sessions.completed.length };
    if (sessions.failed + sessions.pending > 0) {
      // The heartbeat stays, so a later sweep finds the node again and ends those sessions at the same time.
      log.warn({ failed: sessions.failed, pending: sessions.pending }, 'dead node not swept completely yet');
      return swept;
    }
    // Only once everything is released does the heartbeat go; a node that beat again keeps it.
    if (await this.deps.registry.removeIfUnchanged(node.nodeId, node.at)) {
      log.warn(
        { lastHeartbeat: node.at, slotsReleased: released, sessionsCompleted: swept.sessions },
        'media node presumed dead: swept',
      );
      swept.removed = true;
    }
    return swept;
  }
}
