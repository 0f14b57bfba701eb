import type { CallbackOutcome } from './metric-names.js';

/** One callback event the dispatcher handled. */
export interface CallbackMetric {
  outcome: CallbackOutcome;
  callbackType: string;
  /** Delivered callbacks: from taking the event to the outcome stored (the journal's latencyMs). */
  latencyMs?: number;
  /** Delivered callbacks: webhook POSTs made (0 when none could be made). */
  webhookAttempts?: number;
  /** High-cardinality context: record metadata for log queries, never a dimension. */
  tenantId: string;
  sessionId: string;
  eventId: string;
}

/** One API request a route group's handler answered. */
export interface ApiRequestMetric {
  routeGroup: string;
  status: number;
  /** Metadata only. */
  requestId?: string;
}

export interface CallbackMetrics {
  callback(m: CallbackMetric): void;
}

export interface ApiMetrics {
  apiRequest(m: ApiRequestMetric): void;
}

/**
 * What the Lambdas count. Recording only buffers; `flush()` writes what was recorded (CloudWatch embedded metric
 * format on stdout: lambdas/src/observability/powertools-metrics.ts) and is called at the end of each invocation.
 */
export interface ControlPlaneMetrics extends CallbackMetrics, ApiMetrics {
  flush(): void;
}

/** Counts nothing: for tests, and for code built without a metrics sink. */
export const NO_METRICS: ControlPlaneMetrics = {
  callback: () => undefined,
  apiRequest: () => undefined,
  flush: () => undefined,
};
