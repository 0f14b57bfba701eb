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

export function createLogger(
  base: Record<string, unknown> = {},
  level: LogLevel = (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const log = (lvl: Exclude<LogLevel, 'silent'>) => (fields: Record<string, unknown>, msg: string) => {
    if (LEVELS[lvl] < min) return;
    write(JSON.stringify({ level: lvl, time: new Date().toISOString(), msg, ...base, ...serialize(fields) }));
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger({ ...base, ...fields }, level, write),
  };
}
