import { EVENT_SOURCE } from '@sipms/shared/events/envelope';
import { RULES, type RuleDefinition } from '@sipms/shared/events/rules';
import { ArnFormat, Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface CallbackBusProps {
  stage: string;
  /** How long the event log keeps each event's metadata (a CloudWatch Logs retention: 1, 3, 5, 7, 14, … days). */
  archiveRetention: Duration;
}

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter((d): d is number => typeof d === 'number');

function retentionDays(d: Duration): logs.RetentionDays {
  const days = d.toDays();
  const allowed = LOG_RETENTION_DAYS.filter((n) => n >= days).sort((a, b) => a - b)[0];
  if (allowed === undefined)
    throw new Error(`event log retention of ${days} days is longer than CloudWatch Logs keeps`);
  return allowed as logs.RetentionDays;
}

/** The deployable behind each rule target name of the shared rules. */
export type RuleTargets = Record<RuleDefinition['target'], lambda.IFunction>;

/**
 * The event bus, one rule per shared rule definition (the same patterns the local bus applies),
 * a dead-letter queue for events that could not be delivered, and a log of every event's metadata.
 */
export class CallbackBus extends Construct {
  readonly bus: events.EventBus;
  readonly deadLetterQueue: sqs.Queue;
  readonly rules: Record<string, events.Rule> = {};
  /** Every event's metadata (ids, type, seq, times), never its payload. */
  readonly eventLog: logs.LogGroup;

  constructor(scope: Construct, id: string, props: CallbackBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: `sip-mediaserver-${props.stage}` });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.eventLog = this.metadataEventLog(props.archiveRetention);
  }

  /**
   * What went over the bus, without what was said: every media-node event's ids, type, sequence and times,
   * kept `retention` in a log group. Not an EventBridge archive: an archive keeps whole events (callers'
   * numbers, digits a tenant did not mark sensitive) and cannot drop fields. Replaying old callbacks would
   * help no caller anyway; the journal keeps each callback's request and outcome for its tenant (30 days),
   * and the dead-letter queue the events that could not be delivered (14 days).
   */
  private metadataEventLog(retention: Duration): logs.LogGroup {
    const logGroup = new logs.LogGroup(this, 'EventLog', {
      retention: retentionDays(retention),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // EventBridge writes to a log group only with a resource policy on it. CDK's CloudWatchLogGroup target
    // would add a custom-resource Lambda to put one; the policy is a plain CloudFormation resource instead.
    const policy = new logs.CfnResourcePolicy(this, 'EventLogPolicy', {
      policyName: `sip-mediaserver-event-log-${Names.uniqueId(this).slice(-32)}`,
      policyDocument: Stack.of(this).toJsonString({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: logGroup.logGroupArn,
          },
        ],
      }),
    });
    const field = (path: string) => events.EventField.fromPath(`$.detail.${path}`);
    const rule = new events.Rule(this, 'EventMetadata', {
      eventBus: this.bus,
      description: "Every media-node event's metadata (never its payload) to the event log",
      eventPattern: { source: [EVENT_SOURCE] },
      targets: [
        {
          bind: () => ({
            // The target wants the log group's ARN without the `:*` that its ARN attribute ends with.
            arn: Stack.of(this).formatArn({
              service: 'logs',
              resource: 'log-group',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              resourceName: logGroup.logGroupName,
            }),
            // The CloudWatch Logs target takes exactly {timestamp, message}.
            input: events.RuleTargetInput.fromObject({
              timestamp: events.EventField.time,
              message: {
                eventId: field('id'),
                type: field('type'),
                tenantId: field('tenantId'),
                sessionId: field('sessionId'),
                seq: field('seq'),
                nodeId: field('nodeId'),
                time: field('time'),
                traceparent: field('traceparent'),
              },
            }),
          }),
        },
      ],
    });
    rule.node.addDependency(policy);
    return logGroup;
  }

  /** One rule per shared definition, each delivering to the deployable its `target` names. */
  addSharedRules(targetsByName: RuleTargets): void {
    for (const rule of RULES) {
      this.rules[rule.name] = new events.Rule(this, `Rule-${rule.name}`, {
        eventBus: this.bus,
        description: rule.description,
        // The shared pattern is already in EventBridge's JSON shape; it is passed through unchanged.
        eventPattern: rule.pattern as events.EventPattern,
        targets: [
          new targets.LambdaFunction(targetsByName[rule.target], {
            deadLetterQueue: this.deadLetterQueue,
            // A callback older than a few minutes is useless to a caller; give up and keep it in the DLQ.
            maxEventAge: Duration.minutes(5),
            retryAttempts: 4,
          }),
        ],
      });
    }
  }

  get eventBusName(): string {
    return this.bus.eventBusName;
  }

  /** events:PutEvents on this bus only. */
  grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.bus.grantPutEventsTo(grantee);
  }
}
