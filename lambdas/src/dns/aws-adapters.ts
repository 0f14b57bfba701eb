import { type AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import {
  type DnsZone,
  type FleetInstance,
  type FleetReader,
  normalizeName,
  type RecordChange,
  type RecordSet,
  type RecordType,
} from './fleet-dns.js';

/** The group's members from Auto Scaling, their public addresses from EC2 (Auto Scaling does not report them). */
export class AutoScalingFleet implements FleetReader {
  constructor(
    private readonly autoscaling: AutoScalingClient,
    private readonly ec2: EC2Client,
  ) {}

  async instances(groupName: string): Promise<FleetInstance[]> {
    const out = await this.autoscaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
    );
    const members = (out.AutoScalingGroups?.[0]?.Instances ?? []).filter((i) => i.InstanceId);
    if (members.length === 0) return [];
    const publicIp = new Map<string, string | undefined>();
    let NextToken: string | undefined;
    do {
      const page = await this.ec2.send(
        new DescribeInstancesCommand({ InstanceIds: members.map((m) => m.InstanceId!), NextToken }),
      );
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) if (i.InstanceId) publicIp.set(i.InstanceId, i.PublicIpAddress);
      }
      NextToken = page.NextToken;
    } while (NextToken);
    return members.map((m) => ({
      instanceId: m.InstanceId!,
      lifecycleState: String(m.LifecycleState ?? ''),
      publicIp: publicIp.get(m.InstanceId!),
    }));
  }
}

/** Route 53 writes a leading wildcard label as `\052`; lookups use the stored form. */
const storedName = (name: string) => name.replace(/^\*\./, '\\052.');

/** One hosted zone. Alias sets (no values) are reported as absent, so an UPSERT replaces them. */
export class Route53Zone implements DnsZone {
  constructor(
    private readonly route53: Route53Client,
    private readonly hostedZoneId: string,
  ) {}

  async current(wanted: { name: string; type: RecordType }[]): Promise<RecordSet[]> {
    const found: RecordSet[] = [];
    for (const { name, type } of wanted) {
      const out = await this.route53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: this.hostedZoneId,
          StartRecordName: storedName(name),
          StartRecordType: type,
          MaxItems: 1,
        }),
      );
      const set = out.ResourceRecordSets?.[0];
      if (!set?.Name || set.Type !== type || normalizeName(set.Name) !== normalizeName(name)) continue;
      if (!set.ResourceRecords?.length) continue;
      found.push({
        name: normalizeName(set.Name),
        type,
        ttl: set.TTL ?? 0,
        values: set.ResourceRecords.map((r) => r.Value ?? ''),
      });
    }
    return found;
  }

  async apply(changes: RecordChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.hostedZoneId,
        ChangeBatch: {
          Comment: 'sip-mediaserver: media nodes in service',
          Changes: changes.map((c) => ({
            Action: c.action,
            ResourceRecordSet: {
              Name: c.record.name,
              Type: c.record.type,
              TTL: c.record.ttl,
              ResourceRecords: c.record.values.map((Value) => ({ Value })),
            },
          })),
        },
      }),
    );
  }
}
