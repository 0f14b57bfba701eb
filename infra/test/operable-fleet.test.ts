import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOINING_EVENTS, LEAVING_EVENTS, managedRecords } from '@sipms/lambdas/dns/fleet-dns';
import { METRICS_NAMESPACE, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { syncedRecordNames } from '../src/cdk/constructs/dns-sync.js';
import { type Cfn, type CfnTemplate, referencedIds, resourcesOfType, synth } from './helpers/synth.js';

/** Issue 16's template assertions: fixed addresses, DNS, checked boots, scaling, logs and SSM, rolling upgrades. */
const t = synth({}, { bundle: false }).template;
const HOSTED = { hostedZoneId: 'Z0123456789ABC', hostedZoneName: 'example.com' };

const one = (tpl: CfnTemplate, type: string): [string, Record<string, Cfn>] => {
  const found = resourcesOfType(tpl, type);
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]!;
};
const nodeRoleId = (tpl: CfnTemplate) =>
  resourcesOfType(tpl, 'AWS::IAM::Role').find(([, r]) =>
    JSON.stringify(r.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'),
  )![0];
const statementsOf = (tpl: CfnTemplate, roleId: string): Cfn[] =>
  resourcesOfType(tpl, 'AWS::IAM::Policy')
    .filter(([, p]) => referencedIds(p.Roles).has(roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement as Cfn[]);
const withAction = (statements: Cfn[], prefix: string) =>
  statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith(prefix)));

describe('fixed SIP addresses', () => {
  test('a pool of maxNodes + 1 Elastic IPs, tagged; the group (tagged the same at launch) goes before them', () => {
    const eips = resourcesOfType(t, 'AWS::EC2::EIP');
    assert.equal(eips.length, 5);
    for (const [, eip] of eips) {
      assert.equal(eip.Domain, 'vpc');
      assert.ok(eip.Tags.some((tag: Cfn) => tag.Key === 'sipms:eip-pool' && tag.Value === 'SipMediaserver-dev'));
    }
    const [asgId, asg] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    const dependsOn = [t.Resources[asgId]!.DependsOn].flat();
    for (const [id] of eips) assert.ok(dependsOn.includes(id), `the group is deleted before ${id} is released`);
    assert.ok(
      asg.Tags.some(
        (tag: Cfn) =>
          tag.Key === 'sipms:eip-pool' && tag.Value === 'SipMediaserver-dev' && tag.PropagateAtLaunch === true,
      ),
    );
  });

  test('the SipAddresses output lists every pool address for carrier allow-lists', () => {
    const out = t.Outputs!.SipAddresses as Cfn;
    assert.match(String(out.Description), /carrier allow-lists/);
    const [sep, parts] = out.Value['Fn::Join'];
    assert.equal(sep, ',');
    const eipIds = resourcesOfType(t, 'AWS::EC2::EIP').map(([id]) => id);
    assert.deepEqual(
      (parts as Cfn[]).map((p) => p['Fn::GetAtt']),
      eipIds.map((id) => [id, 'PublicIp']),
    );
  });

  test('the node may describe addresses and associate only pool addresses with pool instances in its VPC; never disassociate', () => {
    const statements = statementsOf(t, nodeRoleId(t));
    const ec2 = withAction(statements, 'ec2:');
    const actions = new Set(ec2.flatMap((st) => [st.Action].flat()));
    assert.deepEqual([...actions].sort(), ['ec2:AssociateAddress', 'ec2:DescribeAddresses']);
    for (const st of ec2) {
      if ([st.Action].flat().includes('ec2:DescribeAddresses')) {
        assert.equal(st.Resource, '*');
        continue;
      }
      assert.ok(st.Condition, `every AssociateAddress statement is conditioned: ${JSON.stringify(st)}`);
      const resources = JSON.stringify(st.Resource);
      if (resources.includes('network-interface/')) {
        assert.ok(st.Condition.StringEquals['ec2:Vpc'], 'ENIs of the fleet VPC only');
        assert.ok(referencedIds(st.Condition.StringEquals['ec2:Vpc']).size > 0);
      } else {
        assert.match(resources, /elastic-ip\/\*/);
        assert.match(resources, /instance\/\*/);
        assert.deepEqual(st.Condition, { StringEquals: { 'aws:ResourceTag/sipms:eip-pool': 'SipMediaserver-dev' } });
      }
    }
  });

  test('elasticIps=0: no pool, no address actions, no output', () => {
    const off = synth({ elasticIps: 0 }, { bundle: false }).template;
    assert.equal(resourcesOfType(off, 'AWS::EC2::EIP').length, 0);
    assert.equal(off.Outputs?.SipAddresses, undefined);
    assert.deepEqual(withAction(statementsOf(off, nodeRoleId(off)), 'ec2:'), []);
  });
});

describe('DNS kept in sync', () => {
  const dns = synth(HOSTED, { bundle: false }).template;
  const fnOf = (tpl: CfnTemplate) =>
    resourcesOfType(tpl, 'AWS::Lambda::Function').find(([, f]) => /SIP domain A and SRV/.test(f.Description));

  test('no hosted zone in context: no DNS function', () => {
    assert.equal(fnOf(t), undefined);
  });

  test('the function gets the zone, the domain, the group and the SIP port', () => {
    const [, fn] = fnOf(dns)!;
    const [asgId] = one(dns, 'AWS::AutoScaling::AutoScalingGroup');
    const env = fn.Environment.Variables;
    assert.equal(env.HOSTED_ZONE_ID, 'Z0123456789ABC');
    assert.equal(env.SIP_DOMAIN, 'sip.example.com');
    assert.equal(env.SIP_PORT, '5060');
    assert.equal(env.SIPS_PORT, undefined, 'no TLS listener: no _sips._tcp record');
    assert.deepEqual([...referencedIds(env.GROUP_NAME)], [asgId]);
    assert.equal(fn.Runtime, 'nodejs22.x');
  });

  test("it may change only the synced names' A and SRV records in that zone", () => {
    const [, fn] = fnOf(dns)!;
    const statements = statementsOf(dns, [...referencedIds(fn.Role)][0]!);
    const change = statements.find((st) => [st.Action].flat().includes('route53:ChangeResourceRecordSets'))!;
    assert.match(JSON.stringify(change.Resource), /:route53:::hostedzone\/Z0123456789ABC/);
    assert.deepEqual(change.Condition['ForAllValues:StringEquals'], {
      'route53:ChangeResourceRecordSetsNormalizedRecordNames': [
        'sip.example.com',
        '*.sip.example.com',
        '_sip._udp.sip.example.com',
        '_sip._tcp.sip.example.com',
      ],
      'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'SRV'],
    });
    const all = new Set(statements.flatMap((st) => [st.Action].flat()));
    assert.deepEqual([...all].sort(), [
      'autoscaling:DescribeAutoScalingGroups',
      'ec2:DescribeInstances',
      'route53:ChangeResourceRecordSets',
      'route53:ListResourceRecordSets',
    ]);
  });

  test("the IAM condition's names are exactly the records the handler manages (with and without TLS)", () => {
    for (const tls of [false, true]) {
      const handler = managedRecords({
        groupName: 'g',
        sipDomain: 'sip.example.com',
        sipPort: 5060,
        sipsPort: tls ? 5061 : undefined,
        ttl: 60,
      }).map((r) => r.name.replace(/\.$/, ''));
      assert.deepEqual(syncedRecordNames('sip.example.com', tls), handler);
    }
  });

  test("the group's launch and drain events and a 5-minute schedule invoke it", () => {
    const [fnId] = fnOf(dns)!;
    const [asgId] = one(dns, 'AWS::AutoScaling::AutoScalingGroup');
    const rules = resourcesOfType(dns, 'AWS::Events::Rule').filter(([, r]) =>
      (r.Targets as Cfn[]).some((target) => referencedIds(target.Arn).has(fnId)),
    );
    assert.equal(rules.length, 2);
    const lifecycle = rules.find(([, r]) => r.EventPattern)![1];
    assert.equal(lifecycle.EventBusName, undefined, 'the default bus, where Auto Scaling sends its events');
    assert.deepEqual(lifecycle.EventPattern.source, ['aws.autoscaling']);
    assert.deepEqual(lifecycle.EventPattern['detail-type'], [...JOINING_EVENTS, ...LEAVING_EVENTS]);
    assert.ok(lifecycle.EventPattern['detail-type'].includes('EC2 Instance-terminate Lifecycle Action'), 'draining');
    assert.deepEqual([...referencedIds(lifecycle.EventPattern.detail.AutoScalingGroupName)], [asgId]);
    assert.equal(rules.find(([, r]) => r.ScheduleExpression)![1].ScheduleExpression, 'rate(5 minutes)');
  });
});

describe('checked boots', () => {
  test('a launch hook that abandons unless the boot script says CONTINUE, with room for the boot', () => {
    const [, asg] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    const launch = (asg.LifecycleHookSpecificationList as Cfn[]).find(
      (h) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING',
    );
    assert.ok(launch);
    assert.equal(launch.LifecycleHookName, 'sipms-launch');
    assert.equal(launch.DefaultResult, 'ABANDON');
    assert.ok(launch.HeartbeatTimeout >= 20 * 60 && launch.HeartbeatTimeout <= 7200, String(launch.HeartbeatTimeout));
    assert.equal(
      resourcesOfType(t, 'AWS::AutoScaling::LifecycleHook').length,
      0,
      'part of the group, like the drain hook',
    );
  });
});

describe('scaling', () => {
  test('two AZs, 2 to 4 nodes', () => {
    const [, asg] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    assert.deepEqual([asg.MinSize, asg.MaxSize], ['2', '4']);
    const subnets = new Map(resourcesOfType(t, 'AWS::EC2::Subnet'));
    const used = (asg.VPCZoneIdentifier as Cfn[]).map((s) => subnets.get([...referencedIds(s)][0]!)!.AvailabilityZone);
    assert.equal(new Set(used.map((az) => JSON.stringify(az))).size, 2, JSON.stringify(used));
  });

  test('target tracking on fleet ActiveCalls (Sum) / GroupInServiceInstances, target 60 % of the per-node cap', () => {
    const [, policy] = one(t, 'AWS::AutoScaling::ScalingPolicy');
    const [asgId] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    assert.equal(policy.PolicyType, 'TargetTrackingScaling');
    assert.deepEqual([...referencedIds(policy.AutoScalingGroupName)], [asgId]);
    const cfg = policy.TargetTrackingConfiguration;
    assert.equal(cfg.TargetValue, 120);
    const metrics = cfg.CustomizedMetricSpecification.Metrics as Cfn[];
    const byId = new Map(metrics.map((m) => [m.Id, m]));
    const calls = byId.get('calls')!.MetricStat;
    assert.deepEqual(calls.Metric, { Namespace: METRICS_NAMESPACE, MetricName: NODE_METRIC.activeCalls });
    assert.equal(calls.Stat, 'Sum', 'one record per node per minute: the Sum is the calls in progress');
    const nodes = byId.get('nodes')!.MetricStat;
    assert.equal(nodes.Metric.Namespace, 'AWS/AutoScaling');
    assert.equal(nodes.Metric.MetricName, 'GroupInServiceInstances');
    assert.deepEqual([...referencedIds(nodes.Metric.Dimensions[0].Value)], [asgId]);
    assert.equal(byId.get('perNode')!.Expression, 'calls / nodes');
    assert.deepEqual(
      metrics.filter((m) => m.ReturnData).map((m) => m.Id),
      ['perNode'],
      'exactly one series is tracked',
    );
    const [, asg] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    assert.ok(asg.MetricsCollection?.length, 'GroupInServiceInstances is collected');
  });

  test('the nodes cap their calls at maxCallsPerNode; targetCallsPerNode and instanceType overrides reach the template', () => {
    const over = synth(
      { maxCallsPerNode: 300, targetCallsPerNode: 150, instanceType: 'c7i.large', maxNodes: 6 },
      { bundle: false },
    ).template;
    const [, policy] = one(over, 'AWS::AutoScaling::ScalingPolicy');
    assert.equal(policy.TargetTrackingConfiguration.TargetValue, 150);
    const [, lt] = one(over, 'AWS::EC2::LaunchTemplate');
    assert.equal(lt.LaunchTemplateData.InstanceType, 'c7i.large');
    assert.match(JSON.stringify(lt.LaunchTemplateData.UserData), /MAX_CALLS=300\\n/);
    assert.equal(one(over, 'AWS::AutoScaling::AutoScalingGroup')[1].MaxSize, '6');
    assert.equal(resourcesOfType(over, 'AWS::EC2::EIP').length, 7);
  });
});

describe('logs and SSM instead of SSH', () => {
  test('the node role has AmazonSSMManagedInstanceCore; no key pair; nothing opens port 22', () => {
    const role = t.Resources[nodeRoleId(t)]!.Properties!;
    assert.ok(
      (role.ManagedPolicyArns as Cfn[]).some((arn) =>
        JSON.stringify(arn).includes(':iam::aws:policy/AmazonSSMManagedInstanceCore'),
      ),
    );
    const [, lt] = one(t, 'AWS::EC2::LaunchTemplate');
    assert.equal(lt.LaunchTemplateData.KeyName, undefined);
    for (const [, sg] of resourcesOfType(t, 'AWS::EC2::SecurityGroup')) {
      for (const rule of (sg.SecurityGroupIngress ?? []) as Cfn[]) {
        assert.ok(!(rule.FromPort <= 22 && rule.ToPort >= 22 && rule.IpProtocol !== 'udp'), JSON.stringify(rule));
      }
    }
    assert.equal(resourcesOfType(t, 'AWS::EC2::SecurityGroupIngress').length, 0);
  });

  test('a node log group with retention, named in the outputs', () => {
    const [id, lg] = resourcesOfType(t, 'AWS::Logs::LogGroup').find(
      ([, g]) => g.LogGroupName === '/sip-mediaserver/dev/media-node/logs',
    )!;
    assert.equal(lg.RetentionInDays, 30);
    assert.deepEqual([...referencedIds(t.Outputs!.NodeLogGroupName!.Value)], [id]);
    const short = synth({ logRetentionDays: 7 }, { bundle: false }).template;
    const [, lg7] = resourcesOfType(short, 'AWS::Logs::LogGroup').find(
      ([, g]) => g.LogGroupName === '/sip-mediaserver/dev/media-node/logs',
    )!;
    assert.equal(lg7.RetentionInDays, 7);
  });
});

describe('rolling upgrades', () => {
  test('a new launch template version rolls one node at a time, keeping minNodes in service, processes that fight it paused', () => {
    const [asgId, asg] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    const rolling = (t.Resources[asgId] as Cfn).UpdatePolicy.AutoScalingRollingUpdate;
    assert.equal(rolling.MaxBatchSize, 1);
    assert.equal(rolling.MinInstancesInService, 2);
    for (const p of ['HealthCheck', 'ReplaceUnhealthy', 'AZRebalance', 'AlarmNotification', 'ScheduledActions']) {
      assert.ok(rolling.SuspendProcesses.includes(p), p);
    }
    const [ltId] = one(t, 'AWS::EC2::LaunchTemplate');
    assert.deepEqual(
      asg.LaunchTemplate.Version,
      { 'Fn::GetAtt': [ltId, 'LatestVersionNumber'] },
      'a new version rolls',
    );
    // The drain hook stays part of the group: old nodes drain while the update replaces them.
    assert.ok((asg.LifecycleHookSpecificationList as Cfn[]).some((h) => h.LifecycleHookName === 'sipms-drain'));
    const fixed = synth({ minNodes: 2, maxNodes: 2, elasticIps: 3 }, { bundle: false }).template;
    const [fixedId] = one(fixed, 'AWS::AutoScaling::AutoScalingGroup');
    assert.equal(
      (fixed.Resources[fixedId] as Cfn).UpdatePolicy.AutoScalingRollingUpdate.MinInstancesInService,
      1,
      'below MaxSize, as CloudFormation requires',
    );
  });
});
