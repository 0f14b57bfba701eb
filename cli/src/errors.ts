/**
 * An option of a call that cannot be used, found before anything is sent. `field` is the CallOptions
 * field (the CLI names its flag instead); `reason` says what is wrong, in one line.
 */
export class CallOptionsError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'CallOptionsError';
  }
}

/** The control-plane API could not give the call's journal (refused key, unreachable, not found in time). */
export class JournalError extends Error {
  constructor(
    message: string,
    /** The HTTP status when the API answered, else undefined. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'JournalError';
  }
}
