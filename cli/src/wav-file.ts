/**
 * WAV files in and out. In: any common WAV (PCM 8/16/24/32-bit, float, µ-law, A-law; mono or more channels;
 * any rate) becomes 8 kHz mono 16-bit samples with the audio engine's G.711 tables and resampler. Rates the
 * resampler does not take (44.1 kHz, 22.05 kHz, …) are first brought to the next rate it takes by linear
 * interpolation, which only ever raises the rate, so the resampler's low-pass still does the band-limiting.
 */

import { readFile } from 'node:fs/promises';
import { decodeAlaw, decodeUlaw } from '@sipms/media-node/audio/g711';
import { Resampler, SAMPLE_RATES, type SampleRate } from '@sipms/media-node/audio/resampler';
import { CallOptionsError } from './errors.js';

/** Larger files are refused: an hour of 48 kHz stereo 16-bit is about 690 MB; a test prompt is far smaller. */
export const MAX_WAV_BYTES = 200 * 1024 * 1024;

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_ULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

interface WavFormat {
  format: number;
  channels: number;
  rate: number;
  bits: number;
}

/** Reads `path` as 8 kHz mono 16-bit samples; a CallOptionsError for `field` says what is wrong with it. */
export async function readWavAs8kMono(path: string, field = 'playWav'): Promise<Int16Array> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    throw new CallOptionsError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (file.length > MAX_WAV_BYTES) throw new CallOptionsError(field, `${path} is larger than 200 MB`);
  try {
    return wavTo8kMono(file);
  } catch (err) {
    if (err instanceof RangeError) throw new CallOptionsError(field, `${path}: ${err.message}`);
    throw err;
  }
}

/** A WAV file's audio as 8 kHz mono 16-bit samples. Throws RangeError naming what it cannot use. */
export function wavTo8kMono(file: Buffer): Int16Array {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new RangeError('not a WAV file (no RIFF/WAVE header)');
  }
  let fmt: WavFormat | undefined;
  let data: Buffer | undefined;
  for (let o = 12; o + 8 <= file.length; ) {
    const id = file.toString('ascii', o, o + 4);
    const size = file.readUInt32LE(o + 4);
    const body = file.subarray(o + 8, Math.min(file.length, o + 8 + size));
    if (id === 'fmt ') fmt = parseFormat(body);
    else if (id === 'data') data = body;
    o += 8 + size + (size % 2);
  }
  if (!fmt) throw new RangeError('no fmt chunk');
  if (!data) throw new RangeError('no data chunk');
  const mono = toMono(decodeSamples(data, fmt), fmt.channels);
  return to8k(mono, fmt.rate);
}

function parseFormat(body: Buffer): WavFormat {
  if (body.length < 16) throw new RangeError('fmt chunk too short');
  let format = body.readUInt16LE(0);
  // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
  if (format === FORMAT_EXTENSIBLE && body.length >= 26) format = body.readUInt16LE(24);
  const f = { format, channels: body.readUInt16LE(2), rate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
  if (f.channels < 1 || f.channels > 16) throw new RangeError(`${f.channels} channels`);
  if (f.rate < 4000 || f.rate > 192_000) throw new RangeError(`sample rate ${f.rate} Hz (4000-192000 Hz are used)`);
  const ok =
    (f.format === FORMAT_PCM && [8, 16, 24, 32].includes(f.bits)) ||
    (f.format === FORMAT_FLOAT && (f.bits === 32 || f.bits === 64)) ||
    ((f.format === FORMAT_ALAW || f.format === FORMAT_ULAW) && f.bits === 8);
  if (!ok)
    throw new RangeError(`unsupported encoding (format ${f.format}, ${f.bits} bits): use PCM, float, µ-law or A-law`);
  return f;
}

/** Interleaved samples as 16-bit. */
function decodeSamples(data: Buffer, f: WavFormat): Int16Array {
  const bytes = f.bits / 8;
  const n = Math.floor(data.length / bytes);
  if (f.format === FORMAT_ULAW) return decodeUlaw(data.subarray(0, n));
  if (f.format === FORMAT_ALAW) return decodeAlaw(data.subarray(0, n));
  const out = new Int16Array(n);
  const clip = (v: number) => Math.max(-32768, Math.min(32767, Math.round(v)));
  for (let i = 0; i < n; i++) {
    const o = i * bytes;
    if (f.format === FORMAT_FLOAT) out[i] = clip((f.bits === 32 ? data.readFloatLE(o) : data.readDoubleLE(o)) * 32767);
    else if (f.bits === 8)
      out[i] = (data[o]! - 128) << 8; // 8-bit WAV is unsigned
    else if (f.bits === 16) out[i] = data.readInt16LE(o);
    else if (f.bits === 24) out[i] = data.readIntLE(o, 3) >> 8;
    else out[i] = data.readInt32LE(o) >> 16;
  }
  return out;
}

function toMono(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c]!;
    out[i] = Math.round(sum / channels);
  }
  return out;
}

function to8k(samples: Int16Array, rate: number): Int16Array {
  if (rate === 8000) return samples;
  let input = samples;
  let from = rate as SampleRate;
  if (!SAMPLE_RATES.includes(from)) {
    from = SAMPLE_RATES.find((r) => r > rate) ?? 48000;
    input = interpolate(samples, rate, from);
  }
  const resampler = new Resampler(from, 8000);
  // The filter's history delays the output; a flush of silence lets the last samples out.
  const flush = new Int16Array(Math.ceil(from / 100));
  const head = resampler.process(input);
  const tail = resampler.process(flush);
  const out = new Int16Array(Math.round((input.length * 8000) / from));
  out.set(head.subarray(0, out.length));
  if (head.length < out.length) out.set(tail.subarray(0, out.length - head.length), head.length);
  return out;
}

/** Linear interpolation from `from` to a higher rate `to`. */
function interpolate(samples: Int16Array, from: number, to: number): Int16Array {
  const out = new Int16Array(Math.floor((samples.length * to) / from));
  const step = from / to;
  for (let i = 0; i < out.length; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = samples[j] ?? 0;
    const b = samples[j + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - j));
  }
  return out;
}
