import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { createLogger, type Logger } from '@sipms/shared/util/logger';
import { DIMENSION, METRIC, METRICS_NAMESPACE, SERVICE, statusClass } from './metric-names.js';
import type { ApiRequestMetric, CallbackMetric, ControlPlaneMetrics } from './metrics.js';

export interface PowertoolsMetricsOptions {
  /** The `service` dimension; POWERTOOLS_SERVICE_NAME wins when set. */
  service?: string;
  /** POWERTOOLS_METRICS_NAMESPACE wins when set; else `SipMediaserver`. */
  namespace?: string;
  /** Where a metric that cannot be written is reported (metrics never fail an invocation). */
  logger?: Logger;
}

/**
 * ControlPlaneMetrics on Powertools for AWS Lambda (Metrics): each recorded event becomes one EMF record on
 * stdout, which CloudWatch Logs turns into metrics in the namespace. POWERTOOLS_METRICS_DISABLED=true (the
 * local deployment) keeps the same code path but writes nothing.
 *
 * Recording only queues; flush() writes the queue synchronously, one record at a time (dimensions, metrics and
 * metadata set, then published). The Powertools instance is shared by the process and the local deployment runs
 * invocations concurrently, so nothing is left on it across an `await`.
 */
export function createPowertoolsMetrics(opts: PowertoolsMetricsOptions = {}): ControlPlaneMetrics {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME || opts.service || SERVICE.controlPlane;
  const log = (opts.logger ?? createLogger({ service: serviceName })).child({ c: 'metrics' });
  const metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || opts.namespace || METRICS_NAMESPACE,
    serviceName,
    logger: powertoolsDiagnostics(log),
  });
  const pending: ((m: Metrics) => void)[] = [];
  return {
    callback(c: CallbackMetric) {
      pending.push((m) => {
        // Two dimension sets: by outcome (the dashboard), and by outcome and callback type (drill-down).
        m.addDimensions({ [DIMENSION.outcome]: c.outcome });
        m.addDimensions({ [DIMENSION.outcome]: c.outcome, [DIMENSION.callbackType]: c.callbackType });
        m.addMetric(METRIC.callbacks, MetricUnit.Count, 1);
        if (c.latencyMs !== undefined) m.addMetric(METRIC.callbackLatency, MetricUnit.Milliseconds, c.latencyMs);
        if (c.webhookAttempts !== undefined) m.addMetric(METRIC.webhookAttempts, MetricUnit.Count, c.webhookAttempts);
        m.addMetadata('tenantId', c.tenantId);
        m.addMetadata('sessionId', c.sessionId);
        m.addMetadata('eventId', c.eventId);
      });
    },
    apiRequest(r: ApiRequestMetric) {
      pending.push((m) => {
        const cls = statusClass(r.status);
        m.addDimensions({ [DIMENSION.statusClass]: cls });
        m.addDimensions({ [DIMENSION.routeGroup]: r.routeGroup, [DIMENSION.statusClass]: cls });
        m.addMetric(METRIC.apiRequests, MetricUnit.Count, 1);
        if (r.requestId) m.addMetadata('requestId', r.requestId);
      });
    },
    flush() {
      for (const write of pending.splice(0)) {
        try {
          write(metrics);
          // Never published empty: Powertools would warn on the console about it.
          if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
        } catch (err) {
          metrics.clearMetrics();
          metrics.clearDimensions();
          metrics.clearMetadata();
          log.warn({ err }, 'metric record dropped');
        }
      }
    },
  };
}

/**
 * Two dimension sets of one record share a key on purpose (`outcome`, `statusClass`), with the same value; Powertools
 * notices every shared key on the console. That notice is debug here.
 */
const SHARED_DIMENSION_NOTICE = /^EMF key "[^"]+" is defined as both a dimension set and dimension set/;

/** Powertools Metrics' own messages, as JSON lines of our logger instead of console text. */
function powertoolsDiagnostics(log: Logger) {
  const line =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      const msg = args.map(String).join(' ');
      log[level === 'warn' && SHARED_DIMENSION_NOTICE.test(msg) ? 'debug' : level]({}, msg);
    };
  return { trace: line('debug'), debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
