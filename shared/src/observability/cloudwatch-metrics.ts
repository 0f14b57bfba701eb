/**
 * Names of the service's CloudWatch metrics that more than one workspace uses: the namespace every metric is
 * written to (the Lambdas through Powertools, the media nodes through media-node/src/observability/emf-publisher.ts),
 * and the media node's metric names, shared by the publisher and the dashboard that graphs them
 * (infra/src/cdk/constructs/operations.ts). docs/operations.md lists them.
 */
export const METRICS_NAMESPACE = 'SipMediaserver';

/**
 * The media node's dimensions. Every metric is written per node (`[Stage, NodeId]`) and as the fleet's rollup
 * (`[Stage]`): the stage (STAGE) keeps two deployments in one account and region apart, so each one's scaling policy,
 * alarms and dashboard read its own nodes only.
 */
export const NODE_DIMENSION = { stage: 'Stage', nodeId: 'NodeId' } as const;

/** The dimension sets of every node metric: the fleet's rollup, then per node. */
export const NODE_DIMENSION_SETS = [[NODE_DIMENSION.stage], [NODE_DIMENSION.stage, NODE_DIMENSION.nodeId]] as const;

/** The media node's metrics, one embedded-metric-format record per node per interval (METRICS_EMF_INTERVAL_MS). */
export const NODE_METRIC = {
  /** Count, gauge: calls in progress on the node when the record was written. */
  activeCalls: 'ActiveCalls',
  /** Count: calls the node took on since its previous record. */
  callsStarted: 'CallsStarted',
  /** Count: calls that ended since the previous record. */
  callsEnded: 'CallsEnded',
  /** Count: final 5xx responses the node sent to INVITEs (its callers) since the previous record. */
  sipResponses5xx: 'SipResponses5xx',
  /** Count: final 4xx responses the node sent to INVITEs since the previous record. */
  sipResponses4xx: 'SipResponses4xx',
  /** Seconds, a distribution (values and counts): callback round trips that ended in a reply or the fallback. */
  callbackRoundTrip: 'CallbackRoundTrip',
  /** Count: callbacks whose wait ended in the defined fallback (no reply in time, error, invalid reply). */
  callbackFallbacks: 'CallbackFallbacks',
  /** Seconds, a distribution: the key that ended a digit collection to the next prompt's first phrase. */
  dtmfToNextPrompt: 'DtmfToNextPrompt',
  /** Seconds: the event loop's delay, 99th percentile and maximum since the previous read of the registry. */
  eventLoopLagP99: 'EventLoopLagP99',
  eventLoopLagMax: 'EventLoopLagMax',
  /** Count, gauge: rtpengine's RTP ports in use (absent while rtpengine does not report them). */
  rtpPortsInUse: 'RtpPortsInUse',
  /** Count, gauge: 1 when rtpengine answered its control protocol, else 0. */
  rtpengineUp: 'RtpengineUp',
  /** Bytes, gauge: cached audio under CACHE_DIR. */
  audioCacheBytes: 'AudioCacheBytes',
  /** Percent, gauge: the share of new INVITEs the node refuses for its load (docs/operations.md, "Overload"). */
  overloadShedPercent: 'OverloadShedPercent',
} as const;

export type NodeMetricName = (typeof NODE_METRIC)[keyof typeof NODE_METRIC];
