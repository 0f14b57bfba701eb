/**
 * One error hierarchy with stable codes. `code` is part of the public contract (`{error:{code,message}}`);
 * the HTTP status for each code is decided here and nowhere else.
 */

export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra fields safe to show to the caller (e.g. the offending field, a limit). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
  }

  get httpStatus(): number {
    return ERROR_STATUS[this.code];
  }
}

export class ValidationError extends AppError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('validation_failed', field ? `${field}: ${message}` : message, { details: { field } });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid API key') {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

/** The public body for any error; internals never leak (unknown errors become `internal`). */
export function errorBody(
  err: unknown,
  requestId?: string,
): { status: number; body: { error: Record<string, unknown> } } {
  if (err instanceof AppError) {
    return {
      status: err.httpStatus,
      body: {
        error: { code: err.code, message: err.message, ...(err.details ?? {}), ...(requestId ? { requestId } : {}) },
      },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error', ...(requestId ? { requestId } : {}) } },
  };
}
