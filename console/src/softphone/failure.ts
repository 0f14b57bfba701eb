/**
 * Why a softphone call did not happen or ended, as a sentence: from JsSIP's cause string, the SIP status
 * of the final response and what the peer connection saw. Pure: unit-tested.
 */

export interface CallOutcome {
  /** JsSIP's cause ('Rejected', 'Not Found', 'RTP Timeout', 'Terminated', …). */
  cause: string;
  /** Who ended it: 'local', 'remote' or 'system'. */
  originator: string;
  /** The final response's status, when a response ended it. */
  statusCode?: number;
  reasonPhrase?: string;
  /** The peer connection's ICE state reached 'failed'. */
  iceFailed?: boolean;
}

const ICE_FAILED = 'no media path (ICE failed): the browser could not reach the media server’s WebRTC address.';

const BY_STATUS: Record<number, string> = {
  403: 'Forbidden (403): the number is not one of your tenant’s, or the softphone credential has expired.',
  404: 'Not found (404): no tenant has claimed this number.',
  408: 'No answer in time (408).',
  480: 'Temporarily unavailable (480): the voice app could not take the call now.',
  486: 'Busy (486): the voice app refused the call as busy.',
  488: 'Not acceptable (488): the media server refused the browser’s media offer.',
  503: 'Service unavailable (503): no media node could take the call.',
  603: 'Declined (603).',
};

/** The message for a call that failed before it was answered (the `failed` event). */
export function failureMessage(o: CallOutcome): string {
  if (o.iceFailed || o.cause === 'RTP Timeout') return `N${ICE_FAILED.slice(1)}`;
  if (o.statusCode !== undefined && o.statusCode >= 300) {
    return BY_STATUS[o.statusCode] ?? `The call was refused: ${o.statusCode} ${o.reasonPhrase ?? ''}`.trim();
  }
  switch (o.cause) {
    case 'Connection Error':
      return 'The SIP WebSocket closed: the call could not be sent.';
    case 'Request Timeout':
      return 'The media server did not answer the INVITE in time.';
    case 'User Denied Media Access':
      return 'The browser refused access to the microphone.';
    case 'WebRTC Error':
    case 'Bad Media Description':
    case 'Incompatible SDP':
    case 'Missing SDP':
      return 'The browser and the media server could not agree on media (SDP).';
    case 'Canceled':
      return 'Call cancelled.';
    case 'No Answer':
      return 'No answer.';
    default:
      return `The call failed: ${o.cause}.`;
  }
}

/** The message for an established call's end (the `ended` event). */
export function endMessage(o: CallOutcome): string {
  if (o.iceFailed || o.cause === 'RTP Timeout') return `Call ended: ${ICE_FAILED}`;
  if (o.cause === 'Terminated' || o.cause === 'Canceled') {
    return o.originator === 'local' ? 'Call ended: you hung up.' : 'Call ended: the voice app hung up.';
  }
  if (o.cause === 'Connection Error') return 'Call ended: the SIP WebSocket closed.';
  return `Call ended: ${o.cause}.`;
}

/** Whether the end was a fault to show as an error (not a hang-up by either side). */
export function endIsFault(o: CallOutcome): boolean {
  return !(o.cause === 'Terminated' || o.cause === 'Canceled') || o.iceFailed === true;
}

/** The WebSocket's failure: browsers do not expose the refused upgrade's status, so the likely reasons are named. */
export function socketFailureMessage(wsOrigin: string): string {
  return (
    `The SIP WebSocket ${wsOrigin} refused the connection or could not be reached ` +
    '(an invalid or expired softphone credential is refused with HTTP 401).'
  );
}
