import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SpeechRequest } from '../ports/call-data.js';

const run = promisify(execFile);

/** The espeak-ng EspeakSpeech runs unless told otherwise (required with TTS_ENGINE=espeak). */
export const DEFAULT_ESPEAK_BINARY = 'espeak-ng';

/** Audio a synthesizer produced: the bytes and the file extension rtpengine (ffmpeg) recognises them by. */
export interface SynthesizedAudio {
  audio: Buffer;
  extension: 'wav' | 'mp3' | 'ogg';
}

/**
 * A text-to-speech engine (TTS_ENGINE: `espeak` locally, `polly` on AWS). The audio sources cache what it
 * returns under a hash of `cacheKey`, so the key must cover every parameter that changes the audio.
 */
export interface SpeechSynthesizer {
  readonly engine: string;
  cacheKey(req: SpeechRequest): string[];
  synthesize(req: SpeechRequest, signal?: AbortSignal): Promise<SynthesizedAudio>;
}

/** espeak-ng (Debian package), the voice chosen from the request's voice or language. */
export class EspeakSpeech implements SpeechSynthesizer {
  readonly engine = 'espeak';

  constructor(
    private readonly binary = DEFAULT_ESPEAK_BINARY,
    private readonly timeoutMs = 15_000,
  ) {}

  cacheKey(req: SpeechRequest): string[] {
    return ['espeak', espeakVoice(req.voice, req.language), req.ssml ? 'ssml' : 'text', req.text];
  }

  async synthesize(req: SpeechRequest, signal?: AbortSignal): Promise<SynthesizedAudio> {
    const args = ['-v', espeakVoice(req.voice, req.language), '--stdout'];
    if (req.ssml) args.push('-m');
    // `--` ends options, so text starting with "-" is spoken, not parsed.
    const { stdout } = await run(this.binary, [...args, '--', req.text], {
      timeout: this.timeoutMs,
      encoding: 'buffer',
      maxBuffer: 64 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
    if (stdout.length <= 44) throw new Error('espeak-ng produced no audio');
    return { audio: fixStreamedWavSizes(stdout), extension: 'wav' };
  }
}

/**
 * espeak-ng writing to a pipe cannot seek back, so its WAV header carries placeholder sizes; set the real
 * RIFF and data sizes so every reader sees the full length.
 */
export function fixStreamedWavSizes(wav: Buffer): Buffer {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') return wav;
  const out = Buffer.from(wav);
  out.writeUInt32LE(out.length - 8, 4);
  let o = 12;
  while (o + 8 <= out.length) {
    const id = out.toString('ascii', o, o + 4);
    if (id === 'data') {
      out.writeUInt32LE(out.length - o - 8, o + 4);
      break;
    }
    o += 8 + out.readUInt32LE(o + 4);
  }
  return out;
}

/** The espeak-ng voice closest to a requested voice or BCP 47 language (en-US → en-us, de-DE → de, …). */
export function espeakVoice(voice: string | undefined, language: string | undefined): string {
  const wanted = (language ?? 'en-US').toLowerCase();
  const exact: Record<string, string> = {
    'en-us': 'en-us',
    'en-gb': 'en-gb',
    'en-au': 'en-gb',
    'pt-br': 'pt-br',
    'es-us': 'es-419',
    'es-mx': 'es-419',
    'fr-ca': 'fr-fr',
    'cmn-cn': 'cmn',
    'zh-cn': 'cmn',
  };
  // An espeak voice name (lower case, e.g. "en-gb") is used as given; Polly names ("Joanna") fall back to the language.
  if (voice && /^[a-z]{2,3}(-[a-z0-9]+)*$/.test(voice)) return voice;
  const primary = wanted.split('-')[0]!;
  return exact[wanted] ?? (/^[a-z]{2,3}$/.test(primary) ? primary : 'en-us');
}
