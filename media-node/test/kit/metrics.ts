import type { CallbackOutcome, CallDirection, CallMetrics } from '../../src/ports/metrics.js';

/** The metrics port recorded: what the call core reported, in order. */
export class RecordingMetrics implements CallMetrics {
  readonly started: CallDirection[] = [];
  readonly ended: string[] = [];
  readonly responses: { code: number; direction: CallDirection }[] = [];
  readonly roundTrips: { type: string; seconds: number; outcome: CallbackOutcome }[] = [];
  readonly dtmfToPrompt: number[] = [];

  callStarted(direction: CallDirection): void {
    this.started.push(direction);
  }

  callEnded(reason: string): void {
    this.ended.push(reason);
  }

  sipResponse(code: number, direction: CallDirection = 'inbound'): void {
    this.responses.push({ code, direction });
  }

  callbackRoundTrip(type: string, seconds: number, outcome: CallbackOutcome = 'reply'): void {
    this.roundTrips.push({ type, seconds, outcome });
  }

  dtmfToNextPrompt(seconds: number): void {
    this.dtmfToPrompt.push(seconds);
  }
}
