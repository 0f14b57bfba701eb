import type { ConferenceResult, DtmfParams, StreamResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceSpec, IvrCommand, Phrase, StreamSpec } from '@sipms/shared/contracts/ivr-command';
import type { AudioTap } from '../../ports/media.js';
import { DtmfCollector } from './dtmf-collector.js';
import type { IvrContext, RecordingResult } from './ivr-context.js';
import { recordCaller } from './ivr-recording.js';
import { waitOrAbort } from './wait.js';

export type { IvrContext } from './ivr-context.js';

export interface IvrOutcome {
  dtmfParams?: DtmfParams;
  recording?: RecordingResult;
  streamResult?: StreamResult;
  conferenceResult?: ConferenceResult;
  hangup: boolean;
}

/**
 * Runs one IVR command, in this order: the phrases (a key stops them when `bargeIn` is "all"), `record`,
 * `echo`, then `hangup` — or, without hangup, digit collection (type-ahead from the phrases included). A
 * `stream` or a `conference` is the command's last step.
 * Digits pressed while recording or echoing belong to those steps, not to the collection.
 */
export async function runIvrCommand(cmd: IvrCommand, ctx: IvrContext): Promise<IvrOutcome> {
  const collector = cmd.dtmf ? new DtmfCollector(cmd.dtmf) : undefined;
  const bargeIn = new AbortController();
  const playing = AbortSignal.any([ctx.signal, bargeIn.signal]);
  let stepDigits: ((digit: string) => void) | undefined;
  const unsubscribe = ctx.onDigit((digit) => {
    if (stepDigits) return stepDigits(digit);
    collector?.push(digit);
    if (cmd.bargeIn === 'all' && !bargeIn.signal.aborted) {
      bargeIn.abort();
      // Stop what is playing now, not after the phrase loop notices.
      void ctx.leg.stopPlayback();
    }
  });
  const outcome: IvrOutcome = { hangup: false };
  try {
    for (const phrase of cmd.phrases) {
      if (playing.aborted) break;
      await playPhrase(phrase, ctx, playing);
    }
    if (bargeIn.signal.aborted) await ctx.leg.stopPlayback();
    if (!ctx.signal.aborted && cmd.record) {
      const recording = await recordCaller(cmd.record, ctx, (fn) => {
        stepDigits = fn;
      });
      stepDigits = undefined;
      if (recording) outcome.recording = recording;
    }
    if (!ctx.signal.aborted && cmd.echo) {
      stepDigits = ignoreDigit;
      await echo(cmd.echo.durationSec, ctx);
      stepDigits = undefined;
    }
    if (!ctx.signal.aborted && cmd.stream) {
      outcome.streamResult = await stream(cmd.stream, ctx, collector, (fn) => {
        stepDigits = fn;
      });
      stepDigits = undefined;
      if (collector) {
        // Digits collected during the stream are reported however it ended (cancel keeps what was typed).
        collector.cancel();
        outcome.dtmfParams = await collector.result;
      }
      return { ...outcome, hangup: !ctx.signal.aborted && cmd.hangup };
    }
    if (!ctx.signal.aborted && cmd.conference) {
      // The contract keeps conference apart from dtmf, record, echo, stream and hangup: it is the last step.
      stepDigits = ignoreDigit;
      outcome.conferenceResult = await conference(cmd.conference, ctx);
      stepDigits = undefined;
      return outcome;
    }
    if (ctx.signal.aborted || cmd.hangup || !collector) {
      collector?.cancel();
      return { ...outcome, hangup: !ctx.signal.aborted && cmd.hangup };
    }
    collector.armTimers();
    const onAbort = () => collector.cancel();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    outcome.dtmfParams = await collector.result;
    ctx.signal.removeEventListener('abort', onAbort);
    return outcome;
  } finally {
    unsubscribe();
  }
}

/**
 * The `stream` step: the caller's audio to the bot (and the bot's back) until either side ends it. Digits go
 * to the bot and to the command's collection, whose completion ends the stream (`dtmf`).
 */
async function stream(
  spec: StreamSpec,
  ctx: IvrContext,
  collector: DtmfCollector | undefined,
  setStepDigits: (fn: ((digit: string) => void) | undefined) => void,
): Promise<StreamResult> {
  const failed = (error: string): StreamResult => {
    ctx.ivrFailed(`stream failed: ${error}`);
    return { reason: 'failed', durationMs: 0, error };
  };
  if (!ctx.stream) return failed('streams are not available on this node');
  let tap: AudioTap;
  try {
    tap = ctx.leg.openAudioTap();
  } catch (err) {
    return failed((err as Error).message);
  }
  const collected = new AbortController();
  const botDigits = new Set<(digit: string) => void>();
  setStepDigits((digit) => {
    for (const l of botDigits) l(digit);
    collector?.push(digit);
  });
  if (collector) {
    void collector.result.then(() => collected.abort());
    if (ctx.explicitDigitTimers) collector.armTimers();
  }
  const result = await ctx.stream(spec, {
    tap,
    onDigit: (l) => {
      botDigits.add(l);
      return () => botDigits.delete(l);
    },
    signal: AbortSignal.any([ctx.signal, collected.signal]),
    abortReason: () => (collected.signal.aborted && !ctx.signal.aborted ? 'dtmf' : undefined),
  });
  setStepDigits(undefined);
  // A stream that never started is an IVR failure the tenant hears about at once; one that ran and failed
  // (a bot's garbage, too much audio) is told by streamResult alone.
  if (result.reason === 'failed' && /^(cannot connect|refused)/.test(result.error ?? '')) {
    ctx.ivrFailed(`stream failed: ${result.error}`);
  }
  return result;
}

/**
 * The `conference` step: the participant is in the conference until it leaves (kicked, ended, interrupted,
 * hung up); the result goes into the next getIvrCommand. Its audio tap is opened only once it is admitted.
 */
async function conference(spec: ConferenceSpec, ctx: IvrContext): Promise<ConferenceResult> {
  if (!ctx.conference) {
    const error = 'conferences are not available on this node';
    ctx.ivrFailed(`conference failed: ${error}`);
    return { reason: 'failed', durationMs: 0, error };
  }
  const result = await ctx.conference(spec, { openTap: () => ctx.leg.openAudioTap(), signal: ctx.signal });
  if (result.reason === 'failed') ctx.ivrFailed(`conference failed: ${result.error ?? 'unknown'}`);
  return result;
}

/** Digits pressed during `echo` are heard back, not collected. */
function ignoreDigit(): void {
  // nothing to do: the key press is part of the echoed audio
}

async function resolvePhrase(phrase: Phrase, ctx: IvrContext): Promise<string> {
  switch (phrase.format) {
    case 'file': {
      const path = await ctx.audio.prompt(ctx.tenantId, phrase.fileName);
      if (!path) throw new Error(`prompt file "${phrase.fileName}" does not exist`);
      return path;
    }
    case 'tts':
      return ctx.audio.speech(ctx.tenantId, { text: phrase.text, voice: phrase.voice, language: phrase.language });
    case 'awstts': {
      const p = phrase.awsTTSParameters;
      return ctx.audio.speech(ctx.tenantId, {
        text: p.Text,
        voice: p.VoiceId,
        language: p.LanguageCode,
        ssml: p.TextType === 'ssml',
        engine: p.Engine,
        outputFormat: p.OutputFormat,
      });
    }
    case 'silence':
      return ctx.audio.silence(phrase.durationMs);
    case 'url':
      return ctx.audio.url(ctx.tenantId, phrase.url);
  }
}

async function playPhrase(phrase: Phrase, ctx: IvrContext, signal: AbortSignal): Promise<void> {
  let path: string;
  try {
    path = await resolvePhrase(phrase, ctx);
  } catch (err) {
    ctx.ivrFailed(`${phrase.format} phrase skipped: ${(err as Error).message}`, phrase);
    return;
  }
  if (signal.aborted) return;
  let durationMs: number;
  try {
    ({ durationMs } = await ctx.leg.play(path));
  } catch (err) {
    ctx.ivrFailed(`${phrase.format} phrase skipped: ${(err as Error).message}`, phrase);
    return;
  }
  ctx.onPromptStarted?.();
  await waitOrAbort(durationMs, signal);
}

async function echo(durationSec: number, ctx: IvrContext): Promise<void> {
  try {
    await ctx.leg.startEcho();
  } catch (err) {
    ctx.ivrFailed(`echo failed: ${(err as Error).message}`);
    return;
  }
  await waitOrAbort(durationSec * 1000, ctx.signal);
  await ctx.leg.stopEcho().catch((err) => ctx.logger.warn({ err }, 'stopping echo failed'));
}
