/**
 * The control plane's CloudWatch metrics (embedded metric format, written by
 * lambdas/src/observability/powertools-metrics.ts): one definition for the code that emits them and the
 * dashboard that graphs them (infra/src/cdk/constructs/operations.ts).
 * Dimensions stay low-cardinality: never a tenant, session or event id (those go in the record's metadata).
 */
/** Defined once for the Lambdas and the media nodes (shared/src/observability/cloudwatch-metrics.ts). */
export { METRICS_NAMESPACE } from '@sipms/shared/observability/cloudwatch-metrics';

/** The `service` of the Lambdas' log lines and metrics (POWERTOOLS_SERVICE_NAME; the media node logs `media-node`). */
export const SERVICE = { controlPlane: 'control-plane', nodeSweeper: 'node-sweeper' } as const;

export const METRIC = {
  /** Count, one per callback event the dispatcher handled; dimensions outcome (+ callbackType). */
  callbacks: 'CallbacksDispatched',
  /** Milliseconds from the dispatcher taking the event to the outcome stored (delivered callbacks only). */
  callbackLatency: 'CallbackDeliveryLatency',
  /** Count of webhook POSTs one delivered callback took (callbackUrl retries and fallbackUrl). */
  webhookAttempts: 'WebhookAttempts',
  /** Count, one per API request; dimensions statusClass (+ routeGroup). */
  apiRequests: 'ApiRequests',
} as const;

/** Dimension names (Powertools adds `service` to every set). */
export const DIMENSION = {
  outcome: 'outcome',
  callbackType: 'callbackType',
  routeGroup: 'routeGroup',
  statusClass: 'statusClass',
} as const;

export type CallbackOutcome = 'reply' | 'fallback' | 'duplicate';
export const CALLBACK_OUTCOMES: readonly CallbackOutcome[] = ['reply', 'fallback', 'duplicate'];

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

/** `2xx` … `5xx`; anything outside 200–599 counts as `5xx` (the handler answered something it should not). */
export function statusClass(status: number): StatusClass {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  return '5xx';
}
