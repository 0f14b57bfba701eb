/** What a media node reports about itself every few seconds. */
/** A heartbeat older than this means the node is gone (it beats every 5 s). */
export const NODE_STALE_AFTER_MS = 15_000;

export interface NodeHeartbeat {
  nodeId: string;
  sip: { host: string; port: number };
  /** The node's conference relay socket, on its private address (docs/conferences.md, "Across nodes"). */
  conferenceRelay?: { host: string; port: number };
  activeCalls: number;
  maxCalls: number;
  draining: boolean;
  /** The share of new INVITEs the node refuses for its load (docs/operations.md, "Overload"); absent: none. */
  shedRatio?: number;
  /** Tenants this node holds concurrent-call slots for: what to reclaim if the node dies. */
  slotTenants?: string[];
  at: string;
}
