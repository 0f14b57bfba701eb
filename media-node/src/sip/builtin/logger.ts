/** The minimal logger the stack needs; pino and console-like loggers both fit. */

export interface SipLogger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

const noop = (): void => undefined;

export const silentLogger: SipLogger = { debug: noop, info: noop, warn: noop, error: noop };
