import type { Logger } from '@sipms/shared/util/logger';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * A Logger that keeps every line (children share the list and add their fields), so a test can assert
 * that something was logged, e.g. "call rate check failed; call allowed". Set PRINT_LOGS=1 to see them.
 */
export class RecordingLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly base: Record<string, unknown> = {},
  ) {}

  private add(level: LogEntry['level'], fields: Record<string, unknown>, msg: string): void {
    const entry = { level, msg, fields: { ...this.base, ...fields } };
    this.entries.push(entry);
    if (process.env.PRINT_LOGS) process.stderr.write(`${level} ${msg} ${JSON.stringify(entry.fields)}\n`);
  }

  debug(fields: Record<string, unknown>, msg: string): void {
    this.add('debug', fields, msg);
  }
  info(fields: Record<string, unknown>, msg: string): void {
    this.add('info', fields, msg);
  }
  warn(fields: Record<string, unknown>, msg: string): void {
    this.add('warn', fields, msg);
  }
  error(fields: Record<string, unknown>, msg: string): void {
    this.add('error', fields, msg);
  }
  child(fields: Record<string, unknown>): Logger {
    return new RecordingLogger(this.entries, { ...this.base, ...fields });
  }

  /** Lines whose message matches, optionally of one level. */
  find(msg: string | RegExp, level?: LogEntry['level']): LogEntry[] {
    return this.entries.filter(
      (e) => (level === undefined || e.level === level) && (typeof msg === 'string' ? e.msg === msg : msg.test(e.msg)),
    );
  }
}
