import {
  ALAW_SILENCE,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  int16ToLe,
  leToInt16,
  Resampler,
  type SampleRate,
  ULAW_SILENCE,
} from '../audio/index.js';
import type { TapCodec } from '../ports/media.js';

export type BotFormat = { encoding: 'mulaw'; sampleRate: 8000 } | { encoding: 'l16'; sampleRate: 8000 | 16000 | 24000 };

/**
 * Audio between the caller's G.711 at 8 kHz and the bot's format (μ-law 8 kHz, or L16 little-endian at 8,
 * 16 or 24 kHz). μ-law both sides is a copy; anything else goes through 16-bit samples, with one stateful
 * resampler per direction so 20 ms frames join without clicks.
 */
export class StreamCodec {
  private readonly up: Resampler | undefined;
  private readonly down: Resampler | undefined;
  /** An odd byte of L16 from the bot, waiting for its other half. */
  private carry: number | undefined;

  constructor(readonly bot: BotFormat) {
    if (bot.encoding === 'l16' && bot.sampleRate !== 8000) {
      this.up = new Resampler(8000, bot.sampleRate as SampleRate);
      this.down = new Resampler(bot.sampleRate as SampleRate, 8000);
    }
  }

  /** The caller's packet payload → the bot's bytes. */
  toBot(payload: Uint8Array, codec: TapCodec): Uint8Array {
    if (this.bot.encoding === 'mulaw') {
      return codec === 'pcmu' ? payload : encodeUlaw(decodeAlaw(payload));
    }
    const samples = codec === 'pcmu' ? decodeUlaw(payload) : decodeAlaw(payload);
    return int16ToLe(this.up ? this.up.process(samples) : samples);
  }

  /** The bot's bytes (any length) → audio in the caller's codec, to queue for pacing. */
  toCaller(bytes: Uint8Array, codec: TapCodec): Uint8Array {
    if (this.bot.encoding === 'mulaw') {
      return codec === 'pcmu' ? bytes : encodeAlaw(decodeUlaw(bytes));
    }
    let data = bytes;
    if (this.carry !== undefined) {
      data = new Uint8Array(bytes.length + 1);
      data[0] = this.carry;
      data.set(bytes, 1);
      this.carry = undefined;
    }
    if (data.length % 2 === 1) {
      this.carry = data[data.length - 1];
      data = data.subarray(0, data.length - 1);
    }
    const samples = leToInt16(data);
    const at8k = this.down ? this.down.process(samples) : samples;
    return codec === 'pcmu' ? encodeUlaw(at8k) : encodeAlaw(at8k);
  }

  /** The bot's format for the `start` message. */
  get mediaFormat(): { encoding: 'audio/x-mulaw' | 'audio/l16'; sampleRate: number; channels: 1 } {
    return {
      encoding: this.bot.encoding === 'mulaw' ? 'audio/x-mulaw' : 'audio/l16',
      sampleRate: this.bot.sampleRate,
      channels: 1,
    };
  }
}

/** The byte that pads a partial frame of the caller's codec with silence. */
export function silenceByteOf(codec: TapCodec): number {
  return codec === 'pcmu' ? ULAW_SILENCE : ALAW_SILENCE;
}
