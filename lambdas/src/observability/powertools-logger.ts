import { LogFormatter, LogItem, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { type Logger, type LogLevel, serializeError } from '@sipms/shared/util/logger';

/**
 * The Lambdas' Logger on Powertools for AWS Lambda (Logger), writing the media node's line shape so one query
 * covers both (docs/operations.md):
 *
 *   Powertools default    here (= media node, shared/src/util/logger.ts)
 *   level: "INFO"         level: "info"
 *   timestamp             time (ISO 8601, UTC)
 *   message               msg
 *   service               service (POWERTOOLS_SERVICE_NAME, else the name the code gives)
 *   (extra keys)          the fields as given; errors (any field) as serializeError: name, message, stack, cause…
 *   function_request_id   awsRequestId (handlers add it to their lines' fields)
 *
 * Keys come in pino's order: level, time, service, the context and fields, msg last.
 *
 * Powertools decides the level (LOG_LEVEL / POWERTOOLS_LOG_LEVEL, or Lambda's advanced logging controls, which win
 * on AWS), formats and serializes; every line goes to stderr as the media node's do: the local deployment's stdout
 * is for people (its ready line), and on Lambda both streams reach CloudWatch Logs.
 */

/** The key the adapter hands a line's fields to the formatter under (so Powertools' reserved keys stay ours). */
const FIELDS = 'sipmsFields';

const PT_LEVEL: Record<LogLevel, 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT'> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  silent: 'SILENT',
};
const ORDER = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];

/** LOG_LEVEL (or POWERTOOLS_LOG_LEVEL) in either case; anything else is `info`. */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = (env.POWERTOOLS_LOG_LEVEL || env.LOG_LEVEL || '').toLowerCase();
  return v in PT_LEVEL ? (v as LogLevel) : 'info';
}

/** Formats a Powertools log item as the media node's line. */
class MediaNodeShapeFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const { [FIELDS]: fields, ...rest } = additional;
    return new LogItem({
      attributes: {
        level: attributes.logLevel.toLowerCase(),
        time: attributes.timestamp.toISOString(),
        service: attributes.serviceName,
        // Keys added through Powertools' own API (appendKeys), if any.
        ...rest,
        ...(fields as LogAttributes | undefined),
        // Last, as pino writes it (the media node's logger).
        msg: attributes.message,
      },
    });
  }
}

/** Powertools Logger whose lines go to `write` (stderr), whole, as the formatter made them. */
class LineLogger extends PowertoolsLogger {
  // Set after super(): the constructor may print (a buffered warning) before, which then goes to stderr.
  private sink: ((line: string) => void) | undefined;

  constructor(options: ConstructorParameters<typeof PowertoolsLogger>[0], write: (line: string) => void) {
    super(options);
    this.sink = write;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    // No prepareForPrint(): it drops '' and null values, which the media node keeps.
    const line = JSON.stringify(log.getAttributes(), this.getJsonReplacer());
    (this.sink ?? writeStderr)(line);
  }
}

const writeStderr = (line: string) => {
  process.stderr.write(`${line}\n`);
};

function serialize(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? serializeError(v) : v;
  return out;
}

/**
 * A Logger (the interface the code depends on) backed by Powertools. `base.service` names the service unless
 * POWERTOOLS_SERVICE_NAME is set; `level` defaults to LOG_LEVEL. Outside Lambda it works the same (no context:
 * no awsRequestId).
 */
export function createPowertoolsLogger(
  base: Record<string, unknown> = {},
  level: LogLevel = levelFromEnv(),
  write: (line: string) => void = writeStderr,
): Logger {
  const { service, ...rest } = base;
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME || (typeof service === 'string' ? service : 'control-plane');
  const pt = new LineLogger(
    { serviceName, logLevel: PT_LEVEL[level] ?? 'INFO', logFormatter: new MediaNodeShapeFormatter() },
    write,
  );
  return adapter(pt, rest);
}

function adapter(pt: PowertoolsLogger, base: Record<string, unknown>): Logger {
  const log =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (fields: Record<string, unknown>, msg: string): void => {
      // Powertools filters too; checking first spares serializing the fields of a line nobody reads.
      if (ORDER.indexOf(pt.getLevelName()) > ORDER.indexOf(PT_LEVEL[method])) return;
      pt[method](msg, { [FIELDS]: { ...base, ...serialize(fields) } });
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => adapter(pt, { ...base, ...serialize(fields) }),
  };
}
