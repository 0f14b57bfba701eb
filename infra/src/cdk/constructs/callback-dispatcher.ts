import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ServiceFunction } from './service-function.js';

/** The contract's upper bounds (shared/src/contracts/rest.ts: callbackTimeoutMs ≤ 15000, callbackRetries ≤ 5). */
export const MAX_CALLBACK_TIMEOUT_MS = 15_000;
export const MAX_CALLBACK_RETRIES = 5;
/** webhook-client.ts backs off at most 1 s between attempts. */
const MAX_BACKOFF_MS = 1_000;
/** Reading the tenant, writing the reply and journal items, cold start. */
const OVERHEAD_MS = 15_000;

/**
 * The longest one delivery can take: every attempt at the callback URL times out, then the
 * fallback URL's single attempt does too.
 */
export function dispatcherTimeout(): Duration {
  const attempts = MAX_CALLBACK_RETRIES + 1;
  const worst =
    MAX_CALLBACK_TIMEOUT_MS * attempts + MAX_BACKOFF_MS * MAX_CALLBACK_RETRIES + MAX_CALLBACK_TIMEOUT_MS + OVERHEAD_MS;
  return Duration.seconds(Math.ceil(worst / 10_000) * 10);
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
      // The event id makes redelivery harmless (the reply item is written once), but a late reply
      // helps no caller: one retry, then the dead-letter queue.
      retryAttempts: 1,
      maxEventAge: Duration.minutes(5),
      onFailure: new SqsDestination(props.deadLetterQueue),
    });
  }
}
