import type { DtmfParams } from '@sipms/shared/contracts/callbacks';
import type { IvrCommand, Phrase } from '@sipms/shared/contracts/ivr-command';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources } from '../ports/call-data.js';
import type { MediaLeg } from '../ports/media.js';
import { DtmfCollector } from './dtmf-collector.js';

export interface IvrContext {
  tenantId: string;
  leg: MediaLeg;
  audio: AudioSources;
  /** Subscribes to the caller's merged key presses; returns an unsubscribe function. */
  onDigit(listener: (digit: string) => void): () => void;
  /** Part of the command could not be run: the tenant gets callNotify ivrFailed and the journal an entry. */
  ivrFailed(reason: string, phrase?: Phrase): void;
  /** Aborted when the caller hangs up or the command is interrupted. */
  signal: AbortSignal;
  logger: Logger;
}

export interface IvrOutcome {
  dtmfParams?: DtmfParams;
  hangup: boolean;
}

/** Runs one IVR command: the phrases in order (with barge-in), then digit collection, then hang-up if asked. */
export async function runIvrCommand(cmd: IvrCommand, ctx: IvrContext): Promise<IvrOutcome> {
  const collector = cmd.dtmf ? new DtmfCollector(cmd.dtmf) : undefined;
  const bargeIn = new AbortController();
  const playing = AbortSignal.any([ctx.signal, bargeIn.signal]);
  const unsubscribe = ctx.onDigit((digit) => {
    collector?.push(digit);
    if (cmd.bargeIn === 'all' && !bargeIn.signal.aborted) bargeIn.abort();
  });
  try {
    for (const phrase of cmd.phrases) {
      if (playing.aborted) break;
      await playPhrase(phrase, ctx, playing);
    }
    if (bargeIn.signal.aborted) await ctx.leg.stopPlayback();
    if (ctx.signal.aborted) {
      collector?.cancel();
      return { hangup: false };
    }
    if (cmd.record) ctx.ivrFailed('record is not available in this version');
    if (cmd.echo) ctx.ivrFailed('echo is not available in this version');
    if (cmd.hangup) {
      collector?.cancel();
      return { hangup: true };
    }
    if (!collector) return { hangup: false };
    collector.armTimers();
    const onAbort = () => collector.cancel();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const dtmfParams = await collector.result;
    ctx.signal.removeEventListener('abort', onAbort);
    return { dtmfParams, hangup: false };
  } finally {
    unsubscribe();
  }
}

async function resolvePhrase(phrase: Phrase, ctx: IvrContext): Promise<string> {
  switch (phrase.format) {
    case 'file': {
      const path = await ctx.audio.prompt(ctx.tenantId, phrase.fileName);
      if (!path) throw new Error(`prompt file "${phrase.fileName}" does not exist`);
      return path;
    }
    case 'tts':
      return ctx.audio.speech({ text: phrase.text, voice: phrase.voice, language: phrase.language });
    case 'awstts': {
      const p = phrase.awsTTSParameters;
      return ctx.audio.speech({
        text: p.Text,
        voice: p.VoiceId,
        language: p.LanguageCode,
        ssml: p.TextType === 'ssml',
      });
    }
    case 'silence':
      return ctx.audio.silence(phrase.durationMs);
    case 'url':
      return ctx.audio.url(phrase.url);
  }
}

async function playPhrase(phrase: Phrase, ctx: IvrContext, signal: AbortSignal): Promise<void> {
  let path: string;
  try {
    path = await resolvePhrase(phrase, ctx);
  } catch (err) {
    ctx.ivrFailed((err as Error).message, phrase);
    return;
  }
  if (signal.aborted) return;
  let durationMs: number;
  try {
    ({ durationMs } = await ctx.leg.play(path));
  } catch (err) {
    ctx.ivrFailed((err as Error).message, phrase);
    return;
  }
  await waitOrAbort(durationMs, signal);
}

function waitOrAbort(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
