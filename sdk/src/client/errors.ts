import type { ErrorResponse } from '../generated/wire.js';

/** The API's stable error codes, and the client's own for failures without an API answer. */
export type ApiErrorCode =
  | ErrorResponse['error']['code']
  /** No HTTP response: DNS, connection refused or reset. */
  | 'network_error'
  /** No response within the timeout (after the retries). */
  | 'timeout'
  /** A response that is not the API's (not JSON where JSON was due, a proxy's error page). */
  | 'invalid_response';

/**
 * Every failed call of SipmsClient throws this (an AbortSignal the caller aborted rethrows its reason instead).
 * `code` is the API's stable code (`not_found`, `conflict`, `validation_failed`, …) or one of the client's own;
 * `status` is the HTTP status, 0 when there was no response.
 */
export class SipmsApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  /** The operation that failed (its operationId in the OpenAPI document). */
  readonly operation: string;
  /** `x-request-id` of the response: quote it to the operator. */
  readonly requestId: string | undefined;
  /** validation_failed: the offending field (dotted path). */
  readonly field: string | undefined;
  /** The API's whole error object (limit, retryAfterSeconds, destination, …), when there was one. */
  readonly details: ErrorResponse['error'] | undefined;

  constructor(init: {
    status: number;
    code: ApiErrorCode;
    message: string;
    operation: string;
    requestId?: string | undefined;
    details?: ErrorResponse['error'] | undefined;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'SipmsApiError';
    this.status = init.status;
    this.code = init.code;
    this.operation = init.operation;
    this.requestId = init.requestId;
    this.details = init.details;
    this.field = typeof init.details?.field === 'string' ? init.details.field : undefined;
  }
}

export function isSipmsApiError(error: unknown, code?: ApiErrorCode): error is SipmsApiError {
  return error instanceof SipmsApiError && (code === undefined || error.code === code);
}
