import { DNS_SYNC_SERVICE, JOINING_EVENTS, LEAVING_EVENTS } from '@sipms/lambdas/dns/fleet-dns';
import { Aws, Duration } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ServiceFunction } from './service-function.js';

export interface DnsSyncProps {
  hostedZoneId: string;
  sipDomain: string;
  sipPort: number;
  /** SIP over TLS: only with a listener is `_sips._tcp` published. */
  sipTlsPort?: number | undefined;
  group: autoscaling.AutoScalingGroup;
  logRetentionDays: number;
}

/** The names the function may change: Route 53's normalized form (lower case, no trailing dot, `*` as is). */
export function syncedRecordNames(sipDomain: string, tls: boolean): string[] {
  return [
    sipDomain,
    `*.${sipDomain}`,
    `_sip._udp.${sipDomain}`,
    `_sip._tcp.${sipDomain}`,
    ...(tls ? [`_sips._tcp.${sipDomain}`] : []),
  ];
}

/**
 * Keeps the SIP domain's A and SRV records in a Route 53 zone equal to the media nodes in service
 * (lambdas/src/handlers/dns-sync.ts): run on the group's Auto Scaling events (a node launched, one starting to
 * drain, one gone) and every five minutes, which repairs a missed or failed run. It may change only those names,
 * only A and SRV records, in that zone.
 */
export class DnsSync extends Construct {
  readonly function: ServiceFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DnsSyncProps) {
    super(scope, id);
    const group = props.group.autoScalingGroupName;
    this.function = new ServiceFunction(this, 'Sync', {
      handlerName: 'dns-sync',
      description: 'Rewrites the SIP domain A and SRV records from the media nodes in service',
      environment: {
        HOSTED_ZONE_ID: props.hostedZoneId,
        SIP_DOMAIN: props.sipDomain,
        GROUP_NAME: group,
        SIP_PORT: String(props.sipPort),
        ...(props.sipTlsPort ? { SIPS_PORT: String(props.sipTlsPort) } : {}),
        RECORD_TTL: '60',
        LOG_LEVEL: 'info',
      },
      logRetentionDays: props.logRetentionDays,
      timeout: Duration.seconds(30),
      memorySize: 256,
      serviceName: DNS_SYNC_SERVICE,
    });
    const fn = this.function.fn;
    const zoneArn = `arn:${Aws.PARTITION}:route53:::hostedzone/${props.hostedZoneId}`;
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['route53:ListResourceRecordSets'], resources: [zoneArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [zoneArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': syncedRecordNames(
              props.sipDomain,
              Boolean(props.sipTlsPort),
            ),
            'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'SRV'],
          },
        },
      }),
    );
    // Describe calls have no resource-level permissions.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['autoscaling:DescribeAutoScalingGroups', 'ec2:DescribeInstances'],
        resources: ['*'],
      }),
    );

    this.rule = new events.Rule(this, 'NodeLifecycle', {
      description: 'Media nodes joining or leaving the group: resync the SIP DNS records',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [...JOINING_EVENTS, ...LEAVING_EVENTS],
        detail: { AutoScalingGroupName: [group] },
      },
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 4, maxEventAge: Duration.hours(1) })],
    });
    new events.Rule(this, 'Resync', {
      description: 'Resyncs the SIP DNS records with the media nodes in service',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
  }
}
