/**
 * One error hierarchy with stable codes. `code` is part of the public contract (`{error:{code,message}}`);
 * the HTTP status for each code is decided here and nowhere else.
 */

export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  /** The caller's tenant is suspended by the operator; `reason` says why when the operator gave one. */
  tenant_suspended: 403,
  /** Signup is closed on this deployment. */
  signup_closed: 403,
  /** Signup needs an invitation code on this deployment. */
  invitation_required: 403,
  /** The invitation code is unknown, used or expired. */
  invitation_invalid: 403,
  /** The operator's outbound allow-list does not include the destination; `destination` names it. */
  destination_not_allowed: 403,
  /** The operator's claimable-number patterns do not include the number; `number` names it. */
  number_not_claimable: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  /** A per-tenant count limit (e.g. maxNumbers) is reached; `limit` says it. */
  limit_exceeded: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** The message of anything thrown: an Error's message, otherwise its string form. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra fields safe to show to the caller (e.g. the offending field, a limit). */
  readonly details: Record<string, unknown> | undefined;
  /** Response headers that belong to this error (e.g. `retry-after`). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
    this.headers = options?.headers;
  }

  get httpStatus(): number {
    return ERROR_STATUS[this.code];
  }
}

export class ValidationError extends AppError {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('validation_failed', field ? `${field}: ${message}` : message, { details: { field }, cause: options?.cause });
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
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, details ? { details } : undefined);
    this.name = 'ConflictError';
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid API key') {
    super('unauthorized', message, { headers: { 'www-authenticate': 'Bearer' } });
    this.name = 'UnauthorizedError';
  }
}

/** Too many requests from one source (or for one tenant) in a window; says the limit and when to retry. */
export class RateLimitedError extends AppError {
  constructor(what: string, limit: number, windowSeconds: number, retryAfterSeconds: number) {
    super('rate_limited', `${what}: at most ${limit} per ${windowSeconds} s; retry in ${retryAfterSeconds} s`, {
      details: { limit, windowSeconds, retryAfterSeconds },
      headers: { 'retry-after': String(retryAfterSeconds) },
    });
    this.name = 'RateLimitedError';
  }
}

/** AWS SDK errors that mean "try again shortly", never a bug of ours. */
const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'ServiceUnavailable',
]);

/** Maps any thrown value to an AppError: internals (messages, stacks, causes) never reach the caller. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const name = (err as { name?: unknown })?.name;
  if (typeof name === 'string' && THROTTLING.has(name)) {
    return new AppError('unavailable', 'the service is busy; retry shortly', {
      cause: err,
      headers: { 'retry-after': '1' },
    });
  }
  return new AppError('internal', 'internal error', { cause: err });
}

/** The public body for any error; internals never leak (unknown errors become `internal`). */
export function errorBody(
  err: unknown,
  requestId?: string,
): { status: number; body: { error: Record<string, unknown> }; headers: Record<string, string> } {
  const e = toAppError(err);
  return {
    status: e.httpStatus,
    body: { error: { code: e.code, message: e.message, ...(e.details ?? {}), ...(requestId ? { requestId } : {}) } },
    headers: e.headers ?? {},
  };
}
