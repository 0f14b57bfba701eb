import type { OutboundCallRequest } from '../../ports/signaling.js';
import type { Participant } from '../session/participant.js';

/**
 * Provisional responses of a call the node places, reported once each: the first 18x with SDP is early
 * media (`onEarlyMedia`, callNotify earlyMedia), the first 180 without is ringing (`onRinging`, callNotify
 * ringing). Used by outbound IVR calls and by the callee of a B2BUA call alike.
 */
export function progressReporter(
  callee: Participant,
  on: { earlyMedia(sdp: string): void; ringing?(): void },
): NonNullable<OutboundCallRequest['onProgress']> {
  let ringing = false;
  let early = false;
  return (p) => {
    if (p.sdp && !early) {
      early = true;
      on.earlyMedia(p.sdp);
      callee.journal({ kind: 'sip', event: 'early media', status: p.status });
      void callee.session.notify('callNotify', { participantId: callee.participantId, event: 'earlyMedia' });
    } else if (p.status === 180 && !ringing) {
      ringing = true;
      on.ringing?.();
      callee.journal({ kind: 'sip', event: 'ringing' });
      void callee.session.notify('callNotify', { participantId: callee.participantId, event: 'ringing' });
    }
  };
}
