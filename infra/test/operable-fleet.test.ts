import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOINING_EVENTS, LEAVING_EVENTS, managedRecords } from '@sipms/lambdas/dns/fleet-dns';
import { METRICS_NAMESPACE, NODE_DIMENSION, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { syncedRecordNames } from '../src/cdk/constructs/dns-sync.js';
import { nodeAmiParameterName } from '../src/cdk/constructs/node-image-pipeline.js';
import { INSTALL_MARKER } from '../src/cdk/media-node-boot/install-script.js';
import { serviceResourcesOfType } from './helpers/service-resources.js';
import {
  type Cfn,
  type CfnTemplate,
  nodeRoleId,
  referencedIds,
  renderCfnString,
  resourcesOfType,
  synth,
} from './helpers/synth.js';

/** Issue 16's template assertions: fixed addresses, DNS, checked boots, scaling, logs and SSM, rolling upgrades. */
const t = synth({}, { bundle: false }).template;
const HOSTED = { hostedZoneId: 'Z0123456789ABC', hostedZoneName: 'example.com' };

const one = (tpl: CfnTemplate, type: string): [string, Record<string, Cfn>] => {
  const found = resourcesOfType(tpl, type);
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]!;
};
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

  test("target tracking on the stage's ActiveCalls (Sum) / GroupInServiceInstances, target 60 % of the per-node cap", () => {
    const [, policy] = one(t, 'AWS::AutoScaling::ScalingPolicy');
    const [asgId] = one(t, 'AWS::AutoScaling::AutoScalingGroup');
    assert.equal(policy.PolicyType, 'TargetTrackingScaling');
    assert.deepEqual([...referencedIds(policy.AutoScalingGroupName)], [asgId]);
    const cfg = policy.TargetTrackingConfiguration;
    assert.equal(cfg.TargetValue, 120);
    const metrics = cfg.CustomizedMetricSpecification.Metrics as Cfn[];
    const byId = new Map(metrics.map((m) => [m.Id, m]));
    const calls = byId.get('calls')!.MetricStat;
    // [Stage]: another deployment's nodes in this account and region write another Stage, never counted here.
    assert.deepEqual(calls.Metric, {
      Namespace: METRICS_NAMESPACE,
      MetricName: NODE_METRIC.activeCalls,
      Dimensions: [{ Name: NODE_DIMENSION.stage, Value: 'dev' }],
    });
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

  test('two stages scale on their own series; the nodes write the stage the policy reads (STAGE)', () => {
    const prod = synth({ stage: 'prod' }, { bundle: false }).template;
    const [, policy] = one(prod, 'AWS::AutoScaling::ScalingPolicy');
    const calls = (policy.TargetTrackingConfiguration.CustomizedMetricSpecification.Metrics as Cfn[]).find(
      (m) => m.Id === 'calls',
    ).MetricStat;
    assert.deepEqual(calls.Metric.Dimensions, [{ Name: 'Stage', Value: 'prod' }]);
    const [, lt] = one(prod, 'AWS::EC2::LaunchTemplate');
    assert.match(renderCfnString(lt.LaunchTemplateData.UserData), /^STAGE=prod$/m);
  });
});

describe('baked node images', () => {
  test('stock (the default) boots the Debian parameter and installs at boot; the pipeline is there to build the image', () => {
    const [, lt] = one(t, 'AWS::EC2::LaunchTemplate');
    const param = t.Parameters![lt.LaunchTemplateData.ImageId.Ref]!;
    assert.equal(param.Default, '/aws/service/debian/release/bookworm/latest/arm64');
    const [, pipeline] = one(t, 'AWS::ImageBuilder::ImagePipeline');
    assert.equal(pipeline.Schedule, undefined, 'built only when started');
    assert.match(renderCfnString(lt.LaunchTemplateData.UserData), /^apt install -y --no-install-recommends /m);
  });

  test("nodeImage=baked: the launch template reads the pipeline's SSM parameter, and the boot installs nothing", () => {
    const baked = synth({ nodeImage: 'baked', nodeImageSchedule: 'cron(0 3 ? * SUN *)' }, { bundle: false }).template;
    const [, lt] = one(baked, 'AWS::EC2::LaunchTemplate');
    const param = baked.Parameters![lt.LaunchTemplateData.ImageId.Ref]!;
    assert.equal(param.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    assert.equal(param.Default, nodeAmiParameterName('dev', 'arm64'));
    // The parameter the pipeline's distribution writes.
    const [, dist] = one(baked, 'AWS::ImageBuilder::DistributionConfiguration');
    const written = (dist.Distributions as Cfn[]).flatMap((d) =>
      (d.SsmParameterConfigurations as Cfn[]).map((c) => c.ParameterName),
    );
    assert.deepEqual(written, [param.Default]);
    assert.equal(one(baked, 'AWS::ImageBuilder::ImagePipeline')[1].Schedule.ScheduleExpression, 'cron(0 3 ? * SUN *)');
    const script = renderCfnString(lt.LaunchTemplateData.UserData);
    assert.doesNotMatch(script, /^apt (update|install)/m, 'no packages installed at boot');
    assert.doesNotMatch(script, /nodejs\.org|amazon-ssm-agent\.deb/, 'no downloads but the bundle');
    assert.match(
      script,
      new RegExp(`^grep -qxF 'sipms-install arch=arm64 [^']+' ${INSTALL_MARKER} \\|\\| abandon `, 'm'),
    );
    assert.ok(script.indexOf(INSTALL_MARKER) < script.indexOf('aws s3 cp'), 'the image is checked first');
    assert.ok(
      script.indexOf('describe-auto-scaling-instances') < script.indexOf(INSTALL_MARKER),
      'after the group is known, so a wrong image abandons its launch at once (not after the hook times out)',
    );
    assert.match(script, /^systemctl enable --now amazon-ssm-agent \|\| echo /m);
  });
});

describe('SIP over TLS', () => {
  const sg = (tpl: CfnTemplate) =>
    resourcesOfType(tpl, 'AWS::EC2::SecurityGroup').find(([, g]) => /SIP media nodes/.test(g.GroupDescription))![1];
  const tlsRules = (tpl: CfnTemplate) =>
    (sg(tpl).SecurityGroupIngress as Cfn[]).filter((r) => r.FromPort === 5061 || r.ToPort === 5061);
  /** The node role's statements that the certificate added: those the default template does not have. */
  const added = (tpl: CfnTemplate): Cfn[] => {
    const before = new Set(statementsOf(t, nodeRoleId(t)).map((st) => JSON.stringify(st)));
    return statementsOf(tpl, nodeRoleId(tpl)).filter((st) => !before.has(JSON.stringify(st)));
  };

  test('without sipTlsCertificate 5061 stays closed and the node may fetch no certificate', () => {
    assert.deepEqual(tlsRules(t), []);
    const statements = statementsOf(t, nodeRoleId(t));
    assert.ok(!statements.some((st) => [st.Action].flat().some((a: string) => a.startsWith('ssm:'))), 'no ssm:');
    assert.doesNotMatch(JSON.stringify(statements), /\.crt|\.key"|kms:ViaService/);
    const script = renderCfnString(one(t, 'AWS::EC2::LaunchTemplate')[1].LaunchTemplateData.UserData);
    assert.doesNotMatch(script, /SIP_TLS|sipms-tls/);
  });

  test('from S3: 5061/tcp open to the SIP CIDRs, GetObject on exactly the two objects, the node told to serve TLS', () => {
    const tls = synth({ sipTlsCertificate: 's3://certs-bucket/tls/sip' }, { bundle: false }).template;
    assert.deepEqual(
      tlsRules(tls).map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.CidrIp]),
      [['tcp', 5061, 5061, '0.0.0.0/0']],
    );
    const two = synth(
      { sipTlsCertificate: 's3://certs-bucket/tls/sip', sipAllowedCidrs: '198.51.100.0/24,203.0.113.0/24' },
      { bundle: false },
    ).template;
    assert.deepEqual(
      tlsRules(two).map((r) => r.CidrIp),
      ['198.51.100.0/24', '203.0.113.0/24'],
      'the CIDRs allowed to send SIP, no more',
    );
    assert.deepEqual(
      added(tls).map((st) => [st.Effect, st.Action, (st.Resource as Cfn[]).map(renderCfnString), st.Condition]),
      [
        [
          'Allow',
          's3:GetObject',
          [
            'arn:cfn-ref-awspartition:s3:::certs-bucket/tls/sip.crt',
            'arn:cfn-ref-awspartition:s3:::certs-bucket/tls/sip.key',
          ],
          undefined,
        ],
      ],
      'exactly the two objects, nothing else',
    );
    const script = renderCfnString(one(tls, 'AWS::EC2::LaunchTemplate')[1].LaunchTemplateData.UserData);
    assert.match(script, /^SIP_TRANSPORTS=udp,tcp,tls$/m);
    assert.match(script, /^SIP_TLS_CERT=\/etc\/sipms\/tls\/sip\.crt$/m);
    assert.match(script, /^SIP_TLS_PORT=5061$/m);
    assert.ok(script.indexOf("--key 'tls/sip.key'") < script.indexOf('systemctl enable --now sipms-media-node'));
  });

  test('from SSM: GetParameter on the one parameter, Decrypt only through Parameter Store; _sips._tcp published', () => {
    const tls = synth({ sipTlsCertificate: 'ssm:/sipms/dev/tls', ...HOSTED }, { bundle: false }).template;
    assert.equal(tlsRules(tls).length, 1, '5061/tcp to 0.0.0.0/0 (the default sipAllowedCidrs)');
    const st = added(tls);
    assert.deepEqual(
      st.map((x) => [x.Action, renderCfnString(x.Resource)]),
      [
        [
          'ssm:GetParameter',
          'arn:cfn-ref-awspartition:ssm:cfn-ref-awsregion:cfn-ref-awsaccountid:parameter/sipms/dev/tls',
        ],
        ['kms:Decrypt', 'arn:cfn-ref-awspartition:kms:cfn-ref-awsregion:cfn-ref-awsaccountid:key/*'],
      ],
    );
    assert.deepEqual(st[1].Condition, {
      StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
    });
    const [, fn] = resourcesOfType(tls, 'AWS::Lambda::Function').find(
      ([, f]) => f.Environment?.Variables?.HOSTED_ZONE_ID,
    )!;
    assert.equal(fn.Environment.Variables.SIPS_PORT, '5061', 'the DNS sync publishes _sips._tcp');
    const [, plain] = resourcesOfType(synth(HOSTED, { bundle: false }).template, 'AWS::Lambda::Function').find(
      ([, f]) => f.Environment?.Variables?.HOSTED_ZONE_ID,
    )!;
    assert.equal(plain.Environment.Variables.SIPS_PORT, undefined, 'no _sips._tcp without a TLS listener');
  });
});

describe('leftovers: recordings, the per-tenant slow-callback cap', () => {
  test('no recordings bucket or RECORDINGS_BUCKET; recordingRetentionDays is the prompts bucket tag rule', () => {
    assert.equal(serviceResourcesOfType(t, 'AWS::S3::Bucket').length, 1);
    const [, lt] = one(t, 'AWS::EC2::LaunchTemplate');
    assert.doesNotMatch(renderCfnString(lt.LaunchTemplateData.UserData), /RECORDINGS_BUCKET/);
    const short = synth({ recordingRetentionDays: 14 }, { bundle: false }).template;
    const [, bucket] = serviceResourcesOfType(short, 'AWS::S3::Bucket')[0]!;
    const rule = (bucket.LifecycleConfiguration.Rules as Cfn[]).find((r) => r.Id === 'RecordingRetention');
    assert.equal(rule.ExpirationInDays, 14);
    assert.deepEqual(rule.TagFilters, [{ Key: 'sipms-kind', Value: 'recording' }]);
  });

  test('TENANT_MAX_SLOW_CALLBACKS (default 20, from context) on every control-plane Lambda, never on the nodes', () => {
    const controlPlane = (tpl: CfnTemplate) =>
      resourcesOfType(tpl, 'AWS::Lambda::Function').filter(([, f]) => f.Environment?.Variables?.TABLE_NAME);
    assert.ok(controlPlane(t).length >= 7);
    for (const [id, f] of controlPlane(t)) assert.equal(f.Environment.Variables.TENANT_MAX_SLOW_CALLBACKS, '20', id);
    const set = synth({ tenantMaxSlowCallbacks: 5 }, { bundle: false }).template;
    for (const [id, f] of controlPlane(set)) assert.equal(f.Environment.Variables.TENANT_MAX_SLOW_CALLBACKS, '5', id);
    const [, lt] = one(t, 'AWS::EC2::LaunchTemplate');
    assert.doesNotMatch(renderCfnString(lt.LaunchTemplateData.UserData), /TENANT_MAX_SLOW_CALLBACKS/);
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
