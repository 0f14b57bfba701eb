import { pcmToWav } from './pcap.js';

/** The 16-bit PCM samples of a WAV file (the `data` chunk), or an empty array if it has none. */
export function wavSamples(wav: Buffer): Int16Array {
  let offset = 12;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('ascii', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    if (id === 'data') {
      const end = Math.min(wav.length, offset + 8 + size);
      const out = new Int16Array(Math.floor((end - offset - 8) / 2));
      for (let i = 0; i < out.length; i++) out[i] = wav.readInt16LE(offset + 8 + i * 2);
      return out;
    }
    offset += 8 + size + (size % 2);
  }
  return new Int16Array(0);
}

/** Both sides of a conversation in one 8 kHz mono WAV: the samples added, clipped to 16 bits. */
export function mixWavs(a: Buffer, b: Buffer): Buffer {
  const x = wavSamples(a);
  const y = wavSamples(b);
  const out = new Int16Array(Math.max(x.length, y.length));
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, (x[i] ?? 0) + (y[i] ?? 0)));
  }
  return pcmToWav(out);
}
