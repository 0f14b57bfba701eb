import { type Logger as PinoLogger, pino } from 'pino';

/** Structured JSON logs, one line each; the only logger interface the code depends on. */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

/** How deep a `cause` chain (and AggregateError's `errors`) is followed, and how many aggregated errors are kept. */
const MAX_ERROR_DEPTH = 5;
const MAX_AGGREGATED = 10;
/** Fields of Node.js system errors worth keeping next to `code` (e.g. a socket's `syscall` and `address`). */
const SYSTEM_ERROR_FIELDS = ['errno', 'syscall', 'address', 'port', 'path'] as const;

/**
 * An Error as plain JSON: name, message, code, stack, the `cause` chain and AggregateError's `errors`, each followed
 * recursively up to MAX_ERROR_DEPTH levels (deeper or repeated causes are summarised, never dropped silently).
 */
export function serializeError(err: Error, depth = 0, seen: Set<unknown> = new Set()): Record<string, unknown> {
  seen.add(err);
  const e = err as Error & { code?: unknown; errors?: unknown };
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  if (e.code !== undefined) out.code = e.code;
  for (const field of SYSTEM_ERROR_FIELDS) {
    const v = (e as unknown as Record<string, unknown>)[field];
    if (typeof v === 'string' || typeof v === 'number') out[field] = v;
  }
  if (e.stack) out.stack = e.stack;
  const nested = (v: unknown): unknown => {
    if (!(v instanceof Error)) return serializeValue(v);
    if (seen.has(v)) return { name: v.name, message: v.message, circular: true };
    if (depth + 1 >= MAX_ERROR_DEPTH) return { name: v.name, message: v.message, truncated: true };
    return serializeError(v, depth + 1, seen);
  };
  if ('cause' in e && e.cause !== undefined) out.cause = nested(e.cause);
  if (Array.isArray(e.errors)) {
    out.errors = e.errors.slice(0, MAX_AGGREGATED).map(nested);
    if (e.errors.length > MAX_AGGREGATED) out.errorsOmitted = e.errors.length - MAX_AGGREGATED;
  }
  return out;
}

function serializeValue(v: unknown): unknown {
  return v instanceof Error ? serializeError(v) : v;
}

function serialize(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = serializeValue(v);
  return out;
}

/**
 * The logger of the media node and the local processes, on pino: one JSON line per entry with the same
 * fields as the Lambdas' Powertools lines (lambdas/src/observability/powertools-logger.ts): `level` (lower
 * case), `time` (ISO 8601, UTC), `msg`, `service`, the context a child adds (sessionId, tenantId, traceId) and
 * the entry's fields; an Error in any field is kept whole by `serializeError` (stack, code, cause chain).
 * Lines go to stderr (stdout is for people: the local deployment's ready line), or to `write` (tests).
 */
export function createLogger(
  base: Record<string, unknown> = {},
  level: LogLevel = (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info',
  write?: (line: string) => void,
): Logger {
  const destination = write
    ? { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ fd: 2, sync: true });
  const root = pino(
    {
      level: level in LEVELS ? level : 'info',
      base: null, // no pid/hostname: `service` and the context say where a line is from
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors under any key (not only pino's `err`) as serializeError shapes them.
      serializers: { err: serializeValue },
      formatters: { level: (label) => ({ level: label }), bindings: serialize, log: serialize },
    },
    destination,
  );
  return wrap(root.child(base));
}

function wrap(p: PinoLogger): Logger {
  return {
    debug: (fields, msg) => p.debug(fields, msg),
    info: (fields, msg) => p.info(fields, msg),
    warn: (fields, msg) => p.warn(fields, msg),
    error: (fields, msg) => p.error(fields, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}
