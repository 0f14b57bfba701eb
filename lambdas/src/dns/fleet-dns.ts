import type { Logger } from '@sipms/shared/util/logger';

/**
 * The SIP domain's DNS records, rewritten from the media nodes in service (docs/deploy.md "DNS"): the domain and
 * its wildcard (tenant domains are `<slug>.<sipDomain>`) get one A value per node, and each SIP transport an SRV
 * record pointing at the domain, so RFC 3263 clients find the port and every node.
 */

/** The `service` of the sync's log lines (POWERTOOLS_SERVICE_NAME). */
export const DNS_SYNC_SERVICE = 'dns-sync';

/** Auto Scaling's EventBridge events (source `aws.autoscaling`) that move a node into or out of DNS. */
export const JOINING_EVENTS = ['EC2 Instance Launch Successful'] as const;
export const LEAVING_EVENTS = ['EC2 Instance-terminate Lifecycle Action', 'EC2 Instance Terminate Successful'] as const;

/** A member of the Auto Scaling group, as the fleet port reports it. */
export interface FleetInstance {
  instanceId: string;
  /** Auto Scaling's lifecycle state: `InService`, `Pending:Wait`, `Terminating:Wait`, … */
  lifecycleState: string;
  publicIp: string | undefined;
}

/** Port: the group's members with their public addresses. */
export interface FleetReader {
  instances(groupName: string): Promise<FleetInstance[]>;
}

export type RecordType = 'A' | 'SRV';

export interface RecordSet {
  /** Fully qualified, lower case, with the trailing dot; a wildcard as `*`. */
  name: string;
  type: RecordType;
  ttl: number;
  values: string[];
}

export interface RecordChange {
  action: 'UPSERT' | 'DELETE';
  record: RecordSet;
}

/** Port: the hosted zone. `current` returns the sets that exist among those asked for. */
export interface DnsZone {
  current(wanted: { name: string; type: RecordType }[]): Promise<RecordSet[]>;
  apply(changes: RecordChange[]): Promise<void>;
}

export interface DnsSettings {
  groupName: string;
  sipDomain: string;
  sipPort: number;
  /** SIP over TLS; without it no `_sips._tcp` record is managed (nothing listens there). */
  sipsPort: number | undefined;
  ttl: number;
}

/** What an Auto Scaling event says about one instance, to cover the moment before Describe catches up. */
export interface InstanceHint {
  instanceId: string;
  change: 'joining' | 'leaving';
}

/** Lower case, trailing dot, Route 53's octal escape of a leading `*` undone. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase().replace(/^\\052\./, '*.');
  return n.endsWith('.') ? n : `${n}.`;
}

/** The names and types this sync owns: anything else in the zone is never touched. */
export function managedRecords(s: DnsSettings): { name: string; type: RecordType }[] {
  const domain = normalizeName(s.sipDomain);
  return [
    { name: domain, type: 'A' },
    { name: `*.${domain}`, type: 'A' },
    { name: `_sip._udp.${domain}`, type: 'SRV' },
    { name: `_sip._tcp.${domain}`, type: 'SRV' },
    ...(s.sipsPort === undefined ? [] : [{ name: `_sips._tcp.${domain}`, type: 'SRV' as const }]),
  ];
}

/** The record sets for these addresses; none at all when no node is in service (Route 53 has no empty sets). */
export function desiredRecords(ips: readonly string[], s: DnsSettings): RecordSet[] {
  const values = [...new Set(ips)].sort();
  if (values.length === 0) return [];
  const domain = normalizeName(s.sipDomain);
  const srv = (port: number) => [`10 100 ${port} ${domain}`];
  return managedRecords(s).map(({ name, type }) => ({
    name,
    type,
    ttl: s.ttl,
    values: type === 'A' ? values : srv(name.startsWith('_sips.') ? s.sipsPort! : s.sipPort),
  }));
}

const sameSet = (a: RecordSet, b: RecordSet) =>
  a.ttl === b.ttl && a.values.length === b.values.length && [...a.values].sort().join() === [...b.values].sort().join();

/** Upserts what differs, deletes managed sets that should no longer exist (a DELETE must repeat the set exactly). */
export function planChanges(desired: RecordSet[], current: RecordSet[]): RecordChange[] {
  const key = (r: { name: string; type: string }) => `${normalizeName(r.name)} ${r.type}`;
  const now = new Map(current.map((r) => [key(r), r]));
  const wanted = new Set(desired.map(key));
  const changes: RecordChange[] = [];
  for (const r of desired) {
    const existing = now.get(key(r));
    if (!existing || !sameSet(existing, r)) changes.push({ action: 'UPSERT', record: r });
  }
  for (const r of current) if (!wanted.has(key(r))) changes.push({ action: 'DELETE', record: r });
  return changes;
}

export interface SyncResult {
  addresses: string[];
  changes: number;
}

const JOINED = new Set(['InService', 'Pending:Proceed']);

/** The sync use case: read the fleet, compute the records, change only what differs. */
export class FleetDnsSync {
  constructor(private readonly deps: { fleet: FleetReader; zone: DnsZone; settings: DnsSettings; logger: Logger }) {}

  async sync(hint?: InstanceHint): Promise<SyncResult> {
    const { fleet, zone, settings, logger } = this.deps;
    const members = await fleet.instances(settings.groupName);
    const serving = members.filter((m) => {
      if (hint?.instanceId === m.instanceId) {
        // A node that starts draining leaves DNS at once; a launch event may beat Describe to InService (the launch
        // hook completed: Pending:Proceed), never to a node still booting (Pending:Wait).
        return hint.change === 'joining' && JOINED.has(m.lifecycleState);
      }
      return m.lifecycleState === 'InService';
    });
    const addresses = serving.flatMap((m) => (m.publicIp ? [m.publicIp] : []));
    for (const m of serving) {
      if (!m.publicIp)
        logger.warn({ instanceId: m.instanceId }, 'media node in service without a public IP: not in DNS');
    }
    const desired = desiredRecords(addresses, settings);
    const current = await zone.current(managedRecords(settings));
    const changes = planChanges(desired, current);
    await zone.apply(changes);
    logger.info(
      { addresses, changes: changes.map((c) => `${c.action} ${c.record.type} ${c.record.name}`), hint },
      changes.length ? 'media-node DNS records updated' : 'media-node DNS records already current',
    );
    return { addresses: [...new Set(addresses)].sort(), changes: changes.length };
  }
}
