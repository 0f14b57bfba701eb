/**
 * 8 kHz µ-law Sun/NeXT `.au` files: the format the IVR hands rtpengine. rtpengine's player sends a file's
 * packets as ffmpeg demuxes them; 8 kHz 16-bit WAV comes in 128 ms blocks and goes out in bursts with
 * pauses of over 100 ms, while 8 kHz µ-law AU (like 24 kHz+ WAV) is paced at an even 20 ms (measured with
 * rtpengine 10.5; see docs/ivr.md). For G.711 callers it also needs no resampling.
 */

/** ITU-T G.711 linear 16-bit sample → µ-law byte. */
export function linearToUlaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(32635, Math.abs(sample)) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  s = ~(sign | (exponent << 4) | mantissa) & 0xff;
  return s;
}

/** An AU file (µ-law, 8 kHz, mono) of 16-bit samples. */
export function ulawAu(samples: Int16Array): Buffer {
  const header = Buffer.alloc(24);
  header.write('.snd', 0, 'ascii');
  header.writeUInt32BE(24, 4); // data offset
  header.writeUInt32BE(samples.length, 8); // data size
  header.writeUInt32BE(1, 12); // encoding 1 = 8-bit µ-law
  header.writeUInt32BE(8000, 16);
  header.writeUInt32BE(1, 20);
  const data = Buffer.alloc(samples.length);
  for (let i = 0; i < samples.length; i++) data[i] = linearToUlaw(samples[i]!);
  return Buffer.concat([header, data]);
}

/** Length of an 8 kHz µ-law AU file in milliseconds. */
export function auDurationMs(file: Buffer): number {
  return ((file.length - file.readUInt32BE(4)) / 8000) * 1000;
}
