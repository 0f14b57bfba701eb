import { SERVICE } from '@sipms/lambdas/observability/metric-names';
import { Duration } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { ServiceFunction } from './service-function.js';

export interface NodeSweeperProps {
  environment: Record<string, string>;
  logRetentionDays: number;
}

/**
 * The dead-node sweep (shared/src/ops/dead-node-sweeper.ts) every minute, for when no live media node is left
 * to run it: releases the call slots of nodes whose heartbeat went stale and completes their active sessions
 * with `nodeFailed`. EventBridge Scheduler invokes it; a run that fails is not retried (the next one is a
 * minute away, and every step is conditional, so overlapping runs are harmless).
 */
export class NodeSweeper extends Construct {
  readonly function: ServiceFunction;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: NodeSweeperProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, 'Sweeper', {
      handlerName: 'node-sweeper',
      description: 'Sweeps dead media nodes: releases their call slots, completes their sessions (nodeFailed)',
      environment: props.environment,
      logRetentionDays: props.logRetentionDays,
      timeout: Duration.seconds(50),
      memorySize: 256,
      serviceName: SERVICE.nodeSweeper,
    });
    this.function.fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.schedule = new scheduler.Schedule(this, 'EveryMinute', {
      description: 'Runs the dead-node sweep every minute',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      target: new schedulerTargets.LambdaInvoke(this.function.fn, {
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
      }),
    });
  }
}
