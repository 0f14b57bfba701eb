/** What a media node reports about itself every few seconds. */
export interface NodeHeartbeat {
  nodeId: string;
  sip: { host: string; port: number };
  activeCalls: number;
  maxCalls: number;
  draining: boolean;
  at: string;
}
