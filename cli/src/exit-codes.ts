import type { CallResult } from './types.js';

/** What `sipms call` exits with (cli/README.md lists them). */
export const EXIT = {
  /** Answered, and ended normally: the far end hung up, or --hangup-after. */
  ok: 0,
  /** Anything else that went wrong: an answered call that ended abnormally, an unexpected error. */
  failed: 1,
  /** Bad options: a one-line error names the option; nothing was sent. */
  usage: 2,
  /** Rejected with a final SIP error response (4xx, 5xx, 6xx); the status is printed. */
  rejected: 3,
  /** Not answered in time: no final response within --ring-timeout, or no response at all. */
  timeout: 4,
  /** The server could not be reached (connection refused, network error). */
  unreachable: 5,
  /** --api-url and --api-key were given but the call's journal could not be read. */
  journal: 6,
  /** Interrupted (Ctrl-C): the call was hung up or cancelled. */
  interrupted: 130,
} as const;

export function exitCodeOf(result: CallResult, interrupted: boolean): number {
  if (interrupted) return EXIT.interrupted;
  if (!result.answered) {
    if (result.endedBy === 'remote') return EXIT.rejected;
    if (result.endedBy === 'timeout') return EXIT.timeout;
    if (result.endedBy === 'error') return EXIT.unreachable;
    return EXIT.failed;
  }
  if (result.endedBy === 'error') return EXIT.failed;
  if (result.journalError !== undefined) return EXIT.journal;
  return EXIT.ok;
}
