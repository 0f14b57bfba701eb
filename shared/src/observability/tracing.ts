import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './trace-context.js';

/**
 * The one tracer the code sees (docs/operations.md, "Traces"): spans of a call's W3C trace, from the INVITE
 * (the media node's call span) through each callback (a span of its own, whose `traceparent` the event
 * carries) to the dispatcher's webhook POST (a child of it, whose `traceparent` the tenant receives).
 * OpenTelemetry implements it (otel-tracer.ts); the call-flow core and the dispatcher depend only on this.
 *
 * Where spans go (`TRACES_EXPORTER`, built by otel-tracer.ts):
 * - `none`: not recorded (ids and `traceparent`s are still made and carried);
 * - `stderr`, or `file:<path>`: JSON lines (json-lines-span-exporter.ts), no collector needed;
 * - `otlp`: OTLP/HTTP to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`);
 * - `xray`: AWS X-Ray's OTLP endpoint in `AWS_REGION`, signed with the role's credentials (xray-otlp-exporter.ts).
 */
export const TRACES_EXPORTER_PATTERN = /^(none|stderr|otlp|xray|file:.+)$/;

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface TraceSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** This span as a W3C `traceparent`: what the next hop names as its parent. */
  readonly traceparent: string;
  setAttributes(attributes: SpanAttributes): void;
  /** The span's work failed (status error), and why. */
  fail(reason: string): void;
  /** Ends the span (once; later calls do nothing). */
  end(): void;
}

export interface SpanOptions {
  /** The parent: a span of this process, or a `traceparent` from elsewhere. None (or malformed): a new trace. */
  parent?: TraceSpan | string | undefined;
  kind?: SpanKind;
  attributes?: SpanAttributes;
}

export interface Tracer {
  startSpan(name: string, options?: SpanOptions): TraceSpan;
  /** Exports the spans that have ended. Never rejects. */
  flush(): Promise<void>;
  /**
   * An invocation (a Lambda handler's run) ends: in a process that may be frozen until the next one (Lambda), its
   * spans are exported now; a long-running process leaves them to the next batch. Never rejects.
   */
  invocationEnded(): Promise<void>;
  /** Exports what is left and stops (a stopping process). Never rejects. */
  shutdown(): Promise<void>;
}

/** The parent's trace id, or undefined for a new trace. */
export function parentTraceId(parent: SpanOptions['parent']): string | undefined {
  if (parent === undefined) return undefined;
  return typeof parent === 'string' ? parseTraceparent(parent)?.traceId : parent.traceId;
}

/**
 * Spans that are never recorded, with valid ids and `traceparent`s all the same (what a trace needs to cross
 * processes): tracing turned off (`TRACES_EXPORTER=none`), and unit tests.
 */
export const UNRECORDED_TRACER: Tracer = Object.freeze({
  startSpan(_name: string, options: SpanOptions = {}): TraceSpan {
    const traceId = parentTraceId(options.parent) ?? newTraceId();
    const spanId = newSpanId();
    return {
      traceId,
      spanId,
      traceparent: formatTraceparent({ traceId, spanId }),
      setAttributes: () => undefined,
      fail: () => undefined,
      end: () => undefined,
    };
  },
  flush: () => Promise.resolve(),
  invocationEnded: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});
