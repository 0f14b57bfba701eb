import type { Phrase } from '@sipms/shared/contracts/ivr-command';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources } from '../../ports/call-data.js';
import type { MediaLeg } from '../../ports/media.js';

export interface RecordingResult {
  fileName: string;
  durationMs: number;
}

/** What one IVR command runs against: the participant's media, its digits, and how to report. */
export interface IvrContext {
  tenantId: string;
  leg: MediaLeg;
  audio: AudioSources;
  /** Subscribes to the caller's merged key presses; returns an unsubscribe function. */
  onDigit(listener: (digit: string) => void): () => void;
  /** Part of the command could not be run: the tenant gets callNotify ivrFailed and the journal an entry. */
  ivrFailed(reason: string, phrase?: Phrase): void;
  /** Progress the tenant hears about as callNotify (and the journal records), e.g. `recordingReady`. */
  notify(event: string, details: { reason?: string; recording?: RecordingResult }): void;
  /** Aborted when the caller hangs up or the command is interrupted. */
  signal: AbortSignal;
  /** A phrase has started playing (rtpengine took it): the caller hears the command's prompt from now. */
  onPromptStarted?(): void;
  logger: Logger;
}
