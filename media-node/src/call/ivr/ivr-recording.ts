import type { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import type { IvrContext, RecordingResult } from './ivr-context.js';
import { waitOrAbort } from './wait.js';

export type { RecordingResult } from './ivr-context.js';

/** Continuous silence that ends a recording (a `record` ends on silence); Twilio's default is the same 5 s. */
export const RECORD_SILENCE_MS = 5000;
/** Below this RMS (about -40 dBFS) a packet counts as silence; no packets at all count as silence too. */
export const RECORD_SILENCE_LEVEL = 0.01;
const BEEP = { hz: 1000, ms: 400 };

type RecordSpec = NonNullable<IvrCommand['record']>;
export type RecordStopReason = 'terminationKey' | 'silence' | 'maxDuration' | 'hangup';

/**
 * `record`: an optional beep, then the caller's audio until the termination key, RECORD_SILENCE_MS of
 * silence, `maxDurationSec`, or hang-up (what was said is kept). The file is stored as the tenant's
 * prompt `fileName`, and the tenant hears `callNotify recordingReady`. Failures are `ivrFailed`.
 */
export async function recordCaller(
  spec: RecordSpec,
  ctx: IvrContext,
  routeDigits: (fn: (digit: string) => void) => void,
  timing = { silenceMs: RECORD_SILENCE_MS, silenceLevel: RECORD_SILENCE_LEVEL },
): Promise<RecordingResult | undefined> {
  const stop = new AbortController();
  let reason: RecordStopReason = 'maxDuration';
  const end = (why: RecordStopReason) => {
    if (stop.signal.aborted) return;
    reason = why;
    stop.abort();
  };
  // Digits during the beep and the recording belong to the recording.
  routeDigits((digit) => {
    if (spec.terminationKey && digit === spec.terminationKey) end('terminationKey');
  });
  if (spec.beep) await beep(ctx, AbortSignal.any([ctx.signal, stop.signal]));
  if (ctx.signal.aborted || stop.signal.aborted) return undefined;

  try {
    await ctx.leg.startRecording();
  } catch (err) {
    ctx.ivrFailed(`record failed: ${(err as Error).message}`);
    return undefined;
  }
  const onHangup = () => end('hangup');
  ctx.signal.addEventListener('abort', onHangup, { once: true });
  let lastSound = performance.now();
  const stopLevels = ctx.leg.onCallerAudio((level) => {
    if (level >= timing.silenceLevel) lastSound = performance.now();
  });
  const silenceCheck = setInterval(
    () => {
      if (performance.now() - lastSound >= timing.silenceMs) end('silence');
    },
    Math.min(200, timing.silenceMs / 4),
  );
  await waitOrAbort(spec.maxDurationSec * 1000, stop.signal);
  clearInterval(silenceCheck);
  stopLevels();
  ctx.signal.removeEventListener('abort', onHangup);

  let recorded: { file: string; durationMs: number };
  try {
    recorded = await ctx.leg.stopRecording();
    await ctx.audio.saveRecording(ctx.tenantId, spec.fileName, recorded.file);
  } catch (err) {
    ctx.ivrFailed(`record failed: ${(err as Error).message}`);
    return undefined;
  }
  const result = { fileName: spec.fileName, durationMs: recorded.durationMs };
  ctx.notify('recordingReady', { reason, recording: result });
  return result;
}

async function beep(ctx: IvrContext, signal: AbortSignal): Promise<void> {
  try {
    const file = await ctx.audio.tone(BEEP.hz, BEEP.ms);
    const { durationMs } = await ctx.leg.play(file);
    await waitOrAbort(durationMs || BEEP.ms, signal);
  } catch (err) {
    ctx.ivrFailed(`record beep failed: ${(err as Error).message}`);
  }
}
