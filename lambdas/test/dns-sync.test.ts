import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { createLogger } from '@sipms/shared/util/logger';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type DnsSettings,
  type DnsZone,
  desiredRecords,
  FleetDnsSync,
  type FleetInstance,
  planChanges,
  type RecordChange,
  type RecordSet,
} from '../src/dns/fleet-dns.js';
import { handler, hintOf } from '../src/handlers/dns-sync.js';

const settings: DnsSettings = {
  groupName: 'nodes',
  sipDomain: 'SIP.example.com',
  sipPort: 5060,
  sipsPort: undefined,
  ttl: 60,
};
const silent = createLogger({}, 'silent');

/** A zone in memory that applies changes the way Route 53 does: a DELETE must match the set exactly. */
class MemoryZone implements DnsZone {
  readonly sets = new Map<string, RecordSet>();
  readonly batches: RecordChange[][] = [];
  async current(wanted: { name: string; type: string }[]): Promise<RecordSet[]> {
    return wanted.flatMap(({ name, type }) => {
      const s = this.sets.get(`${name} ${type}`);
      return s ? [s] : [];
    });
  }
  async apply(changes: RecordChange[]): Promise<void> {
    this.batches.push(changes);
    for (const c of changes) {
      const k = `${c.record.name} ${c.record.type}`;
      if (c.action === 'UPSERT') this.sets.set(k, c.record);
      else {
        assert.deepEqual(this.sets.get(k), c.record, 'a DELETE repeats the current set');
        this.sets.delete(k);
      }
    }
  }
}

const node = (instanceId: string, lifecycleState: string, publicIp?: string): FleetInstance => ({
  instanceId,
  lifecycleState,
  publicIp,
});

describe('the records for the nodes in service', () => {
  test('A on the domain and its wildcard; SRV for SIP over UDP and TCP pointing at the domain', () => {
    const records = desiredRecords(['203.0.113.11', '203.0.113.10', '203.0.113.10'], settings);
    assert.deepEqual(
      records.map((r) => [r.name, r.type, r.ttl, r.values]),
      [
        ['sip.example.com.', 'A', 60, ['203.0.113.10', '203.0.113.11']],
        ['*.sip.example.com.', 'A', 60, ['203.0.113.10', '203.0.113.11']],
        ['_sip._udp.sip.example.com.', 'SRV', 60, ['10 100 5060 sip.example.com.']],
        ['_sip._tcp.sip.example.com.', 'SRV', 60, ['10 100 5060 sip.example.com.']],
      ],
    );
  });

  test('SIP over TLS gets _sips._tcp only when a TLS port is configured', () => {
    const tls = desiredRecords(['203.0.113.10'], { ...settings, sipsPort: 5061 });
    assert.deepEqual(tls.find((r) => r.name.startsWith('_sips._tcp.'))?.values, ['10 100 5061 sip.example.com.']);
    assert.ok(!desiredRecords(['203.0.113.10'], settings).some((r) => r.name.startsWith('_sips.')));
  });

  test('no node in service: no records (Route 53 has no empty record sets)', () => {
    assert.deepEqual(desiredRecords([], settings), []);
  });

  test('the plan upserts what differs and deletes what should be gone; nothing when current', () => {
    const want = desiredRecords(['203.0.113.10'], settings);
    assert.deepEqual(planChanges(want, want), []);
    const stale = { ...want[0]!, values: ['198.51.100.1'] };
    assert.deepEqual(planChanges(want, [stale, ...want.slice(1)]), [{ action: 'UPSERT', record: want[0] }]);
    assert.deepEqual(
      planChanges([], want).map((c) => c.action),
      want.map(() => 'DELETE'),
    );
    // Route 53's stored form of a wildcard (\052) is the same name.
    const wildcard = { ...want[1]!, name: '\\052.sip.example.com.' };
    assert.deepEqual(planChanges([want[1]!], [wildcard]), []);
  });
});

describe('the sync', () => {
  test('only InService nodes with a public IP are published; a draining node leaves, then the last node removes all', async () => {
    const zone = new MemoryZone();
    let members = [
      node('i-1', 'InService', '203.0.113.10'),
      node('i-2', 'InService', '203.0.113.11'),
      node('i-3', 'Pending:Wait', '203.0.113.12'),
      node('i-4', 'Terminating:Wait', '203.0.113.13'),
      node('i-5', 'InService', undefined),
    ];
    const sync = new FleetDnsSync({ fleet: { instances: async () => members }, zone, settings, logger: silent });

    assert.deepEqual(await sync.sync(), { addresses: ['203.0.113.10', '203.0.113.11'], changes: 4 });
    assert.deepEqual(zone.sets.get('*.sip.example.com. A')?.values, ['203.0.113.10', '203.0.113.11']);
    assert.equal((await sync.sync()).changes, 0, 'nothing to change: no write');
    assert.equal(zone.batches.length, 2);

    // The termination hook's event arrives before Describe shows Terminating:Wait: the node goes at once.
    const leaving = await sync.sync({ instanceId: 'i-2', change: 'leaving' });
    assert.deepEqual(leaving.addresses, ['203.0.113.10']);
    assert.deepEqual(zone.sets.get('sip.example.com. A')?.values, ['203.0.113.10']);

    members = [node('i-1', 'Terminating:Wait', '203.0.113.10')];
    assert.deepEqual(await sync.sync(), { addresses: [], changes: 4 });
    assert.equal(zone.sets.size, 0, 'every managed record deleted');
  });

  test('a launch event counts a node whose launch hook completed (Pending:Proceed), never one still booting', async () => {
    const zone = new MemoryZone();
    const members = [node('i-1', 'Pending:Proceed', '203.0.113.10'), node('i-2', 'Pending:Wait', '203.0.113.11')];
    const sync = new FleetDnsSync({ fleet: { instances: async () => members }, zone, settings, logger: silent });
    assert.deepEqual((await sync.sync({ instanceId: 'i-1', change: 'joining' })).addresses, ['203.0.113.10']);
    assert.deepEqual((await sync.sync({ instanceId: 'i-2', change: 'joining' })).addresses, []);
  });

  test('Auto Scaling events become hints; other events (the schedule) none', () => {
    assert.deepEqual(hintOf({ 'detail-type': 'EC2 Instance Launch Successful', detail: { EC2InstanceId: 'i-1' } }), {
      instanceId: 'i-1',
      change: 'joining',
    });
    assert.deepEqual(
      hintOf({ 'detail-type': 'EC2 Instance-terminate Lifecycle Action', detail: { EC2InstanceId: 'i-1' } }),
      { instanceId: 'i-1', change: 'leaving' },
    );
    assert.equal(hintOf({ 'detail-type': 'Scheduled Event', detail: {} }), undefined);
    assert.equal(hintOf(undefined), undefined);
  });
});

describe('the handler on the AWS SDK (clients mocked)', () => {
  const autoscaling = mockClient(AutoScalingClient);
  const ec2 = mockClient(EC2Client);
  const route53 = mockClient(Route53Client);
  beforeEach(() => {
    autoscaling.reset();
    ec2.reset();
    route53.reset();
    Object.assign(process.env, {
      HOSTED_ZONE_ID: 'Z0123456789',
      SIP_DOMAIN: 'sip.example.com',
      GROUP_NAME: 'sipms-nodes',
      SIP_PORT: '5060',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      LOG_LEVEL: 'silent',
    });
  });

  test('reads the group and its addresses, looks up each managed set, and writes one change batch', async () => {
    autoscaling.on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['sipms-nodes'] }).resolves({
      AutoScalingGroups: [
        {
          Instances: [
            { InstanceId: 'i-1', LifecycleState: 'InService' },
            { InstanceId: 'i-2', LifecycleState: 'Terminating:Wait' },
          ],
        } as never,
      ],
    });
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-1', PublicIpAddress: '203.0.113.10' },
            { InstanceId: 'i-2', PublicIpAddress: '203.0.113.11' },
          ],
        },
      ],
    });
    // The wildcard exists with a stale address; the next name in the zone is returned for the others.
    route53.on(ListResourceRecordSetsCommand).callsFake((input) =>
      input.StartRecordName === '\\052.sip.example.com.'
        ? {
            ResourceRecordSets: [
              { Name: '\\052.sip.example.com.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '198.51.100.1' }] },
            ],
          }
        : {
            ResourceRecordSets: [
              { Name: 'zzz.example.com.', Type: 'A', TTL: 300, ResourceRecords: [{ Value: '1.1.1.1' }] },
            ],
          },
    );
    route53.on(ChangeResourceRecordSetsCommand).resolves({});

    const result = await handler({ 'detail-type': 'Scheduled Event', detail: {} });
    assert.deepEqual(result, { addresses: ['203.0.113.10'], changes: 4 });
    assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.InstanceIds, ['i-1', 'i-2']);
    const lookups = route53.commandCalls(ListResourceRecordSetsCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      lookups.map((l) => `${l.StartRecordName} ${l.StartRecordType} ${l.MaxItems}`),
      [
        'sip.example.com. A 1',
        '\\052.sip.example.com. A 1',
        '_sip._udp.sip.example.com. SRV 1',
        '_sip._tcp.sip.example.com. SRV 1',
      ],
    );
    assert.ok(lookups.every((l) => l.HostedZoneId === 'Z0123456789'));
    const [change] = route53.commandCalls(ChangeResourceRecordSetsCommand);
    const batch = change!.args[0].input;
    assert.equal(batch.HostedZoneId, 'Z0123456789');
    assert.deepEqual(
      batch.ChangeBatch!.Changes!.map((c) => [c.Action, c.ResourceRecordSet!.Type, c.ResourceRecordSet!.Name]),
      [
        ['UPSERT', 'A', 'sip.example.com.'],
        ['UPSERT', 'A', '*.sip.example.com.'],
        ['UPSERT', 'SRV', '_sip._udp.sip.example.com.'],
        ['UPSERT', 'SRV', '_sip._tcp.sip.example.com.'],
      ],
    );
    assert.deepEqual(batch.ChangeBatch!.Changes![1]!.ResourceRecordSet!.ResourceRecords, [{ Value: '203.0.113.10' }]);
  });
});
