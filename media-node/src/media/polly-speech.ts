import {
  type OutputFormat,
  type PollyClient,
  SynthesizeSpeechCommand,
  type SynthesizeSpeechCommandInput,
  type VoiceId,
} from '@aws-sdk/client-polly';
import type { SpeechRequest } from '../ports/call-data.js';
import { pcmToWav } from './pcap.js';
import type { SpeechSynthesizer, SynthesizedAudio } from './speech-synthesizer.js';

/** A voice for each common language, for requests that name none (Polly requires a VoiceId). */
const DEFAULT_VOICES: Record<string, string> = {
  'en-US': 'Joanna',
  'en-GB': 'Amy',
  'en-AU': 'Olivia',
  'en-IN': 'Kajal',
  'de-DE': 'Vicki',
  'de-AT': 'Hannah',
  'fr-FR': 'Lea',
  'fr-CA': 'Gabrielle',
  'es-ES': 'Lucia',
  'es-US': 'Lupe',
  'es-MX': 'Mia',
  'it-IT': 'Bianca',
  'pt-BR': 'Camila',
  'pt-PT': 'Ines',
  'nl-NL': 'Laura',
  'sv-SE': 'Elin',
  'da-DK': 'Sofie',
  'nb-NO': 'Ida',
  'pl-PL': 'Ola',
  'ja-JP': 'Takumi',
  'cmn-CN': 'Zhiyu',
};

const TELEPHONY_RATE = '8000';

/**
 * Amazon Polly (`awstts` as the tenant asked for it; `tts` with a default voice). Telephone audio is 8 kHz,
 * so PCM, µ-law and A-law are requested at 8000 Hz and wrapped in a WAV header; mp3 and Ogg come back as
 * files ffmpeg (inside rtpengine) reads. The client is injected: the composition root owns its region and
 * credentials.
 */
export interface PollyDefaults {
  voice: string;
  language: string;
  engine?: string | undefined;
}

export class PollySpeech implements SpeechSynthesizer {
  readonly engine = 'polly';

  constructor(
    private readonly client: PollyClient,
    private readonly timeoutMs = 10_000,
    /**
     * The deployment's voice, engine and language (POLLY_VOICE_ID, POLLY_ENGINE, POLLY_LANGUAGE_CODE) for a phrase
     * that names none. The engine applies to that voice only: another language's default voice may not have it.
     */
    private readonly defaults: PollyDefaults = { voice: 'Joanna', language: 'en-US' },
  ) {}

  /** The SynthesizeSpeech input for a request: every parameter that shapes the audio, defaults filled. */
  input(req: SpeechRequest): SynthesizeSpeechCommandInput {
    const format = (req.outputFormat ?? 'pcm').toLowerCase();
    if (!['pcm', 'mp3', 'ogg_vorbis', 'ogg_opus', 'mulaw', 'alaw'].includes(format)) {
      throw new Error(`Polly OutputFormat "${req.outputFormat}" is not audio a call can play`);
    }
    const language = req.language ?? this.defaults.language;
    const voice =
      req.voice && /^[A-Z][A-Za-z-]+$/.test(req.voice)
        ? req.voice
        : language === this.defaults.language
          ? this.defaults.voice
          : (DEFAULT_VOICES[language] ?? DEFAULT_VOICES[`${language.split('-')[0]}`] ?? this.defaults.voice);
    const engine = req.engine ?? (voice === this.defaults.voice ? this.defaults.engine : undefined);
    return {
      Text: req.text,
      TextType: req.ssml ? 'ssml' : 'text',
      VoiceId: voice as VoiceId,
      ...(req.language ? { LanguageCode: req.language as SynthesizeSpeechCommandInput['LanguageCode'] } : {}),
      ...(engine ? { Engine: engine as SynthesizeSpeechCommandInput['Engine'] } : {}),
      OutputFormat: format as OutputFormat,
      SampleRate:
        format === 'mp3' || format === 'ogg_vorbis' ? '22050' : format === 'ogg_opus' ? '48000' : TELEPHONY_RATE,
    };
  }

  cacheKey(req: SpeechRequest): string[] {
    const i = this.input(req);
    return [
      'polly',
      i.Engine ?? '',
      i.VoiceId ?? '',
      i.LanguageCode ?? '',
      i.TextType ?? '',
      i.OutputFormat ?? '',
      i.SampleRate ?? '',
      i.Text ?? '',
    ];
  }

  async synthesize(req: SpeechRequest, signal?: AbortSignal): Promise<SynthesizedAudio> {
    const input = this.input(req);
    const abort = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), ...(signal ? [signal] : [])]);
    let bytes: Uint8Array;
    try {
      const out = await this.client.send(new SynthesizeSpeechCommand(input), { abortSignal: abort });
      if (!out.AudioStream) throw new Error('no audio in the reply');
      bytes = await out.AudioStream.transformToByteArray();
    } catch (err) {
      throw new Error(`Polly SynthesizeSpeech failed: ${(err as Error).name}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (bytes.length === 0) throw new Error('Polly returned no audio');
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (input.OutputFormat) {
      case 'pcm':
        // Signed 16-bit little-endian mono; an odd trailing byte cannot be a sample.
        return {
          audio: pcmToWav(new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + (buf.length & ~1)))),
          extension: 'wav',
        };
      case 'mulaw':
        return { audio: g711Wav(buf, 7), extension: 'wav' };
      case 'alaw':
        return { audio: g711Wav(buf, 6), extension: 'wav' };
      case 'mp3':
        return { audio: buf, extension: 'mp3' };
      default:
        return { audio: buf, extension: 'ogg' };
    }
  }
}

/** An 8 kHz 8-bit G.711 WAV (format 7 µ-law, 6 A-law). */
function g711Wav(data: Buffer, format: 6 | 7): Buffer {
  const b = Buffer.alloc(44);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data.length, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(format, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(8000, 28);
  b.writeUInt16LE(1, 32);
  b.writeUInt16LE(8, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data.length, 40);
  return Buffer.concat([b, data]);
}
