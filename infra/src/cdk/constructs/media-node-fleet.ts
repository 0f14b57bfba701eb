import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { bootScript } from '../media-node-boot/boot-script.js';
import { EMF_LOG_FILE } from '../media-node-boot/systemd-units.js';
import { MediaNodeBundle } from './media-node-bundle.js';
import { retentionFor, xraySpansStatement } from './service-function.js';

/** The termination hook's name; the node reads it as ASG_LIFECYCLE_HOOK_NAME. */
export const DRAIN_HOOK_NAME = 'sipms-drain';
export const RTPENGINE_NG_PORT = 22222;
export const DRACHTIO_ADMIN_PORT = 9022;
/** One EMF record per node per minute: CloudWatch's standard resolution. */
export const NODE_METRICS_INTERVAL_MS = 60_000;

/** The log group of the nodes' EMF records: CloudWatch Logs turns each record into the nodes' metrics. */
export function nodeMetricsLogGroupName(stage: string): string {
  return `/sip-mediaserver/${stage}/media-node/emf`;
}

export interface MediaNodeFleetProps {
  stage: string;
  /** How long the nodes' EMF records are kept (the metrics themselves are CloudWatch's, kept 15 months). */
  logRetentionDays: number;
  instanceType: string;
  cpuArch: 'arm64' | 'amd64';
  /** SSM public parameter holding the AMI id (resolved by CloudFormation at deploy time, no lookup). */
  amiSsmParameter: string;
  minNodes: number;
  maxNodes: number;
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
  sshKeyName?: string | undefined;
  sshCidr?: string | undefined;
}

/**
 * The media plane: a VPC with public subnets only (nodes need public addresses for SIP and RTP, so
 * no NAT gateway), a security group for SIP and the RTP range, and an Auto Scaling group of Debian
 * nodes from a launch template whose user data installs and starts the media node. A termination
 * lifecycle hook gives a node `drainTimeout` to finish its calls before it goes away.
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
      // No SIP over TLS (5061): the nodes get no certificate yet, so nothing listens there.
    }
    // Media comes from wherever the caller's SDP says, so the RTP range is open to all.
    this.securityGroup.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.udpRange(props.rtpPortMin, props.rtpPortMax),
      'RTP/RTCP media relayed by rtpengine',
    );
    if (props.sshKeyName && props.sshCidr) {
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(props.sshCidr), ec2.Port.tcp(22), 'SSH for operators');
    }

    this.role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'SIP media node: its table, bus, buckets, Polly and its own lifecycle hook',
    });

    this.bundle = new MediaNodeBundle(this, 'Bundle');
    // Only the bundle object, not the whole assets bucket (asset.grantRead would hand out s3:GetObject*, s3:List*).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bundle.bucket.arnForObjects(this.bundle.s3ObjectKey)],
      }),
    );

    // The node's metrics: it appends an EMF record a minute to EMF_LOG_FILE, the CloudWatch agent ships the file
    // here, and CloudWatch Logs extracts the metrics. The agent may add streams and events to this group only.
    this.metricsLogGroup = new logs.LogGroup(this, 'MetricsLogGroup', {
      logGroupName: nodeMetricsLogGroupName(props.stage),
      retention: retentionFor(props.logRetentionDays),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.metricsLogGroup.grant(this.role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
    // The node's spans go to X-Ray's OTLP endpoint (TRACES_EXPORTER=xray, docs/operations.md "Traces").
    if (props.environment.TRACES_EXPORTER === 'xray') this.role.addToPrincipalPolicy(xraySpansStatement());

    const userData = ec2.UserData.custom(
      bootScript({
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
        },
        stopTimeoutSec: props.drainTimeout.toSeconds() + 30,
        metricsLogGroup: this.metricsLogGroup.logGroupName,
      }),
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instanceType),
      machineImage: ec2.MachineImage.fromSsmParameter(props.amiSsmParameter, { os: ec2.OperatingSystemType.LINUX }),
      userData,
      role: this.role,
      securityGroup: this.securityGroup,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpEndpoint: true,
      httpPutResponseHopLimit: 1,
      ...(props.sshKeyName ? { keyPair: ec2.KeyPair.fromKeyPairName(this, 'KeyPair', props.sshKeyName) } : {}),
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
    });
    // The drain hook is part of the group itself (not a resource of its own, which CloudFormation would delete
    // before the group at `cdk destroy`): nodes terminated while the group is torn down still drain their calls.
    (this.group.node.defaultChild as autoscaling.CfnAutoScalingGroup).lifecycleHookSpecificationList = [
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
  }
}
