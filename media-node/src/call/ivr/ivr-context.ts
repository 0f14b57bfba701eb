import type { ConferenceResult, StreamResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceSpec, Phrase, StreamSpec } from '@sipms/shared/contracts/ivr-command';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources } from '../../ports/call-data.js';
import type { ConferenceRun } from '../../ports/conferences.js';
import type { MediaLeg } from '../../ports/media.js';
import type { StreamRun } from '../../ports/streams.js';

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
  /**
   * Runs a `stream` command's socket to its end (tap, digits and signal from the executor); absent where the
   * node has no stream service (unit tests): the command then fails with ivrFailed.
   */
  stream?(spec: StreamSpec, run: Pick<StreamRun, 'tap' | 'onDigit' | 'signal' | 'abortReason'>): Promise<StreamResult>;
  /**
   * Runs a `conference` command until the participant leaves (tap and signal from the executor); absent where
   * the node has no conference service (unit tests): the command then fails with ivrFailed.
   */
  conference?(spec: ConferenceSpec, run: Pick<ConferenceRun, 'openTap' | 'signal'>): Promise<ConferenceResult>;
  /**
   * The tenant gave `dtmf.firstDigitTimeoutMs` or `interDigitTimeoutMs` itself: during a stream the digit
   * timers run only then (a bot conversation has no "first digit" moment of its own).
   */
  explicitDigitTimers?: boolean;
  logger: Logger;
}
