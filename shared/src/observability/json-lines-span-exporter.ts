import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ExportResult, ExportResultCode, hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

const KINDS = ['internal', 'server', 'client', 'producer', 'consumer'] as const;
const STATUS = ['unset', 'ok', 'error'] as const;

/** One finished span as a JSON object: what `TRACES_EXPORTER=file:…`/`stderr` writes, one per line. */
export function spanRecord(span: ReadableSpan): Record<string, unknown> {
  const ctx = span.spanContext();
  const start = hrTimeToMilliseconds(span.startTime);
  return {
    name: span.name,
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
    kind: KINDS[span.kind] ?? 'internal',
    service: span.resource.attributes['service.name'],
    start: new Date(start).toISOString(),
    durationMs: Math.round(hrTimeToMilliseconds(span.duration) * 1000) / 1000,
    status: STATUS[span.status.code] ?? 'unset',
    ...(span.status.message ? { statusMessage: span.status.message } : {}),
    attributes: span.attributes,
  };
}

/**
 * Spans as JSON lines, to a file (rotated once it passes `maxBytes`: the previous one is kept as `<file>.1`)
 * or to a stream's `write` (stderr): tracing that works with no collector (`npm start` writes
 * `<DATA_DIR>/traces/<process>.jsonl`).
 */
export class JsonLinesSpanExporter implements SpanExporter {
  private written = -1;

  constructor(private readonly target: { file: string; maxBytes: number } | { write: (text: string) => void }) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const text = spans.map((s) => `${JSON.stringify(spanRecord(s))}\n`).join('');
    if ('write' in this.target) {
      this.target.write(text);
      done({ code: ExportResultCode.SUCCESS });
      return;
    }
    this.append(this.target.file, this.target.maxBytes, text).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }

  private async append(file: string, maxBytes: number, text: string): Promise<void> {
    if (this.written < 0) {
      await mkdir(dirname(file), { recursive: true });
      this.written = await stat(file).then(
        (s) => s.size,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return 0;
          throw err;
        },
      );
    }
    if (this.written > 0 && this.written + text.length > maxBytes) {
      await rename(file, `${file}.1`);
      this.written = 0;
    }
    await appendFile(file, text);
    this.written += Buffer.byteLength(text);
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
