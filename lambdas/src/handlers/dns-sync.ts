import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { boundedRequests } from '@sipms/shared/aws/clients';
import { loadConfig } from '@sipms/shared/config';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { AutoScalingFleet, Route53Zone } from '../dns/aws-adapters.js';
import {
  DNS_SYNC_SERVICE,
  FleetDnsSync,
  type InstanceHint,
  JOINING_EVENTS,
  LEAVING_EVENTS,
  type SyncResult,
} from '../dns/fleet-dns.js';
import { createPowertoolsLogger } from '../observability/powertools-logger.js';

const DnsSyncEnv = z.object({
  HOSTED_ZONE_ID: z.string().min(1),
  SIP_DOMAIN: z.string().min(1),
  /** The media nodes' Auto Scaling group. */
  GROUP_NAME: z.string().min(1),
  SIP_PORT: z.coerce.number().int().min(1).max(65535),
  SIPS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  RECORD_TTL: z.coerce.number().int().min(1).max(86_400).default(60),
});

interface AutoScalingEvent {
  'detail-type'?: string;
  detail?: { EC2InstanceId?: string };
}

export function hintOf(event: unknown): InstanceHint | undefined {
  const e = (event ?? {}) as AutoScalingEvent;
  const instanceId = e.detail?.EC2InstanceId;
  const type = e['detail-type'] ?? '';
  if (!instanceId) return undefined;
  if ((JOINING_EVENTS as readonly string[]).includes(type)) return { instanceId, change: 'joining' };
  if ((LEAVING_EVENTS as readonly string[]).includes(type)) return { instanceId, change: 'leaving' };
  return undefined;
}

let sync: FleetDnsSync | undefined;

function build(): FleetDnsSync {
  const env = loadConfig(DnsSyncEnv);
  return new FleetDnsSync({
    fleet: new AutoScalingFleet(
      new AutoScalingClient({ maxAttempts: 5, requestHandler: boundedRequests() }),
      new EC2Client({ maxAttempts: 5, requestHandler: boundedRequests() }),
    ),
    zone: new Route53Zone(new Route53Client({ maxAttempts: 5, requestHandler: boundedRequests() }), env.HOSTED_ZONE_ID),
    settings: {
      groupName: env.GROUP_NAME,
      sipDomain: env.SIP_DOMAIN,
      sipPort: env.SIP_PORT,
      sipsPort: env.SIPS_PORT,
      ttl: env.RECORD_TTL,
    },
    logger: createPowertoolsLogger({ service: DNS_SYNC_SERVICE }),
  });
}

/**
 * Invoked by EventBridge on the media nodes' Auto Scaling events and every few minutes (docs/deploy.md "DNS"):
 * rewrites the SIP domain's A and SRV records from the nodes in service. Every run recomputes from the group, so
 * a lost or reordered event is repaired by the next one; a failed run throws and EventBridge retries it.
 */
export async function handler(event?: unknown, _context?: Context): Promise<SyncResult> {
  sync ??= build();
  return sync.sync(hintOf(event));
}
