import type { RouteGroup } from '@sipms/shared/api/routes';
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { CallTable } from './constructs/call-table.js';
import { CallbackBus } from './constructs/callback-bus.js';
import { CallbackDispatcher } from './constructs/callback-dispatcher.js';
import { ConsoleHosting } from './constructs/console-hosting.js';
import { ControlPlaneApi } from './constructs/control-plane-api.js';
import { DnsSync } from './constructs/dns-sync.js';
import { MediaBuckets } from './constructs/media-buckets.js';
import { MediaNodeFleet } from './constructs/media-node-fleet.js';
import { NodeImagePipeline } from './constructs/node-image-pipeline.js';
import { NodeSweeper } from './constructs/node-sweeper.js';
import { Operations } from './constructs/operations.js';
import { grantSynthesizeSpeech } from './constructs/polly-access.js';
import { grantSealedCallbackFields } from './constructs/sealed-fields-access.js';
import type { ServiceFunction } from './constructs/service-function.js';
import { xraySpansStatement } from './constructs/service-function.js';
import type { DeploymentConfig } from './deployment-config.js';
import { SIP_TLS_PORT, softphoneWsUrl } from './media-node-boot/tls-certificate.js';

export interface SipMediaserverStackProps extends StackProps {
  config: DeploymentConfig;
}

/** The default AMI: Debian 12 (rtpengine is packaged there), published by Debian as an SSM public parameter. */
export function debianAmiParameter(arch: 'arm64' | 'amd64'): string {
  return `/aws/service/debian/release/bookworm/latest/${arch}`;
}

/**
 * The whole service in one stack: data (table, buckets), events (bus, rules, DLQ, archive),
 * the control plane (HTTP API, dispatcher), the media-node fleet, and operations (alarms,
 * dashboard). The stack only composes constructs and decides who may touch what.
 */
export class SipMediaserverStack extends Stack {
  readonly table: CallTable;
  readonly secretsKey: kms.Key;
  /** The operator's admin API token: only the admin Lambda may read it. */
  readonly adminToken: secretsmanager.Secret;
  readonly buckets: MediaBuckets;
  readonly bus: CallbackBus;
  readonly api: ControlPlaneApi;
  readonly dispatcher: CallbackDispatcher;
  readonly fleet: MediaNodeFleet;
  readonly sweeper: NodeSweeper;
  /** With a hosted zone in context: the SIP domain's records follow the nodes in service. */
  readonly dnsSync: DnsSync | undefined;
  readonly operations: Operations;
  /** Bakes the nodes' software into an AMI (docs/deploy.md "Baked node images"); the fleet boots it with nodeImage=baked. */
  readonly nodeImage: NodeImagePipeline;
  /** The tenant console: S3 behind CloudFront, calling the API (docs/console.md). */
  readonly console: ConsoleHosting;

  constructor(scope: Construct, id: string, props: SipMediaserverStackProps) {
    super(scope, id, props);
    const c = props.config;
    Tags.of(this).add('sipms:stage', c.stage);

    this.table = new CallTable(this, 'Data', { retain: c.retainData });
    // Recordings are prompt files (tagged, expired after recordingRetentionDays): no bucket of their own.
    this.buckets = new MediaBuckets(this, 'Media', {
      retain: c.retainData,
      recordingRetentionDays: c.recordingRetentionDays,
    });
    this.bus = new CallbackBus(this, 'Events', { stage: c.stage, archiveRetention: Duration.days(7) });

    // Seals tenants' trunk passwords (the tenants API encrypts, media nodes decrypt) and the callback
    // fields tenants mark sensitive (media nodes encrypt, the dispatcher decrypts); nothing else can.
    this.secretsKey = new kms.Key(this, 'TenantSecretsKey', {
      description: 'SIP Mediaserver: tenant secrets (outbound trunk passwords)',
      enableKeyRotation: true,
      removalPolicy: c.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // The operator's admin API token (docs/security.md): generated here, read only by the admin Lambda,
    // fetched by the operator with the command in the AdminTokenCommand output.
    this.adminToken = new secretsmanager.Secret(this, 'AdminToken', {
      description: 'SIP Mediaserver: admin API token (Authorization: Bearer <token> on /v1/admin/...)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: c.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // What every deployable reads (shared/src/config.ts CommonEnv), and where tenants' calls may go
    // (the API for placeivrcall, the media nodes for newCall replies: docs/security.md).
    const common = {
      SECRETS_KMS_KEY_ID: this.secretsKey.keyArn,
      TABLE_NAME: this.table.tableName,
      SIP_DOMAIN: c.sipDomain,
      PROMPT_STORE: `s3:${this.buckets.prompts.bucketName}`,
      CALLBACK_URL_POLICY: 'public-https',
      LOG_LEVEL: 'info',
      OUTBOUND_DESTINATIONS: c.outboundDestinations,
      TRACES_EXPORTER: c.traces,
    };
    // What one tenant may hold, read by every control-plane Lambda (lambdas/src/composition-root.ts).
    const tenantLimits = {
      TENANT_MAX_NUMBERS: String(c.tenantMaxNumbers),
      TENANT_MAX_SLOW_CALLBACKS: String(c.tenantMaxSlowCallbacks),
    };

    this.dispatcher = new CallbackDispatcher(this, 'Dispatch', {
      environment: { ...common, ...tenantLimits },
      logRetentionDays: c.logRetentionDays,
      deadLetterQueue: this.bus.deadLetterQueue,
    });
    this.table.grantReadWrite(this.dispatcher.function.fn);
    // The dispatcher records each delivery's span (the other Lambdas record none).
    if (c.traces === 'xray') this.dispatcher.function.fn.addToRolePolicy(xraySpansStatement());
    this.bus.addSharedRules({ dispatcher: this.dispatcher.function.fn });

    this.api = new ControlPlaneApi(this, 'ControlPlane', {
      stage: c.stage,
      environment: {
        ...common,
        ...tenantLimits,
        CLAIMABLE_NUMBERS: c.claimableNumbers,
        // The softphone's WSS endpoint exists only with the SIP TLS certificate; without it the route answers 503.
        ...(c.sipTlsCertificate ? { SOFTPHONE_WS_URL: softphoneWsUrl(c.sipDomain) } : {}),
      },
      logRetentionDays: c.logRetentionDays,
      grant: (group, fn) => this.grantRouteGroup(group, fn),
    });

    this.console = new ConsoleHosting(this, 'Console', {
      api: this.api.api,
      apiUrl: this.api.url,
      promptsBucket: this.buckets.prompts,
      softphoneWsUrl: c.sipTlsCertificate ? softphoneWsUrl(c.sipDomain) : undefined,
    });

    const stockAmi = c.amiSsmParameter ?? debianAmiParameter(c.cpuArch);
    this.fleet = new MediaNodeFleet(this, 'MediaNodes', {
      stage: c.stage,
      logRetentionDays: c.logRetentionDays,
      instanceType: c.instanceType,
      cpuArch: c.cpuArch,
      amiSsmParameter: stockAmi,
      nodeImage: c.nodeImage,
      sipTlsCertificate: c.sipTlsCertificate,
      minNodes: c.minNodes,
      maxNodes: c.maxNodes,
      elasticIps: c.elasticIps,
      poolName: `SipMediaserver-${c.stage}`,
      targetCallsPerNode: c.targetCallsPerNode,
      signaling: c.signaling,
      rtpengine: c.rtpengine,
      sipPort: c.sipPort,
      sipAllowedCidrs: c.sipAllowedCidrs,
      rtpPortMin: c.rtpPortMin,
      rtpPortMax: c.rtpPortMax,
      drainTimeout: Duration.minutes(c.drainMinutes),
      nodeVersion: c.nodeVersion,
      drachtioImage: c.drachtioImage,
      environment: {
        ...common,
        // The Stage dimension of the node's fleet-level metrics: two deployments in one account and region scale
        // and alarm on their own nodes only.
        STAGE: c.stage,
        MAX_CALLS: String(c.maxCallsPerNode),
        EVENT_BUS_NAME: this.bus.eventBusName,
        // Amazon Polly speaks `tts`/`awstts` phrases on AWS; the reply poll starts later than locally,
        // since EventBridge delivery alone takes tens of milliseconds (docs/callback-delivery.md).
        TTS_ENGINE: 'polly',
        REPLY_POLL_SCHEDULE_MS: '40,10,10,10,20,20,40,40,80',
        POLLY_VOICE_ID: c.pollyVoiceId,
        POLLY_ENGINE: c.pollyEngine,
        POLLY_LANGUAGE_CODE: c.pollyLanguageCode,
      },
    });
    const node = this.fleet.role;
    this.table.grantReadWrite(node);
    this.bus.grantPublish(node);
    this.buckets.grantPrompts(node, 'readWrite'); // an IVR `record` is stored as a prompt file (docs/ivr.md)
    grantSynthesizeSpeech(node);
    this.secretsKey.grantDecrypt(node);
    grantSealedCallbackFields(this.secretsKey, { seal: node, open: this.dispatcher.function.fn });

    // The media nodes sweep for dead ones; this covers the case where none is left (docs/deploy.md). It reads
    // heartbeats and session markers, writes slots, sessions, usage and journal, and publishes sessionCompleted.
    this.sweeper = new NodeSweeper(this, 'NodeSweep', {
      environment: { ...common, ...tenantLimits, EVENT_BUS_NAME: this.bus.eventBusName },
      logRetentionDays: c.logRetentionDays,
    });
    this.table.grantReadWrite(this.sweeper.function.fn);
    this.bus.grantPublish(this.sweeper.function.fn);

    this.dnsSync = c.hostedZone
      ? new DnsSync(this, 'SipDns', {
          hostedZoneId: c.hostedZone.id,
          sipDomain: c.sipDomain,
          sipPort: c.sipPort,
          // `_sips._tcp` only where a node listens for TLS.
          sipTlsPort: c.sipTlsCertificate ? SIP_TLS_PORT : undefined,
          group: this.fleet.group,
          logRetentionDays: c.logRetentionDays,
        })
      : undefined;

    this.nodeImage = new NodeImagePipeline(this, 'NodeImage', {
      stage: c.stage,
      cpuArch: c.cpuArch,
      parentImageSsmParameter: stockAmi,
      install: { nodeVersion: c.nodeVersion, signaling: c.signaling, rtpengine: c.rtpengine },
      schedule: c.nodeImageSchedule,
      vpc: this.fleet.vpc,
    });

    this.operations = new Operations(this, 'Operations', {
      stage: c.stage,
      api: this.api.api,
      apiFunctions: [...this.api.functions.values()].map((f) => f.fn),
      dispatcher: this.dispatcher.function.fn,
      deadLetterQueue: this.bus.deadLetterQueue,
      bus: this.bus.bus,
      nodes: this.fleet.group,
      alarmEmail: c.alarmEmail,
    });

    const group = this.fleet.group.autoScalingGroupName;
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Control-plane API base URL' });
    new CfnOutput(this, 'ConsoleUrl', {
      value: this.console.url,
      description: 'The tenant console (sign up, settings, calls)',
    });
    new CfnOutput(this, 'SipDomain', { value: c.sipDomain, description: 'Tenant domains are <slug>.<this>' });
    new CfnOutput(this, 'PromptsBucketName', { value: this.buckets.prompts.bucketName });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBusName });
    new CfnOutput(this, 'MediaNodeGroupName', { value: group });
    new CfnOutput(this, 'MediaNodeAddressesCommand', {
      description: 'Lists the public IPs of the running media nodes (for DNS and softphones)',
      value: `aws ec2 describe-instances --region ${this.region} --filters Name=tag:aws:autoscaling:groupName,Values=${group} Name=instance-state-name,Values=running --query "Reservations[].Instances[].PublicIpAddress" --output text`,
    });
    if (this.fleet.elasticIps.length > 0) {
      new CfnOutput(this, 'SipAddresses', {
        description: 'The fixed public addresses of the media nodes (Elastic IPs): for carrier allow-lists',
        value: Fn.join(
          ',',
          this.fleet.elasticIps.map((a) => a.attrPublicIp),
        ),
      });
    }
    new CfnOutput(this, 'NodeLogGroupName', {
      value: this.fleet.nodeLogGroup.logGroupName,
      description: "The media nodes' logs: one stream per node and source (media-node, boot, ...)",
    });
    new CfnOutput(this, 'NodeImagePipelineArn', {
      value: this.nodeImage.pipeline.attrArn,
      description:
        'Builds the baked node image: aws imagebuilder start-image-pipeline-execution --image-pipeline-arn <this>',
    });
    new CfnOutput(this, 'NodeImageParameter', {
      value: this.nodeImage.amiParameterName,
      description: 'SSM parameter holding the latest baked node AMI (read with nodeImage=baked)',
    });
    new CfnOutput(this, 'DashboardName', { value: `sip-mediaserver-${c.stage}` });
    new CfnOutput(this, 'AdminTokenSecretArn', {
      value: this.adminToken.secretArn,
      description: 'The admin API token (Authorization: Bearer <token> on /v1/admin/...)',
    });
    new CfnOutput(this, 'AdminTokenCommand', {
      description: 'Prints the admin API token',
      value: `aws secretsmanager get-secret-value --region ${this.region} --secret-id ${this.adminToken.secretArn} --query SecretString --output text`,
    });
  }

  /**
   * Least privilege per API route group. A group not named here gets read/write on the table only
   * (every route works on tenant-scoped items); one that needs more must be added here.
   */
  private grantRouteGroup(group: RouteGroup, fn: ServiceFunction): void {
    switch (group) {
      case 'openapi':
        return; // serves a document built into the bundle
      case 'sessions':
      case 'usage':
        this.table.grantRead(fn.fn);
        this.table.grantApiKeyTouch(fn.fn); // authentication records the key's lastUsedAt
        return;
      case 'media':
        this.table.grantReadWrite(fn.fn);
        this.buckets.grantPrompts(fn.fn, 'readWrite');
        return;
      case 'tenants':
        this.table.grantReadWrite(fn.fn);
        this.secretsKey.grantEncrypt(fn.fn);
        return;
      case 'admin':
        // The only reader of the admin token; it keeps only the token's hash in memory.
        this.table.grantReadWrite(fn.fn);
        this.adminToken.grantRead(fn.fn);
        fn.fn.addEnvironment('ADMIN_TOKEN_SECRET_ARN', this.adminToken.secretArn);
        return;
      default:
        this.table.grantReadWrite(fn.fn);
    }
  }
}
