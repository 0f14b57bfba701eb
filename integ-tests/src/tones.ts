import { decodeG711 } from '@sipms/media-node/media/pcap';
import type { CapturedPacket } from './rtp-capture.js';

/**
 * What a caller heard, measured: captured RTP decoded to samples, and the level of a tone in them (Goertzel on
 * a Hann-windowed signal, so a pure tone of amplitude A measures A at its frequency and little at others).
 */

/** The G.711 audio of the captured packets whose capture time is in [from, to] (epoch seconds), in RTP order. */
export function audioBetween(packets: CapturedPacket[], from: number, to: number): Int16Array {
  const frames = packets
    .filter((p) => p.rtp && p.rtp.payloadType < 72 && p.t >= from && p.t <= to)
    .map((p) => decodeG711(p.rtp!.payloadType, p.rtp!.payload))
    .filter((f): f is Int16Array => f !== undefined);
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/** Level of the `hz` component in dBFS (a full-scale sine is 0 dBFS); −Infinity for no samples. */
export function toneDbfs(samples: ArrayLike<number>, hz: number, rate = 8000): number {
  const n = samples.length;
  if (n < 2) return Number.NEGATIVE_INFINITY;
  const w = (2 * Math.PI * hz) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    wsum += win;
    const s0 = samples[i]! * win + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const amplitude = (2 * Math.hypot(s1 - s2 * Math.cos(w), s2 * Math.sin(w))) / wsum;
  return 20 * Math.log10(amplitude / 32768);
}

/** Root-mean-square level in dBFS (a full-scale sine is −3 dBFS). */
export function rmsDbfs(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return 10 * Math.log10(sum / Math.max(1, samples.length) / 32768 ** 2);
}

/** The 16-bit PCM samples of a WAV file (its `data` chunk) and its sample rate. */
export function wavSamples(wav: Buffer): { rate: number; samples: Int16Array } {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV');
  let rate = 0;
  for (let at = 12; at + 8 <= wav.length; ) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      if (wav.readUInt16LE(at + 8) !== 1 || wav.readUInt16LE(at + 22) !== 16) throw new Error('not 16-bit PCM');
      rate = wav.readUInt32LE(at + 12);
    }
    if (id === 'data') {
      const data = wav.subarray(at + 8, at + 8 + Math.min(size, wav.length - at - 8));
      const samples = new Int16Array(data.length >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
      return { rate, samples };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('WAV without a data chunk');
}
