import { EVENT_SOURCE } from '@sipms/shared/events/envelope';
import { RULES, type RuleDefinition } from '@sipms/shared/events/rules';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface CallbackBusProps {
  stage: string;
  archiveRetention: Duration;
}

/** The deployable behind each rule target name of the shared rules. */
export type RuleTargets = Record<RuleDefinition['target'], lambda.IFunction>;

/**
 * The event bus, one rule per shared rule definition (the same patterns the local bus applies),
 * a dead-letter queue for events that could not be delivered, and an archive for replay.
 */
export class CallbackBus extends Construct {
  readonly bus: events.EventBus;
  readonly deadLetterQueue: sqs.Queue;
  readonly rules: Record<string, events.Rule> = {};

  constructor(scope: Construct, id: string, props: CallbackBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: `sip-mediaserver-${props.stage}` });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.bus.archive('Archive', {
      description: 'Every media-node event, for replay after an incident',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: props.archiveRetention,
    });
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
