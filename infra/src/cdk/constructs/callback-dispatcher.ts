import { LONGEST_DELIVERY_MS } from '@sipms/shared/events/delivery-budget';
import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ServiceFunction } from './service-function.js';

/**
 * The longest one delivery can take (every attempt at the callback URL times out, then the fallback URL's
 * single attempt does too), rounded up to 10 s. A delivery's claim lasts at most as long
 * (shared/src/events/delivery-budget.ts), so a dispatcher killed by this timeout leaves a claim that has run out.
 */
export function dispatcherTimeout(): Duration {
  return Duration.seconds(Math.ceil(LONGEST_DELIVERY_MS / 10_000) * 10);
}

export interface CallbackDispatcherProps {
  environment: Record<string, string>;
  logRetentionDays: number;
  deadLetterQueue: sqs.IQueue;
}

/**
 * The webhook dispatcher: the target of the callback rule. No reserved concurrency: reserving it
 * would take capacity from the account's unreserved pool (and fail to deploy in accounts with a low
 * concurrency quota) while a throttled callback means a caller waiting in silence; throttles are
 * alarmed instead. Failed asynchronous invocations go to the bus's dead-letter queue.
 */
export class CallbackDispatcher extends Construct {
  readonly function: ServiceFunction;

  constructor(scope: Construct, id: string, props: CallbackDispatcherProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, 'Dispatcher', {
      handlerName: 'dispatcher',
      description: 'Delivers signed tenant callbacks and records the replies',
      environment: props.environment,
      logRetentionDays: props.logRetentionDays,
      timeout: dispatcherTimeout(),
      memorySize: 512,
    });
    this.function.fn.configureAsyncInvoke({
      // The event id makes redelivery harmless (the delivery is claimed and the reply item written once),
      // and a late reply helps no caller, but a dispatcher that died holding a claim must get its event
      // back: Lambda retries after one minute, then two more, past the longest claim (dispatcher.ts
      // fails the first retry while the claim lives); then the dead-letter queue.
      retryAttempts: 2,
      maxEventAge: Duration.minutes(5),
      onFailure: new SqsDestination(props.deadLetterQueue),
    });
  }
}
