/**
 * @sipms/cli as a library: place a real SIP call against a SIP Mediaserver deployment and get its
 * outcome, what was heard and the session's callbacks (the SDK's test kit uses this).
 */

export { parseDtmfSpec } from './args.js';
export { CallOptionsError, JournalError } from './errors.js';
export { EXIT, exitCodeOf } from './exit-codes.js';
export { placeCall } from './place-call.js';
export { formatResult } from './report.js';
export type { CallOptions, CallResult, TimelineEntry } from './types.js';
