import { CALLBACK_OUTCOMES, DIMENSION, METRIC, SERVICE } from '@sipms/lambdas/observability/metric-names';
import { ROUTE_GROUPS } from '@sipms/shared/api/routes';
import { METRICS_NAMESPACE, NODE_DIMENSION, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface OperationsProps {
  stage: string;
  api: apigw.HttpApi;
  apiFunctions: lambda.IFunction[];
  dispatcher: lambda.IFunction;
  deadLetterQueue: sqs.IQueue;
  bus: events.IEventBus;
  nodes: autoscaling.AutoScalingGroup;
  alarmEmail?: string | undefined;
}

/** The media-node event-loop alarm: the worst node's p99 lag at or above this, in seconds, five minutes running. */
export const NODE_EVENT_LOOP_LAG_ALARM_SECONDS = 0.05;
/** The overload alarm: the worst node refuses at least this share (%) of new INVITEs for its load, three minutes running. */
export const NODE_SHED_ALARM_PERCENT = 10;

/**
 * Alarms and a dashboard. The media-node "heartbeat" needs no code on the node: a node whose
 * process keeps crashing marks itself unhealthy (systemd OnFailure → SetInstanceHealth) and is
 * replaced, and a node that never comes up or dies is missing from the group, so the alarm fires
 * when fewer instances are in service than desired for three minutes in a row.
 */
export class Operations extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `SIP Mediaserver ${props.stage} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const fiveMin = { period: Duration.minutes(5), statistic: 'Sum' };
    const dispatcherErrors = props.dispatcher.metricErrors(fiveMin);
    const dispatcherThrottles = props.dispatcher.metricThrottles(fiveMin);
    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    });
    const api5xx = props.api.metricServerError(fiveMin);
    const groupMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/AutoScaling',
        metricName,
        dimensionsMap: { AutoScalingGroupName: props.nodes.autoScalingGroupName },
        period: Duration.minutes(1),
        statistic: 'Minimum',
      });
    const missingNodes = new cloudwatch.MathExpression({
      expression: 'desired - inService',
      usingMetrics: { desired: groupMetric('GroupDesiredCapacity'), inService: groupMetric('GroupInServiceInstances') },
      label: 'media nodes missing',
      period: Duration.minutes(1),
    });

    // The media nodes' own metrics (embedded metric format, docs/operations.md), this stage's only: the [Stage] rollup
    // has one record per node per minute (written mid-minute), so per minute its Sum is the fleet's and its Maximum
    // the worst node's; per node, a SEARCH over [Stage, NodeId] (instances come and go, ids are not known here).
    const stage = { [NODE_DIMENSION.stage]: props.stage };
    const fleet = (metricName: string, statistic: string, label: string, period = Duration.minutes(1)) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: stage,
        statistic,
        label,
        period,
      });
    const perNode = (metricName: string, statistic: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${NODE_DIMENSION.stage},${NODE_DIMENSION.nodeId}} ${NODE_DIMENSION.stage}="${props.stage}" MetricName="${metricName}"', '${statistic}', 60)`,
        label: '',
        period: Duration.minutes(1),
      });
    const worstEventLoopLag = fleet(NODE_METRIC.eventLoopLagP99, 'Maximum', 'event-loop lag p99 (worst node)');
    const worstShed = fleet(NODE_METRIC.overloadShedPercent, 'Maximum', 'new calls refused for load, % (worst node)');

    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string, periods = 1) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new actions.SnsAction(this.topic));
      a.addOkAction(new actions.SnsAction(this.topic));
      this.alarms.push(a);
      return a;
    };
    alarm('DispatcherErrors', dispatcherErrors, 1, 'The callback dispatcher failed: callbacks may not reach tenants');
    alarm('DispatcherThrottles', dispatcherThrottles, 1, 'The callback dispatcher was throttled: callers wait');
    alarm('DeadLetters', dlqDepth, 1, 'Callback events could not be delivered and are in the dead-letter queue');
    alarm('Api5xx', api5xx, 5, 'The control-plane API answered 5xx');
    alarm(
      'MediaNodesMissing',
      missingNodes,
      1,
      'Fewer media nodes are in service than desired (a node failed to boot, crashed repeatedly or was lost)',
      3,
    );
    alarm(
      'MediaNodeEventLoopLag',
      worstEventLoopLag,
      NODE_EVENT_LOOP_LAG_ALARM_SECONDS,
      `A media node's event loop lags (p99 at or above ${NODE_EVENT_LOOP_LAG_ALARM_SECONDS * 1000} ms for 5 minutes): ` +
        'its callers hear prompts and replies late; the node is overloaded',
      5,
    );
    alarm(
      'MediaNodeShedding',
      worstShed,
      NODE_SHED_ALARM_PERCENT,
      `A media node refuses new calls for its load (503, at least ${NODE_SHED_ALARM_PERCENT} % of them for 3 minutes): ` +
        'its event loop or its callbacks are behind; add nodes or find the slow part (docs/operations.md, "Overload")',
      3,
    );

    const functions = [...props.apiFunctions, props.dispatcher];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `sip-mediaserver-${props.stage}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API requests and errors',
        left: [props.api.metricCount(fiveMin)],
        right: [props.api.metricClientError(fiveMin), api5xx],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API latency (p50 / p99)',
        left: [props.api.metricLatency({ statistic: 'p50' }), props.api.metricLatency({ statistic: 'p99' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda errors',
        left: functions.map((f) => f.metricErrors(fiveMin)),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Dispatcher invocations, errors, throttles',
        left: [props.dispatcher.metricInvocations(fiveMin)],
        right: [dispatcherErrors, dispatcherThrottles],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dispatcher duration (p50 / max)',
        left: [
          props.dispatcher.metricDuration({ statistic: 'p50' }),
          props.dispatcher.metricDuration({ statistic: 'Maximum' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Events: matched, failed deliveries, dead letters',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/Events',
            metricName: 'MatchedEvents',
            dimensionsMap: { EventBusName: props.bus.eventBusName },
            ...fiveMin,
          }),
        ],
        right: [dlqDepth],
        width: 8,
      }),
    );
    // The Lambdas' own metrics (Powertools, embedded metric format: docs/operations.md), in the dimension sets
    // they are written with: outcome, and status class (with or without the route group).
    const own = (metricName: string, dims: Record<string, string>, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE.controlPlane, ...dims },
        period: Duration.minutes(5),
        statistic,
        label,
      });
    const delivered = CALLBACK_OUTCOMES.filter((o) => o !== 'duplicate');
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Callbacks by outcome',
        left: CALLBACK_OUTCOMES.map((o) => own(METRIC.callbacks, { [DIMENSION.outcome]: o }, 'Sum', o)),
        stacked: true,
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Callback delivery latency (p50 / p99)',
        left: delivered.flatMap((o) =>
          ['p50', 'p99'].map((p) => own(METRIC.callbackLatency, { [DIMENSION.outcome]: o }, p, `${o} ${p}`)),
        ),
        leftYAxis: { label: 'ms', showUnits: false },
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Webhook attempts per delivered callback',
        left: delivered.map((o) => own(METRIC.webhookAttempts, { [DIMENSION.outcome]: o }, 'Average', `${o} avg`)),
        right: delivered.map((o) => own(METRIC.webhookAttempts, { [DIMENSION.outcome]: o }, 'Maximum', `${o} max`)),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'API 5xx by route group; all requests by status class (right)',
        left: ROUTE_GROUPS.map((g) =>
          own(METRIC.apiRequests, { [DIMENSION.routeGroup]: g, [DIMENSION.statusClass]: '5xx' }, 'Sum', g),
        ),
        right: (['2xx', '4xx', '5xx'] as const).map((c) =>
          own(METRIC.apiRequests, { [DIMENSION.statusClass]: c }, 'Sum', `all ${c}`),
        ),
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Media nodes: desired vs in service',
        left: [groupMetric('GroupDesiredCapacity'), groupMetric('GroupInServiceInstances')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Media nodes: network bytes (RTP dominates)',
        left: ['NetworkIn', 'NetworkOut'].map(
          (metricName) =>
            new cloudwatch.Metric({
              namespace: 'AWS/EC2',
              metricName,
              dimensionsMap: { AutoScalingGroupName: props.nodes.autoScalingGroupName },
              ...fiveMin,
            }),
        ),
        width: 12,
      }),
    );
    const fiveMinutes = Duration.minutes(5);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Media nodes: active calls per node; fleet total (right)',
        left: [perNode(NODE_METRIC.activeCalls, 'Maximum')],
        right: [fleet(NODE_METRIC.activeCalls, 'Sum', 'fleet total')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Media nodes: calls started and ended',
        left: [
          fleet(NODE_METRIC.callsStarted, 'Sum', 'started', fiveMinutes),
          fleet(NODE_METRIC.callsEnded, 'Sum', 'ended', fiveMinutes),
        ],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Media nodes: SIP 5xx and 4xx sent; callback fallbacks (right)',
        left: [
          fleet(NODE_METRIC.sipResponses5xx, 'Sum', '5xx sent', fiveMinutes),
          fleet(NODE_METRIC.sipResponses4xx, 'Sum', '4xx sent', fiveMinutes),
        ],
        right: [fleet(NODE_METRIC.callbackFallbacks, 'Sum', 'callback fallbacks', fiveMinutes)],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Media nodes: callback round trip (p50 / p99), DTMF to next prompt (p99)',
        left: [
          fleet(NODE_METRIC.callbackRoundTrip, 'p50', 'callback round trip p50', fiveMinutes),
          fleet(NODE_METRIC.callbackRoundTrip, 'p99', 'callback round trip p99', fiveMinutes),
          fleet(NODE_METRIC.dtmfToNextPrompt, 'p99', 'DTMF to next prompt p99', fiveMinutes),
        ],
        leftYAxis: { label: 's', showUnits: false },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Media nodes: event-loop lag p99 per node; worst node',
        left: [perNode(NODE_METRIC.eventLoopLagP99, 'Maximum'), worstEventLoopLag],
        leftYAxis: { label: 's', showUnits: false },
        leftAnnotations: [{ value: NODE_EVENT_LOOP_LAG_ALARM_SECONDS, label: 'alarm' }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Media nodes: RTP ports in use per node; rtpengine up (right, lowest node)',
        left: [perNode(NODE_METRIC.rtpPortsInUse, 'Maximum')],
        right: [fleet(NODE_METRIC.rtpengineUp, 'Minimum', 'rtpengine up (lowest)')],
        width: 8,
      }),
    );
  }
}
