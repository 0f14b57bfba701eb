import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { DIMENSION, METRIC, METRICS_NAMESPACE } from '@sipms/lambdas/observability/metric-names';
import { ROUTE_GROUPS, ROUTES } from '@sipms/shared/api/routes';
import { API_KEY_LAST_USED, createTableInput, TABLE_KEYS } from '@sipms/shared/data/table-design';
import { RULES } from '@sipms/shared/events/rules';
import { NODE_DIMENSION, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { serviceResourcesOfType } from './helpers/service-resources.js';
import {
  type Cfn,
  type CfnTemplate,
  nodeRoleId,
  referencedIds,
  resourcesOfType,
  type Synthesized,
  synth,
} from './helpers/synth.js';

/** Template assertions on the synthesized stack, bundled once by the local esbuild. */
let s: Synthesized;
let t: CfnTemplate;
before(() => {
  s = synth({}, { bundle: true });
  t = s.template;
});

const one = (type: string): [string, Record<string, Cfn>] => {
  const found = resourcesOfType(t, type);
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]!;
};

describe('data', () => {
  test('the table: keys and gsi1 from the shared design, on-demand, PITR, TTL on expiresAt, KMS encryption', () => {
    const [, table] = one('AWS::DynamoDB::Table');
    const design = createTableInput('x');
    assert.deepEqual(table.KeySchema, design.KeySchema);
    assert.deepEqual(
      [...table.AttributeDefinitions].sort((a: Cfn, b: Cfn) => a.AttributeName.localeCompare(b.AttributeName)),
      [...design.AttributeDefinitions].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName)),
    );
    assert.deepEqual(table.GlobalSecondaryIndexes, design.GlobalSecondaryIndexes);
    assert.equal(table.GlobalSecondaryIndexes[0]!.IndexName, TABLE_KEYS.gsi1);
    assert.equal(table.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(table.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(table.TimeToLiveSpecification, { AttributeName: TABLE_KEYS.ttl, Enabled: true });
    // SSE enabled without a key: the AWS-managed KMS key (SSEType defaults to KMS).
    assert.equal(table.SSESpecification.SSEEnabled, true);
    assert.equal(table.SSESpecification.KMSMasterKeyId, undefined);
  });

  test('the prompts bucket (recordings are prompt files): encrypted, all public access blocked, ACLs off, TLS enforced, lifecycle rules', () => {
    const buckets = serviceResourcesOfType(t, 'AWS::S3::Bucket');
    assert.equal(buckets.length, 1, 'no recordings bucket of its own');
    const policies = resourcesOfType(t, 'AWS::S3::BucketPolicy');
    for (const [id, b] of buckets) {
      assert.equal(
        b.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
        'AES256',
      );
      assert.deepEqual(b.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(b.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      assert.ok(b.LifecycleConfiguration.Rules.length >= 2, `${id} has lifecycle rules`);
      assert.ok(
        b.LifecycleConfiguration.Rules.some((r: Cfn) => r.AbortIncompleteMultipartUpload?.DaysAfterInitiation === 1),
      );
      const policy = policies.find(([, p]) => referencedIds(p.Bucket).has(id));
      assert.ok(policy, `${id} has a bucket policy`);
      const statements = policy[1].PolicyDocument.Statement as Cfn[];
      assert.ok(
        statements.some((st) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
        `${id} denies requests without TLS`,
      );
      assert.ok(
        statements.some((st) => st.Effect === 'Deny' && st.Condition?.NumericLessThan?.['s3:TlsVersion'] === 1.2),
        `${id} denies TLS below 1.2`,
      );
      assert.ok(!statements.some((st) => st.Effect === 'Allow' && st.Principal === '*'), `${id} is not public`);
    }
  });
});

describe('IAM', () => {
  test('no statement grants wildcard actions on the table, buckets or bus; no "*" action anywhere', () => {
    const dataIds = new Set([
      ...resourcesOfType(t, 'AWS::DynamoDB::Table').map(([id]) => id),
      ...serviceResourcesOfType(t, 'AWS::S3::Bucket').map(([id]) => id),
      ...resourcesOfType(t, 'AWS::Events::EventBus').map(([id]) => id),
    ]);
    assert.equal(dataIds.size, 3, 'the table, the prompts bucket (recordings included) and the bus');
    let checked = 0;
    let touchingData = 0;
    const statementsOf = (type: string, r: Record<string, Cfn>): Cfn[] => {
      if (type === 'AWS::IAM::Policy' || type === 'AWS::IAM::ManagedPolicy') return r.PolicyDocument.Statement;
      return (r.Policies ?? []).flatMap((p: Cfn) => p.PolicyDocument.Statement);
    };
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::Role']) {
      for (const [id, r] of resourcesOfType(t, type)) {
        for (const st of statementsOf(type, r)) {
          checked++;
          const actions = [st.Action].flat() as string[];
          assert.ok(!actions.includes('*'), `${id} grants "*"`);
          assert.equal(st.NotAction, undefined, `${id} uses NotAction`);
          const refs = referencedIds(st.Resource);
          if ([...refs].some((r) => dataIds.has(r))) {
            touchingData++;
            for (const a of actions)
              assert.ok(!a.includes('*'), `${id} grants wildcard action ${a} on a data resource`);
          }
        }
      }
    }
    assert.ok(checked > 10 && touchingData >= 8, `walked ${checked} statements, ${touchingData} on data resources`);
  });

  test('traces: the dispatcher and the media nodes export to X-Ray (PutSpans only), every function has TRACES_EXPORTER=xray; traces=none grants nothing', () => {
    const xrayGrants = (tpl: CfnTemplate) =>
      resourcesOfType(tpl, 'AWS::IAM::Policy').flatMap(([, p]) =>
        (p.PolicyDocument.Statement as Cfn[])
          .filter((st) => [st.Action].flat().some((a: string) => a.startsWith('xray:')))
          .map((st) => ({ actions: [st.Action].flat(), roles: referencedIds(p.Roles), resource: st.Resource })),
      );
    const granted = xrayGrants(t);
    for (const g of granted) {
      assert.deepEqual(g.actions, ['xray:PutSpans', 'xray:PutSpansForIndexing']);
      assert.equal(g.resource, '*', 'the X-Ray span actions take no resource');
    }
    const rolesWithXray = new Set(granted.flatMap((g) => [...g.roles]));
    const fns = serviceResourcesOfType(t, 'AWS::Lambda::Function').filter(
      ([, fn]) => fn.Environment?.Variables?.TABLE_NAME,
    );
    assert.ok(fns.length >= 5, `${fns.length} service functions`);
    for (const [id, fn] of fns) {
      assert.equal(fn.Environment.Variables.TRACES_EXPORTER, 'xray', id);
      const [role] = [...referencedIds(fn.Role)];
      const dispatcher = /tenant callbacks/.test(fn.Description);
      assert.equal(rolesWithXray.has(role!), dispatcher, `${id}: only the dispatcher's role may put spans`);
    }
    const [nodeRole] = resourcesOfType(t, 'AWS::IAM::Role').find(([id]) => id.includes('NodeRole')) ?? [];
    assert.ok(nodeRole && rolesWithXray.has(nodeRole), 'the media nodes’ role may put spans');
    const off = synth({ traces: 'none' }).template;
    assert.deepEqual(xrayGrants(off), []);
    for (const [id, fn] of resourcesOfType(off, 'AWS::Lambda::Function').filter(
      ([, f]) => f.Environment?.Variables?.TABLE_NAME,
    ))
      assert.equal(fn.Environment.Variables.TRACES_EXPORTER, 'none', id);
  });

  test('read-only route groups (sessions, usage) read the table and may write only an API key’s lastUsedAt', () => {
    const policies = resourcesOfType(t, 'AWS::IAM::Policy');
    for (const group of ['sessions', 'usage']) {
      const [fnId, fn] =
        serviceResourcesOfType(t, 'AWS::Lambda::Function').find(
          ([, f]) => f.Description === `API routes of the "${group}" group`,
        ) ?? [];
      assert.ok(fnId, `the ${group} Lambda`);
      const [role] = [...referencedIds(fn!.Role)];
      const statements = policies
        .filter(([, p]) => referencedIds(p.Roles).has(role!))
        .flatMap(([, p]) => p.PolicyDocument.Statement as Cfn[])
        .filter((st) => [st.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
      const writes = statements.filter((st) =>
        [st.Action].flat().some((a: string) => /:(Put|Update|Delete|BatchWrite)/.test(a)),
      );
      // Authentication touches the key (tenant-store.ts touchApiKey): without this every request answered 500.
      assert.equal(writes.length, 1, `${group}: one write statement`);
      assert.deepEqual([writes[0].Action].flat(), ['dynamodb:UpdateItem']);
      assert.deepEqual(writes[0].Condition, {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['APIKEY#*'] },
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', API_KEY_LAST_USED] },
      });
    }
  });

  test('Polly: only polly:SynthesizeSpeech, and only for the media nodes', () => {
    const polly = resourcesOfType(t, 'AWS::IAM::Policy').flatMap(([, p]) =>
      (p.PolicyDocument.Statement as Cfn[]).filter((st) =>
        [st.Action].flat().some((a: string) => a.startsWith('polly:')),
      ),
    );
    assert.equal(polly.length, 1);
    assert.deepEqual([polly[0].Action].flat(), ['polly:SynthesizeSpeech']);
  });

  test('a media node may complete the lifecycle action of its own group only', () => {
    const [asgId] = one('AWS::AutoScaling::AutoScalingGroup');
    const statements = resourcesOfType(t, 'AWS::IAM::Policy').flatMap(([, p]) => p.PolicyDocument.Statement as Cfn[]);
    const complete = statements.find((st) => [st.Action].flat().includes('autoscaling:CompleteLifecycleAction'));
    assert.ok(complete);
    assert.ok(referencedIds(complete.Resource).has(asgId));
  });
});

describe('events', () => {
  test('one rule per shared rule: the synthesized EventPattern equals the shared definition', () => {
    const [busId] = one('AWS::Events::EventBus');
    const [dlqId] = one('AWS::SQS::Queue');
    // The bus's rules but the event log's (infra/test/event-log.test.ts).
    const rules = resourcesOfType(t, 'AWS::Events::Rule').filter(
      ([, r]) => referencedIds(r.EventBusName).has(busId) && !/metadata/.test(String(r.Description)),
    );
    assert.equal(rules.length, RULES.length);
    for (const def of RULES) {
      const found = rules.find(([, r]) => r.Description === def.description);
      assert.ok(found, `rule ${def.name}`);
      const [, rule] = found;
      assert.deepEqual(rule.EventPattern, JSON.parse(JSON.stringify(def.pattern)));
      assert.deepEqual(referencedIds(rule.EventBusName), new Set([busId]));
      assert.equal(rule.Targets.length, 1);
      assert.ok(referencedIds(rule.Targets[0].DeadLetterConfig.Arn).has(dlqId));
      const targetFn = [...referencedIds(rule.Targets[0].Arn)][0]!;
      assert.match(String(t.Resources[targetFn]!.Properties!.Description), /callbacks/i, 'target is the dispatcher');
    }
  });

  test('no archive of whole events (the event log keeps metadata); the DLQ is encrypted and TLS-only', () => {
    assert.equal(resourcesOfType(t, 'AWS::Events::Archive').length, 0);
    const [dlqId, dlq] = one('AWS::SQS::Queue');
    assert.equal(dlq.SqsManagedSseEnabled, true);
    const [, qp] = one('AWS::SQS::QueuePolicy');
    assert.ok(referencedIds(qp.Queues).has(dlqId));
    assert.ok(
      (qp.PolicyDocument.Statement as Cfn[]).some((st) => st.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
    );
  });
});

describe('control plane', () => {
  test('every Lambda is nodejs22.x on arm64 with a retained-for-a-while log group', () => {
    const fns = serviceResourcesOfType(t, 'AWS::Lambda::Function');
    assert.equal(fns.length, ROUTE_GROUPS.length + 2, 'one per route group, the dispatcher and the node sweeper');
    const logGroups = new Map(resourcesOfType(t, 'AWS::Logs::LogGroup'));
    for (const [id, fn] of fns) {
      assert.equal(fn.Runtime, 'nodejs22.x', id);
      assert.deepEqual(fn.Architectures, ['arm64'], id);
      assert.equal(fn.Handler, 'index.handler', id);
      const lg = [...referencedIds(fn.LoggingConfig.LogGroup)][0]!;
      assert.ok(logGroups.get(lg)?.RetentionInDays > 0, `${id} logs have a retention`);
      assert.equal(fn.Environment.Variables.CALLBACK_URL_POLICY, 'public-https');
      assert.ok(referencedIds(fn.Environment.Variables.TABLE_NAME).size === 1);
      assert.match(JSON.stringify(fn.Environment.Variables.PROMPT_STORE), /"s3:"/);
      assert.equal(fn.Environment.Variables.SIP_DOMAIN, 'sip.example.com');
    }
  });

  test('Powertools settings on every Lambda: service name, metrics namespace, log level as LOG_LEVEL', () => {
    const fns = serviceResourcesOfType(t, 'AWS::Lambda::Function');
    for (const [id, fn] of fns) {
      const vars = fn.Environment.Variables;
      const sweeper = /dead media nodes/.test(fn.Description);
      assert.equal(vars.POWERTOOLS_SERVICE_NAME, sweeper ? 'node-sweeper' : 'control-plane', id);
      assert.equal(vars.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE, id);
      assert.equal(vars.POWERTOOLS_METRICS_DISABLED, undefined, `${id}: metrics are written on AWS`);
      assert.equal(fn.LoggingConfig.LogFormat, 'JSON', id);
      assert.equal(fn.LoggingConfig.ApplicationLogLevel, String(vars.LOG_LEVEL).toUpperCase(), id);
    }
  });

  test('the HTTP API has exactly the shared routes, each group behind its own Lambda', () => {
    const routes = resourcesOfType(t, 'AWS::ApiGatewayV2::Route');
    assert.deepEqual(routes.map(([, r]) => r.RouteKey).sort(), ROUTES.map((r) => r.routeKey).sort());
    const integrations = new Map(resourcesOfType(t, 'AWS::ApiGatewayV2::Integration'));
    const fnOfRoute = (routeKey: string) => {
      const route = routes.find(([, r]) => r.RouteKey === routeKey)![1];
      const integrationId = [...referencedIds(route.Target)][0]!;
      return [...referencedIds(integrations.get(integrationId)!.IntegrationUri)][0]!;
    };
    const fnOfGroup = new Map<string, string>();
    for (const r of ROUTES) {
      const fn = fnOfRoute(r.routeKey);
      assert.equal(fnOfGroup.get(r.group) ?? fn, fn, `${r.routeKey} goes to the ${r.group} Lambda`);
      fnOfGroup.set(r.group, fn);
    }
    assert.equal(new Set(fnOfGroup.values()).size, ROUTE_GROUPS.length);
    const [, stage] = one('AWS::ApiGatewayV2::Stage');
    assert.equal(stage.StageName, '$default');
    assert.ok(stage.AccessLogSettings.DestinationArn);
    assert.ok(stage.DefaultRouteSettings.ThrottlingRateLimit > 0);
    const signup = ROUTES.find((r) => !r.auth && r.routeKey.startsWith('POST '));
    if (signup) {
      assert.ok(stage.RouteSettings[signup.routeKey].ThrottlingRateLimit <= 5);
      const [stageId] = one('AWS::ApiGatewayV2::Stage');
      const signupRouteId = routes.find(([, r]) => r.RouteKey === signup.routeKey)![0];
      assert.ok([t.Resources[stageId]!.DependsOn].flat().includes(signupRouteId), 'the stage waits for the route');
    }
  });

  test('the dispatcher outlasts the worst delivery: 15 s × (5 retries + 1) + fallback; async failures go to the DLQ', () => {
    const dispatcher = serviceResourcesOfType(t, 'AWS::Lambda::Function').find(([, f]) =>
      /callbacks/i.test(f.Description),
    )!;
    assert.ok(dispatcher[1].Timeout >= 15 * 6 + 15, `timeout ${dispatcher[1].Timeout}`);
    assert.ok(dispatcher[1].Timeout <= 900);
    assert.equal(dispatcher[1].ReservedConcurrentExecutions, undefined, 'no reserved concurrency (documented)');
    const [, invokeConfig] = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(([, c]) =>
      referencedIds(c.FunctionName).has(dispatcher[0]),
    )!;
    assert.ok(invokeConfig.DestinationConfig.OnFailure.Destination);
  });

  test('the node sweeper: every minute by EventBridge Scheduler; table read/write and PutEvents on the bus only', () => {
    const [fnId, fn] = serviceResourcesOfType(t, 'AWS::Lambda::Function').find(([, f]) =>
      /dead media nodes/.test(f.Description),
    )!;
    assert.match(JSON.stringify(fn.Environment.Variables.EVENT_BUS_NAME), /Bus/);
    assert.ok(fn.Timeout < 60, 'a run ends before the next one starts');
    const [, schedule] = one('AWS::Scheduler::Schedule');
    assert.equal(schedule.ScheduleExpression, 'rate(1 minute)');
    assert.equal(schedule.State, 'ENABLED');
    assert.ok(referencedIds(schedule.Target.Arn).has(fnId));
    assert.equal(schedule.Target.RetryPolicy.MaximumRetryAttempts, 0, 'the next run is the retry');
    // The scheduler's role may invoke the sweeper and nothing else.
    const schedulerRole = [...referencedIds(schedule.Target.RoleArn)][0]!;
    const policies = resourcesOfType(t, 'AWS::IAM::Policy');
    const statementsOf = (roleId: string) =>
      policies
        .filter(([, p]) => referencedIds(p.Roles).has(roleId))
        .flatMap(([, p]) => p.PolicyDocument.Statement as Cfn[]);
    const invoke = statementsOf(schedulerRole);
    assert.ok(invoke.length > 0);
    for (const st of invoke) {
      assert.deepEqual([st.Action].flat(), ['lambda:InvokeFunction']);
      assert.deepEqual(referencedIds(st.Resource), new Set([fnId]));
    }
    // The sweeper's own grants: the table's item-level actions and events:PutEvents on the bus; nothing else.
    const [tableId] = one('AWS::DynamoDB::Table');
    const [busId] = one('AWS::Events::EventBus');
    const mine = statementsOf([...referencedIds(fn.Role)][0]!);
    const actions = new Set(mine.flatMap((st) => [st.Action].flat() as string[]));
    assert.deepEqual([...actions].sort(), [
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:PutEvents',
    ]);
    for (const st of mine) {
      const on = referencedIds(st.Resource);
      if ([st.Action].flat().includes('events:PutEvents')) assert.deepEqual(on, new Set([busId]));
      else assert.deepEqual(on, new Set([tableId]));
    }
  });
});

describe('media nodes', () => {
  test('the group uses a launch template (IMDSv2, AMI from an SSM public parameter) and has the drain hook', () => {
    assert.equal(resourcesOfType(t, 'AWS::AutoScaling::LaunchConfiguration').length, 0);
    const [asgId, asg] = one('AWS::AutoScaling::AutoScalingGroup');
    const [ltId, lt] = one('AWS::EC2::LaunchTemplate');
    assert.equal(asg.LaunchConfigurationName, undefined);
    assert.ok(referencedIds(asg.LaunchTemplate.LaunchTemplateId).has(ltId));
    assert.equal(asg.MinSize, '2', 'two nodes by default');
    assert.ok(asg.MetricsCollection?.length, 'group metrics feed the missing-node alarm');
    const data = lt.LaunchTemplateData;
    assert.equal(data.MetadataOptions.HttpTokens, 'required');
    assert.equal(data.InstanceType, 'c7g.large', 'compute-optimised Graviton by default');
    const amiParam = t.Parameters![[...referencedIds(data.ImageId)][0]!]!;
    assert.equal(amiParam.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    assert.match(String(amiParam.Default), /^\/aws\/service\/debian\/.*arm64$/);
    assert.ok(data.BlockDeviceMappings.every((b: Cfn) => b.Ebs.Encrypted === true));

    // The hook is in the group's own specification: a separate hook resource would be deleted before the group
    // at teardown, and the nodes the teardown terminates would not drain.
    assert.equal(resourcesOfType(t, 'AWS::AutoScaling::LifecycleHook').length, 0);
    assert.ok(asgId);
    const hooks = asg.LifecycleHookSpecificationList as Cfn[];
    assert.equal(hooks.length, 2, 'the launch hook (checked boots) and the drain hook');
    const hook = hooks.find((h) => h.LifecycleHookName === 'sipms-drain')!;
    assert.equal(hook.LifecycleTransition, 'autoscaling:EC2_INSTANCE_TERMINATING');
    assert.equal(hook.DefaultResult, 'CONTINUE');
    assert.equal(hook.LifecycleHookName, 'sipms-drain');
    assert.ok(hook.HeartbeatTimeout > 15 * 60, 'longer than the drain bound');
  });

  test('node metrics and logs: a log group each; the nodes may add streams and events to them, nothing else', () => {
    const groups = resourcesOfType(t, 'AWS::Logs::LogGroup').filter(([, lg]) =>
      /media-node\/emf$/.test(String(lg.LogGroupName)),
    );
    assert.equal(groups.length, 1, 'one log group for the EMF records');
    const [groupId, group] = groups[0]!;
    assert.equal(group.LogGroupName, '/sip-mediaserver/dev/media-node/emf');
    assert.equal(group.RetentionInDays, 30, 'logRetentionDays');

    const roleId = nodeRoleId(t);
    const policies = resourcesOfType(t, 'AWS::IAM::Policy').filter(([, p]) => referencedIds(p.Roles).has(roleId));
    const statements = policies.flatMap(([, p]) => p.PolicyDocument.Statement as Cfn[]);
    const [nodeLogsId, nodeLogs] = resourcesOfType(t, 'AWS::Logs::LogGroup').find(
      ([, lg]) => lg.LogGroupName === '/sip-mediaserver/dev/media-node/logs',
    )!;
    assert.equal(nodeLogs.RetentionInDays, 30, 'logRetentionDays');
    const logActions = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('logs:')));
    assert.equal(logActions.length, 2, JSON.stringify(logActions));
    for (const st of logActions) {
      assert.deepEqual([st.Action].flat().sort(), [
        'logs:CreateLogStream',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
      ]);
    }
    assert.deepEqual(
      logActions.flatMap((st) => [...referencedIds(st.Resource)].filter((id) => !id.startsWith('AWS::'))).sort(),
      [groupId, nodeLogsId].sort(),
      'on the EMF and node log groups only',
    );
    assert.ok(
      !statements.some((st) => [st.Action].flat().some((a: string) => /^cloudwatch:/.test(a))),
      'the nodes need no PutMetricData: CloudWatch Logs extracts the metrics',
    );
  });

  test('public subnets only, no NAT; the security group opens SIP 5060 UDP/TCP and the RTP range (no 5061: no TLS listener), and the conference relay to the VPC only', () => {
    assert.equal(resourcesOfType(t, 'AWS::EC2::NatGateway').length, 0);
    for (const [, subnet] of resourcesOfType(t, 'AWS::EC2::Subnet')) assert.equal(subnet.MapPublicIpOnLaunch, true);
    const [, sg] = resourcesOfType(t, 'AWS::EC2::SecurityGroup').find(([, g]) =>
      /SIP media nodes/.test(g.GroupDescription),
    )!;
    const rules = (sg.SecurityGroupIngress as Cfn[]).map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort}`);
    assert.deepEqual(rules.sort(), ['tcp 5060-5060', 'udp 30000-39999', 'udp 5060-5060', 'udp 5090-5090'].sort());
    const relay = (sg.SecurityGroupIngress as Cfn[]).find((r) => r.FromPort === 5090)!;
    assert.equal(relay.CidrIp['Fn::GetAtt']?.[1], 'CidrBlock', 'the conference relay: from the VPC only');
    // The image pipeline's build instances: outbound only.
    const build = resourcesOfType(t, 'AWS::EC2::SecurityGroup').filter(
      ([, g]) => !/SIP media nodes/.test(g.GroupDescription),
    );
    for (const [, g] of build) assert.equal(g.SecurityGroupIngress, undefined);
  });

  test('operability: alarms, a dashboard and the outputs an operator needs', () => {
    const alarms = resourcesOfType(t, 'AWS::CloudWatch::Alarm');
    const described = alarms.map(([, a]) => String(a.AlarmDescription));
    for (const what of [
      /dispatcher failed/,
      /throttled/,
      /dead-letter/,
      /5xx/,
      /media nodes/i,
      /event loop/,
      /refuses new calls for its load/,
    ]) {
      assert.ok(
        described.some((d) => what.test(d)),
        `an alarm for ${what}`,
      );
    }
    for (const [, a] of alarms) assert.ok(a.AlarmActions?.length === 1, 'alarms notify the topic');
    const [, dashboard] = one('AWS::CloudWatch::Dashboard');
    // The body is a Fn::Join of JSON text and references: rendered with placeholders, it parses.
    const body = JSON.parse(
      (dashboard.DashboardBody['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'REF')).join(''),
    ) as { widgets: { properties: { title?: string; metrics?: unknown[][] } }[] };
    const widget = (title: RegExp) => {
      const w = body.widgets.find((x) => title.test(x.properties.title ?? ''));
      assert.ok(w, `a widget titled ${title}`);
      return w.properties.metrics!.map((m) => m.filter((x) => typeof x === 'string').join(' '));
    };
    const outcomes = widget(/^Callbacks by outcome/);
    for (const o of ['reply', 'fallback', 'duplicate']) {
      assert.ok(
        outcomes.some(
          (m) => m.startsWith(`${METRICS_NAMESPACE} ${METRIC.callbacks}`) && m.includes(`${DIMENSION.outcome} ${o}`),
        ),
        `callbacks with outcome ${o}: ${outcomes.join(' | ')}`,
      );
    }
    const latency = JSON.stringify(body.widgets.find((x) => /delivery latency/.test(x.properties.title ?? '')));
    assert.match(latency, new RegExp(`"${METRIC.callbackLatency}"`));
    assert.match(latency, /"stat":"p50"/);
    assert.match(latency, /"stat":"p99"/);
    assert.ok(widget(/Webhook attempts/).every((m) => m.includes(METRIC.webhookAttempts)));
    const api = widget(/API 5xx by route group/);
    for (const g of ROUTE_GROUPS) {
      assert.ok(
        api.some((m) => m.includes(`${DIMENSION.routeGroup} ${g}`) && m.includes(`${DIMENSION.statusClass} 5xx`)),
        `5xx of route group ${g}`,
      );
    }
    assert.ok(api.every((m) => m.includes(METRIC.apiRequests) && !/tenantId|sessionId/.test(m)));

    // The media nodes' EMF metrics, this stage's only: per node by SEARCH over [Stage, NodeId], the fleet from the
    // [Stage] rollup (another deployment in the account and region writes another Stage).
    type Entry = (string | Record<string, unknown>)[];
    const entries = (title: RegExp): Entry[] => {
      const w = body.widgets.find((x) => title.test(x.properties.title ?? ''));
      assert.ok(w, `a widget titled ${title}`);
      return w.properties.metrics as Entry[];
    };
    const search = (e: Entry[], metric: string, stat: string) =>
      e.some((m) => {
        const expr = String((m[0] as { expression?: string }).expression ?? '');
        return (
          expr ===
          `SEARCH('{${METRICS_NAMESPACE},${NODE_DIMENSION.stage},${NODE_DIMENSION.nodeId}} Stage="dev" MetricName="${metric}"', '${stat}', 60)`
        );
      });
    /** A rollup metric (namespace, name, Stage=dev and no other dimension) with its rendering options. */
    const rollup = (e: Entry[], metric: string) =>
      e
        .filter(
          (m) =>
            m[0] === METRICS_NAMESPACE &&
            m[1] === metric &&
            m[2] === NODE_DIMENSION.stage &&
            m[3] === 'dev' &&
            typeof m[4] === 'object',
        )
        .map((m) => m[4] as { stat?: string; period?: number; yAxis?: string; label?: string });
    for (const w of body.widgets) {
      for (const m of (w.properties.metrics ?? []) as Entry[]) {
        if (m[0] === METRICS_NAMESPACE && Object.values(NODE_METRIC).includes(m[1] as never)) {
          assert.equal(m[2], NODE_DIMENSION.stage, `${m[1]} in "${w.properties.title}" is read for this stage`);
        }
      }
    }
    const active = entries(/active calls per node/);
    assert.ok(search(active, NODE_METRIC.activeCalls, 'Maximum'), 'active calls per node');
    assert.deepEqual(
      rollup(active, NODE_METRIC.activeCalls).map((o) => [o.stat, o.period ?? 300, o.yAxis]),
      [['Sum', 60, 'right']],
      'the fleet total: one record per node per minute, summed',
    );
    const calls = entries(/calls started and ended/);
    assert.equal(rollup(calls, NODE_METRIC.callsStarted)[0]?.stat, 'Sum');
    assert.equal(rollup(calls, NODE_METRIC.callsEnded)[0]?.stat, 'Sum');
    const sip = entries(/SIP 5xx and 4xx/);
    assert.equal(rollup(sip, NODE_METRIC.sipResponses5xx)[0]?.stat, 'Sum');
    const roundTrip = entries(/callback round trip/);
    assert.deepEqual(
      rollup(roundTrip, NODE_METRIC.callbackRoundTrip).map((o) => o.stat),
      ['p50', 'p99'],
      'percentiles of the EMF distribution',
    );
    assert.equal(rollup(roundTrip, NODE_METRIC.dtmfToNextPrompt)[0]?.stat, 'p99');
    const lag = entries(/event-loop lag/);
    assert.ok(search(lag, NODE_METRIC.eventLoopLagP99, 'Maximum'), 'event-loop lag per node');
    assert.equal(rollup(lag, NODE_METRIC.eventLoopLagP99)[0]?.stat, 'Maximum', 'the worst node');
    assert.ok(search(entries(/RTP ports in use/), NODE_METRIC.rtpPortsInUse, 'Maximum'));

    const [, lagAlarm] = alarms.find(([, a]) => /event loop/.test(String(a.AlarmDescription)))!;
    const [lagStat] = (lagAlarm.Metrics as Cfn[]).map((m) => m.MetricStat);
    assert.equal(lagStat.Metric.Namespace, METRICS_NAMESPACE);
    assert.equal(lagStat.Metric.MetricName, NODE_METRIC.eventLoopLagP99);
    assert.deepEqual(lagStat.Metric.Dimensions, [{ Name: 'Stage', Value: 'dev' }], "on the stage's rollup: any node");
    assert.equal(lagStat.Stat, 'Maximum');
    assert.equal(lagStat.Period, 60);
    assert.equal(lagAlarm.EvaluationPeriods, 5);
    assert.equal(lagAlarm.Threshold, 0.05);
    assert.equal(lagAlarm.TreatMissingData, 'notBreaching', 'no nodes, or EMF off: no alarm');
    const [, shedAlarm] = alarms.find(([, a]) => /for its load/.test(String(a.AlarmDescription)))!;
    const [shedStat] = (shedAlarm.Metrics as Cfn[]).map((m) => m.MetricStat);
    assert.equal(shedStat.Metric.MetricName, NODE_METRIC.overloadShedPercent);
    assert.deepEqual(shedStat.Metric.Dimensions, [{ Name: 'Stage', Value: 'dev' }]);
    assert.equal(shedStat.Stat, 'Maximum');
    assert.equal(shedAlarm.EvaluationPeriods, 3);
    assert.equal(shedAlarm.Threshold, 10);
    for (const o of [
      'ApiUrl',
      'SipDomain',
      'PromptsBucketName',
      'MediaNodeAddressesCommand',
      'NodeImagePipelineArn',
      'NodeImageParameter',
    ]) {
      assert.ok(t.Outputs?.[o], `output ${o}`);
    }
    assert.equal(t.Outputs?.RecordingsBucketName, undefined, 'recordings are in the prompts bucket');
    for (const [, lg] of resourcesOfType(t, 'AWS::Logs::LogGroup')) assert.ok(lg.RetentionInDays > 0);
  });
});

describe('bundles (local esbuild, no Docker)', () => {
  const assetDirs = () =>
    readdirSync(s.outdir)
      .filter((d) => d.startsWith('asset.'))
      .map((d) => join(s.outdir, d));

  test('each Lambda bundle is a small ESM file with the AWS SDK left to the runtime', () => {
    const bundles = assetDirs()
      .map((d) => join(d, 'index.mjs'))
      .filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      });
    assert.equal(bundles.length, ROUTE_GROUPS.length + 2, 'route groups, the dispatcher and the node sweeper');
    for (const file of bundles) {
      const bytes = statSync(file).size;
      console.log(`lambda bundle ${file.split('/').at(-2)!.slice(0, 14)}: ${(bytes / 1024).toFixed(0)} KiB`);
      assert.ok(bytes < 1.5 * 1024 * 1024, `${file} is ${bytes} bytes`);
      const code = readFileSync(file, 'utf8');
      assert.ok(!code.includes('DynamoDBServiceException'), 'the DynamoDB client is not bundled');
    }
  });

  test('the media-node bundle builds and parses as a module', async () => {
    const main = assetDirs()
      .map((d) => join(d, 'main.mjs'))
      .find((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      });
    assert.ok(main, 'media-node bundle present');
    const bytes = statSync(main).size;
    console.log(`media-node bundle: ${(bytes / 1024 / 1024).toFixed(2)} MiB`);
    assert.ok(bytes < 20 * 1024 * 1024);
    // Self-contained: EC2 has no AWS SDK or node_modules, so only Node built-ins (`node:fs`, or `util` as some
    // packages' ES builds write it) may stay imports. An import statement starts the code or follows `;`, `}` or
    // a line break: the word inside a minified string ("--import") is not one.
    const code = readFileSync(main, 'utf8');
    const imports =
      /(?:^|[;}\n])\s*import\s*(?:(?:\{[^}]*\}|\*\s*as\s*[\w$]+|[\w$]+)\s*(?:,\s*\{[^}]*\})?\s*from\s*)?"([^"]+)"/g;
    const bare = [...code.matchAll(imports)].map((m) => m[1]!).filter((m) => !isBuiltin(m));
    // The SDK loads the CRT signer only for SigV4a (multi-region access points), inside a try: never here.
    const OPTIONAL = new Set(['@aws-sdk/signature-v4-crt']);
    assert.deepEqual(
      [...new Set(bare)].filter((m) => !OPTIONAL.has(m)),
      [],
    );
    assert.ok(code.includes('DynamoDBServiceException'), 'the AWS SDK is bundled');
    // The boot script's static files travel in the same asset, exactly as the fleet made them.
    for (const [path, text] of Object.entries(s.stack.fleet.bootFiles)) {
      assert.equal(readFileSync(join(main, '..', path), 'utf8'), text, path);
    }
    assert.ok(Object.keys(s.stack.fleet.bootFiles).includes('boot/units/sipms-media-node.service'));
    const { spawnSync } = await import('node:child_process');
    const check = spawnSync(process.execPath, ['--check', main], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });
});
