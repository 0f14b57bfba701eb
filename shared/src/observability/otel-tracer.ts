import {
  type Tracer as OtelApiTracer,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../util/logger.js';
import { JsonLinesSpanExporter } from './json-lines-span-exporter.js';
import { formatTraceparent, parseTraceparent } from './trace-context.js';
import {
  type SpanOptions,
  TRACES_EXPORTER_PATTERN,
  type Tracer,
  type TraceSpan,
  UNRECORDED_TRACER,
} from './tracing.js';
import { XrayOtlpExporter } from './xray-otlp-exporter.js';

const KIND: Record<NonNullable<SpanOptions['kind']>, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** A rotated JSON-lines trace file grows to this before it is rotated (one previous file is kept). */
const TRACE_FILE_MAX_BYTES = 64 * 1024 * 1024;

class OtelSpan implements TraceSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
  private ended = false;

  constructor(readonly span: Span) {
    const ctx = span.spanContext();
    this.traceId = ctx.traceId;
    this.spanId = ctx.spanId;
    this.traceparent = formatTraceparent(ctx);
  }

  setAttributes(attributes: Record<string, string | number | boolean | undefined>): void {
    this.span.setAttributes(attributes);
  }

  fail(reason: string): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

/** The Tracer port on the OpenTelemetry SDK: spans batched and exported by `exporter`. */
export class OtelTracer implements Tracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: OtelApiTracer;

  constructor(
    service: string,
    exporter: SpanExporter,
    private readonly logger: Logger,
    /** The process may be frozen between invocations (Lambda): each invocation's spans are exported as it ends. */
    private readonly frozenBetweenInvocations = false,
  ) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      // Batched off the call path: at most every second, or at 512 spans.
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxExportBatchSize: 512 })],
    });
    this.tracer = this.provider.getTracer('sip-mediaserver');
    // The SDK reports a failed export here (not to flush's caller): a warning, at most once a minute.
    let lastWarned = 0;
    setGlobalErrorHandler((err) => {
      if (Date.now() - lastWarned < 60_000) return;
      lastWarned = Date.now();
      this.logger.warn({ err }, 'trace export failed; spans of this batch are lost (warned at most once a minute)');
    });
  }

  startSpan(name: string, options: SpanOptions = {}): TraceSpan {
    const { parent } = options;
    let ctx = ROOT_CONTEXT;
    if (parent instanceof OtelSpan) ctx = trace.setSpan(ROOT_CONTEXT, parent.span);
    else if (parent !== undefined) {
      const remote = parseTraceparent(typeof parent === 'string' ? parent : parent.traceparent);
      if (remote)
        ctx = trace.setSpanContext(ROOT_CONTEXT, { ...remote, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    }
    const span = this.tracer.startSpan(
      name,
      { kind: KIND[options.kind ?? 'internal'], ...(options.attributes ? { attributes: options.attributes } : {}) },
      ctx,
    );
    return new OtelSpan(span);
  }

  async flush(): Promise<void> {
    await this.provider.forceFlush().catch((err) => this.logger.warn({ err }, 'trace export failed'));
  }

  async invocationEnded(): Promise<void> {
    if (this.frozenBetweenInvocations) await this.flush();
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch((err) => this.logger.warn({ err }, 'trace export at shutdown failed'));
  }
}

/**
 * The tracer `TRACES_EXPORTER` names (TRACES_EXPORTER_PATTERN), for the service `service`. Settings are checked
 * here, at start-up: `otlp` without an endpoint or `xray` without a region is an error, never a silent `none`.
 */
export function tracerFromSpec(
  spec: string,
  opts: { service: string; logger: Logger; env?: NodeJS.ProcessEnv },
): Tracer {
  const env = opts.env ?? process.env;
  if (!TRACES_EXPORTER_PATTERN.test(spec)) throw new Error(`TRACES_EXPORTER: unknown exporter "${spec}"`);
  if (spec === 'none') return UNRECORDED_TRACER;
  const logger = opts.logger.child({ c: 'traces' });
  let exporter: SpanExporter;
  if (spec === 'stderr') exporter = new JsonLinesSpanExporter({ write: (t) => process.stderr.write(t) });
  else if (spec.startsWith('file:'))
    exporter = new JsonLinesSpanExporter({ file: spec.slice('file:'.length), maxBytes: TRACE_FILE_MAX_BYTES });
  else if (spec === 'otlp') {
    const url =
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
      (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : '');
    if (!url)
      throw new Error('TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)');
    exporter = new OTLPTraceExporter({ url });
  } else {
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('TRACES_EXPORTER=xray needs AWS_REGION');
    exporter = new XrayOtlpExporter({ region });
  }
  // Lambda sets AWS_LAMBDA_FUNCTION_NAME: there the process is frozen between invocations.
  return new OtelTracer(opts.service, exporter, logger, Boolean(env.AWS_LAMBDA_FUNCTION_NAME));
}
