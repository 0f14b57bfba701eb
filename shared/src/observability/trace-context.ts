import { randomBytes } from 'node:crypto';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): one trace per call, created at the INVITE (or
 * the REST placement) and carried on every callback, so a slow callback can be followed from the SIP side
 * through the bus and the dispatcher to the tenant's webhook, which receives `traceparent`.
 */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero: the span the next hop's work is a child of. */
  spanId: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

function randomHex(bytes: number, zero: string): string {
  let hex = randomBytes(bytes).toString('hex');
  // All-zero ids are invalid; at 2^-64 and less this never repeats.
  while (hex === zero) hex = randomBytes(bytes).toString('hex');
  return hex;
}

export function newTraceId(): string {
  return randomHex(16, ZERO_TRACE);
}

export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN);
}

/** A new span in the trace `traceId` (or a new trace). */
export function newSpan(traceId: string = newTraceId()): TraceContext {
  return { traceId, spanId: newSpanId() };
}

/** The `traceparent` header value; sampled, so a collector that honours the flag keeps it. */
export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-01`;
}

/** A valid version-00 `traceparent`, or undefined (a malformed header starts a new trace, as the spec says). */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  const m = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]! };
}

/** The schema's pattern for a stored or carried `traceparent`. */
export const TRACEPARENT_PATTERN = TRACEPARENT;
