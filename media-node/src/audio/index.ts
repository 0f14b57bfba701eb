/**
 * The audio-frame engine: what the node needs wherever it works on audio itself (WebSocket streams for bots,
 * conference mixing): 20 ms frames, G.711 and L16 conversion, resampling, a jitter buffer with loss
 * concealment, an outgoing pacer with marks, and the conference mix. Pure modules: no I/O, no timers except
 * the pacer's injected clock.
 */

export {
  FramePacer,
  type FramePacerOptions,
  type MarkOutcome,
  type PacerClock,
  PacerOverflowError,
  type PacerStats,
  systemClock,
} from './frame-pacer.js';
export {
  ALAW_SILENCE,
  ALAW_TO_LINEAR,
  alawToLinear,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  ULAW_SILENCE,
  ULAW_TO_LINEAR,
  ulawToLinear,
} from './g711.js';
export {
  type FrameKind,
  JitterBuffer,
  type JitterBufferOptions,
  type JitterFrame,
  type JitterStats,
  type RtpCodec,
} from './jitter-buffer.js';
export {
  beToInt16,
  decodePayload,
  type Encoding,
  encodePayload,
  FRAME_MS,
  frameBytes,
  frameSamples,
  int16ToBe,
  int16ToLe,
  leToInt16,
  PayloadError,
  swap16,
} from './l16.js';
export { Mixer, MixParticipant, type MixParticipantOptions } from './mixer.js';
export { Resampler, SAMPLE_RATES, type SampleRate } from './resampler.js';
