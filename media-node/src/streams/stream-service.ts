import type { StreamResult } from '@sipms/shared/contracts/callbacks';
import type { StreamSpec } from '@sipms/shared/contracts/ivr-command';
import type { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { CallbackUrlPolicy } from '@sipms/shared/net/callback-url-policy';
import type { Logger } from '@sipms/shared/util/logger';
import type { StreamPort, StreamRun } from '../ports/streams.js';
import { runStream, type StreamLimits } from './media-stream.js';

export interface StreamServiceOptions {
  policy: CallbackUrlPolicy;
  addresses: AddressPolicy;
  limits: StreamLimits;
  /** Streams one tenant may run on this node at once (STREAM_MAX_PER_TENANT). */
  maxPerTenant: number;
  logger: Logger;
}

/** The node's streams: the per-tenant cap, then one WebSocket per stream (media-stream.ts). */
export class StreamService implements StreamPort {
  private readonly perTenant = new Map<string, number>();

  constructor(private readonly o: StreamServiceOptions) {}

  /** Streams running on this node now. */
  get active(): number {
    let n = 0;
    for (const v of this.perTenant.values()) n += v;
    return n;
  }

  async run(spec: StreamSpec, run: StreamRun): Promise<StreamResult> {
    const { tenantId } = run.ids;
    const running = this.perTenant.get(tenantId) ?? 0;
    if (running >= this.o.maxPerTenant) {
      run.tap.close();
      const error = `refused: the tenant already runs ${running} streams on this node, its most (STREAM_MAX_PER_TENANT)`;
      run.journal({ kind: 'media', event: 'streamRefused', reason: error });
      return { reason: 'failed', durationMs: 0, error };
    }
    this.perTenant.set(tenantId, running + 1);
    try {
      return await runStream(spec, {
        ...run,
        policy: this.o.policy,
        addresses: this.o.addresses,
        limits: this.o.limits,
        logger: this.o.logger.child({ sessionId: run.ids.sessionId, participantId: run.ids.participantId }),
      });
    } finally {
      const left = (this.perTenant.get(tenantId) ?? 1) - 1;
      if (left > 0) this.perTenant.set(tenantId, left);
      else this.perTenant.delete(tenantId);
    }
  }
}
