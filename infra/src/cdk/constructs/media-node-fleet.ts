import { METRICS_NAMESPACE, NODE_DIMENSION, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { Aws, Duration, RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type BootSettings, bootFiles, bootScript, CONFERENCE_RELAY_PORT } from '../media-node-boot/boot-script.js';
import { EMF_LOG_FILE } from '../media-node-boot/systemd-units.js';
import {
  allowSipTls,
  allowSoftphoneWss,
  grantTlsCertificate,
  type TlsCertificateSource,
  tlsEnvironment,
} from '../media-node-boot/tls-certificate.js';
import { MediaNodeBundle } from './media-node-bundle.js';
import { type NodeImageMode, nodeMachineImage } from './node-image-pipeline.js';
import { retentionFor, xraySpansStatement } from './service-function.js';

/** The termination hook's name; the node reads it as ASG_LIFECYCLE_HOOK_NAME. */
export const DRAIN_HOOK_NAME = 'sipms-drain';
/** The launch hook's name: the boot script completes it once the node is ready (docs/deploy.md "Checked boots"). */
export const LAUNCH_HOOK_NAME = 'sipms-launch';
/** Boot (3–5 minutes), a wait for a free Elastic IP (up to ~10) and the readiness checks (up to 4), with room. */
export const LAUNCH_HOOK_TIMEOUT = Duration.minutes(30);
/** The tag that marks the pool's Elastic IPs and the nodes allowed to take them. */
export const ELASTIC_IP_POOL_TAG = 'sipms:eip-pool';
export const RTPENGINE_NG_PORT = 22222;
export const DRACHTIO_ADMIN_PORT = 9022;
/** One EMF record per node per minute: CloudWatch's standard resolution. */
export const NODE_METRICS_INTERVAL_MS = 60_000;

/** The log group of the nodes' EMF records: CloudWatch Logs turns each record into the nodes' metrics. */
export function nodeMetricsLogGroupName(stage: string): string {
  return `/sip-mediaserver/${stage}/media-node/emf`;
}

/** The log group of the nodes' own logs: their units' journals and the boot log, one stream per node and source. */
export function nodeLogsLogGroupName(stage: string): string {
  return `/sip-mediaserver/${stage}/media-node/logs`;
}

export interface MediaNodeFleetProps {
  stage: string;
  /** How long the nodes' EMF records are kept (the metrics themselves are CloudWatch's, kept 15 months). */
  logRetentionDays: number;
  instanceType: string;
  cpuArch: 'arm64' | 'amd64';
  /** SSM public parameter holding the AMI id (resolved by CloudFormation at deploy time, no lookup). */
  amiSsmParameter: string;
  /** `baked`: boot the image pipeline's AMI (nodeAmiParameterName) instead of amiSsmParameter. */
  nodeImage: NodeImageMode;
  /** With one, the nodes fetch it at boot and serve SIP over TLS on 5061. */
  sipTlsCertificate: TlsCertificateSource | undefined;
  minNodes: number;
  maxNodes: number;
  /** Size of the Elastic IP pool (0: none); names the pool by `poolName`. */
  elasticIps: number;
  poolName: string;
  /** The average of active calls per node in service that target tracking keeps. */
  targetCallsPerNode: number;
  signaling: 'builtin' | 'drachtio';
  rtpengine: 'managed' | 'system';
  sipPort: number;
  sipAllowedCidrs: string[];
  rtpPortMin: number;
  rtpPortMax: number;
  drainTimeout: Duration;
  nodeVersion: string;
  drachtioImage: string;
  /** Settings identical on every node: table, bus, buckets, SIP domain, Polly defaults. */
  environment: Record<string, string>;
}

/**
 * The media plane: a VPC with public subnets in two AZs only (nodes need public addresses for SIP and RTP,
 * so no NAT gateway), a security group for SIP and the RTP range (no SSH: SSM Session Manager), a pool of
 * Elastic IPs the nodes take their fixed SIP address from, and an Auto Scaling group of Debian nodes from a
 * launch template whose user data installs and starts the media node. A launch lifecycle hook keeps a node
 * out of service until it answers SIP and is in the registry; a termination hook gives a node `drainTimeout`
 * to finish its calls before it goes away. Target tracking keeps the active calls per node near a target; a
 * new launch template version (a new bundle or setting) rolls through the group one node at a time.
 */
export class MediaNodeFleet extends Construct {
  readonly vpc: ec2.Vpc;
  readonly securityGroup: ec2.SecurityGroup;
  readonly role: iam.Role;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly group: autoscaling.AutoScalingGroup;
  readonly bundle: MediaNodeBundle;
  /** Where the CloudWatch agent on each node ships its EMF records (docs/operations.md). */
  readonly metricsLogGroup: logs.LogGroup;
  /** The nodes' logs (journals of their units, boot log), shipped by the same agent. */
  readonly nodeLogGroup: logs.LogGroup;
  /** The fixed SIP addresses (empty with elasticIps=0). */
  readonly elasticIps: ec2.CfnEIP[] = [];
  readonly scalingPolicy: autoscaling.CfnScalingPolicy;
  /** What the user data was made from, and the files the bundle carries for it (tests). */
  readonly bootSettings: BootSettings;
  readonly bootFiles: Record<string, string>;

  constructor(scope: Construct, id: string, props: MediaNodeFleetProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: true },
      ],
      // Restricting the default security group needs a custom-resource Lambda; nothing uses that group.
      restrictDefaultSecurityGroup: false,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc: this.vpc,
      description: 'SIP media nodes: SIP signaling and the RTP port range',
      allowAllOutbound: true,
    });
    for (const cidr of props.sipAllowedCidrs) {
      const peer = ec2.Peer.ipv4(cidr);
      this.securityGroup.addIngressRule(peer, ec2.Port.udp(props.sipPort), 'SIP over UDP');
      this.securityGroup.addIngressRule(peer, ec2.Port.tcp(props.sipPort), 'SIP over TCP');
    }
    // 5061 only with a certificate: without one nothing listens there.
    if (props.sipTlsCertificate) {
      allowSipTls(this.securityGroup, props.sipAllowedCidrs);
      allowSoftphoneWss(this.securityGroup);
    }
    // Media comes from wherever the caller's SDP says, so the RTP range is open to all.
    this.securityGroup.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.udpRange(props.rtpPortMin, props.rtpPortMax),
      'RTP/RTCP media relayed by rtpengine',
    );
    // Conference legs between nodes (docs/conferences.md): from inside the VPC only (the nodes' private
    // addresses; a rule naming this group itself would be a separate resource, and the relay admits only legs
    // it was told about anyway).
    this.securityGroup.addIngressRule(
      ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
      ec2.Port.udp(CONFERENCE_RELAY_PORT),
      'conference relay between media nodes',
    );
    // No SSH ingress: operators reach a node through SSM Session Manager (docs/deploy.md).

    this.role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'SIP media node: its table, bus, buckets, Polly, its lifecycle hooks, its pool address, SSM',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });

    // The fixed SIP addresses carriers allow-list. A node takes a free one at boot; the role may associate only
    // the pool's addresses, only with the pool's instances (both tagged), and only onto ENIs of this VPC.
    // It needs no DisassociateAddress: an address goes back to the pool when its instance terminates.
    for (let i = 0; i < props.elasticIps; i++) {
      this.elasticIps.push(
        new ec2.CfnEIP(this, `SipAddress${i + 1}`, {
          domain: 'vpc',
          tags: [
            { key: ELASTIC_IP_POOL_TAG, value: props.poolName },
            { key: 'Name', value: `${props.poolName}-sip-${i + 1}` },
          ],
        }),
      );
    }
    if (props.elasticIps > 0) {
      const arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['ec2:DescribeAddresses'], resources: ['*'] }), // no resource-level form
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['ec2:AssociateAddress'],
          resources: [arn('elastic-ip/*'), arn('instance/*')],
          conditions: { StringEquals: { [`aws:ResourceTag/${ELASTIC_IP_POOL_TAG}`]: props.poolName } },
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['ec2:AssociateAddress'],
          resources: [arn('network-interface/*')],
          conditions: { StringEquals: { 'ec2:Vpc': arn(`vpc/${this.vpc.vpcId}`) } },
        }),
      );
    }

    // The boot's static files (units, SIP probe, agent installer, logrotate) travel in the bundle, which keeps the user
    // data well under EC2's 16 KB (docs/deploy.md "Checked boots").
    this.bootFiles = bootFiles({
      cpuArch: props.cpuArch,
      signaling: props.signaling,
      stopTimeoutSec: props.drainTimeout.toSeconds() + 30,
    });
    this.bundle = new MediaNodeBundle(this, 'Bundle', { extraFiles: this.bootFiles });
    // Only the bundle object, not the whole assets bucket (asset.grantRead would hand out s3:GetObject*, s3:List*).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bundle.bucket.arnForObjects(this.bundle.s3ObjectKey)],
      }),
    );
    if (props.sipTlsCertificate) grantTlsCertificate(this.role, props.sipTlsCertificate);

    // The node's metrics: it appends an EMF record a minute to EMF_LOG_FILE, the CloudWatch agent ships the file
    // here, and CloudWatch Logs extracts the metrics. The agent may add streams and events to this group only.
    this.metricsLogGroup = new logs.LogGroup(this, 'MetricsLogGroup', {
      logGroupName: nodeMetricsLogGroupName(props.stage),
      retention: retentionFor(props.logRetentionDays),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.metricsLogGroup.grant(this.role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
    this.nodeLogGroup = new logs.LogGroup(this, 'NodeLogGroup', {
      logGroupName: nodeLogsLogGroupName(props.stage),
      retention: retentionFor(props.logRetentionDays),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.nodeLogGroup.grant(this.role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
    // The node's spans go to X-Ray's OTLP endpoint (TRACES_EXPORTER=xray, docs/operations.md "Traces").
    if (props.environment.TRACES_EXPORTER === 'xray') this.role.addToPrincipalPolicy(xraySpansStatement());

    const boot: BootSettings = {
      cpuArch: props.cpuArch,
      nodeVersion: props.nodeVersion,
      signaling: props.signaling,
      rtpengine: props.rtpengine,
      rtpPortMin: props.rtpPortMin,
      rtpPortMax: props.rtpPortMax,
      sipPort: props.sipPort,
      rtpengineNgPort: RTPENGINE_NG_PORT,
      drachtioImage: props.drachtioImage,
      drachtioPort: DRACHTIO_ADMIN_PORT,
      bundle: { bucket: this.bundle.s3BucketName, key: this.bundle.s3ObjectKey },
      region: Aws.REGION,
      environment: {
        ...props.environment,
        ASG_LIFECYCLE_HOOK_NAME: DRAIN_HOOK_NAME,
        DRAIN_TIMEOUT_MS: String(props.drainTimeout.toMilliseconds()),
        METRICS_EMF: `file:${EMF_LOG_FILE}`,
        METRICS_EMF_INTERVAL_MS: String(NODE_METRICS_INTERVAL_MS),
        ...(props.sipTlsCertificate ? tlsEnvironment() : {}),
      },
      metricsLogGroup: this.metricsLogGroup.logGroupName,
      nodeLogGroup: this.nodeLogGroup.logGroupName,
      launchHookName: LAUNCH_HOOK_NAME,
      elasticIpPool: props.elasticIps > 0 ? { tagKey: ELASTIC_IP_POOL_TAG, tagValue: props.poolName } : undefined,
      nodeImage: props.nodeImage,
      tlsCertificate: props.sipTlsCertificate,
    };
    this.bootSettings = boot;
    const userData = ec2.UserData.custom(bootScript(boot));

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instanceType),
      machineImage: nodeMachineImage(props.nodeImage, {
        stage: props.stage,
        cpuArch: props.cpuArch,
        stockAmiSsmParameter: props.amiSsmParameter,
      }),
      userData,
      role: this.role,
      securityGroup: this.securityGroup,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpEndpoint: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });

    this.group = new autoscaling.AutoScalingGroup(this, 'Nodes', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate: this.launchTemplate,
      minCapacity: props.minNodes,
      maxCapacity: props.maxNodes,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(10) }),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      defaultInstanceWarmup: Duration.minutes(5),
      // A CloudFormation rolling update rather than an instance refresh: CloudFormation starts it by itself when the
      // launch template gets a new version (a new bundle or node setting), with no custom resource. One node at a
      // time; a replacement counts as in service only after its launch hook's CONTINUE (it answers SIP and is in
      // the registry), and each old node drains through the termination hook before it goes. Health checks and
      // AZ rebalancing pause so they do not replace nodes under the update; scaling alarms pause with them.
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        // CloudFormation requires it below MaxSize: with minNodes = maxNodes one node may be replaced at a time.
        minInstancesInService: Math.min(props.minNodes, props.maxNodes - 1),
        pauseTime: Duration.minutes(1),
        suspendProcesses: [
          autoscaling.ScalingProcess.HEALTH_CHECK,
          autoscaling.ScalingProcess.REPLACE_UNHEALTHY,
          autoscaling.ScalingProcess.AZ_REBALANCE,
          autoscaling.ScalingProcess.ALARM_NOTIFICATION,
          autoscaling.ScalingProcess.SCHEDULED_ACTIONS,
        ],
      }),
    });
    // The pool's tag on every node: the condition under which it may associate a pool address with itself.
    if (props.elasticIps > 0) {
      Tags.of(this.group).add(ELASTIC_IP_POOL_TAG, props.poolName, { applyToLaunchedInstances: true });
      // The group is deleted (its nodes drained and terminated) before the addresses are released.
      for (const eip of this.elasticIps) this.group.node.addDependency(eip);
    }
    // The drain hook is part of the group itself (not a resource of its own, which CloudFormation would delete
    // before the group at `cdk destroy`): nodes terminated while the group is torn down still drain their calls.
    const cfnGroup = this.group.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    cfnGroup.lifecycleHookSpecificationList = [
      {
        // Abandoned (the instance replaced) unless the boot script says CONTINUE: a node that failed to boot, or
        // never answered SIP, never takes a call.
        lifecycleHookName: LAUNCH_HOOK_NAME,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        defaultResult: 'ABANDON',
        heartbeatTimeout: LAUNCH_HOOK_TIMEOUT.toSeconds(),
      },
      {
        lifecycleHookName: DRAIN_HOOK_NAME,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        defaultResult: 'CONTINUE',
        // Room for the bounded drain plus the CompleteLifecycleAction retries.
        heartbeatTimeout: props.drainTimeout.toSeconds() + 300,
      },
    ];

    // A separate policy (not the role's default one) so the group can reference the role without a cycle.
    const groupArn = `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${this.group.autoScalingGroupName}`;
    new iam.Policy(this, 'LifecyclePolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: [
            'autoscaling:CompleteLifecycleAction',
            'autoscaling:RecordLifecycleActionHeartbeat',
            'autoscaling:SetInstanceHealth',
          ],
          resources: [groupArn],
        }),
        // Describe calls have no resource-level permissions.
        new iam.PolicyStatement({ actions: ['autoscaling:DescribeAutoScalingInstances'], resources: ['*'] }),
      ],
    });

    // Target tracking on active calls per node in service. Target tracking takes neither SEARCH nor a per-node
    // series whose set of NodeIds changes, so it gets metric math over two fixed series: the fleet's ActiveCalls
    // (the node's EMF series of this stage, [Stage]; each node writes one record a minute, so the minute's Sum is
    // the calls in progress) divided by the group's GroupInServiceInstances. That is a per-instance average that
    // falls as nodes are added, which target tracking needs; nodes booting or draining are not in the divisor.
    // The Stage dimension keeps another deployment's calls in the same account and region out (docs/deploy.md).
    this.scalingPolicy = new autoscaling.CfnScalingPolicy(this, 'ActiveCallsPerNode', {
      autoScalingGroupName: this.group.autoScalingGroupName,
      policyType: 'TargetTrackingScaling',
      targetTrackingConfiguration: {
        targetValue: props.targetCallsPerNode,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'calls',
              metricStat: {
                metric: {
                  namespace: METRICS_NAMESPACE,
                  metricName: NODE_METRIC.activeCalls,
                  dimensions: [{ name: NODE_DIMENSION.stage, value: props.stage }],
                },
                stat: 'Sum',
              },
              returnData: false,
            },
            {
              id: 'nodes',
              metricStat: {
                metric: {
                  namespace: 'AWS/AutoScaling',
                  metricName: 'GroupInServiceInstances',
                  dimensions: [{ name: 'AutoScalingGroupName', value: this.group.autoScalingGroupName }],
                },
                stat: 'Average',
              },
              returnData: false,
            },
            { id: 'perNode', expression: 'calls / nodes', label: 'Active calls per node in service', returnData: true },
          ],
        },
      },
    });
  }
}
