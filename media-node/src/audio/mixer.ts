/**
 * The conference mix: every participant hears the sum of all the others, not itself. Per 20 ms frame the
 * total of all contributing participants is summed once in 32-bit integers, and each participant's output is
 * that total minus its own contribution: O(N) frames of work for N participants, not O(N²). Muted
 * participants contribute nothing (they still hear the others), deaf participants receive silence (they
 * still contribute). Overload is handled by saturation: a sum beyond the 16-bit range is clamped to
 * −32768…32767, never wrapped; there is no soft limiter, so loud simultaneous talkers distort rather than
 * duck. Participant buffers are allocated when they join; mixing a frame allocates nothing.
 *
 * All participants share one sample rate; callers resample into and out of it.
 */

export interface MixParticipantOptions {
  muted?: boolean;
  deaf?: boolean;
}

export class MixParticipant {
  muted: boolean;
  deaf: boolean;
  /** This tick's frame from the participant; write it with `put` (or directly, then set `hasInput`). */
  readonly input: Int16Array;
  /** What the participant hears, written by `Mixer.mix`. */
  readonly output: Int16Array;
  /** Whether `input` holds a frame for this tick; cleared by `mix` (no frame = silence). */
  hasInput = false;

  constructor(
    readonly id: string,
    frameSamples: number,
    options: MixParticipantOptions,
  ) {
    this.muted = options.muted ?? false;
    this.deaf = options.deaf ?? false;
    this.input = new Int16Array(frameSamples);
    this.output = new Int16Array(frameSamples);
  }

  /** Copies this tick's frame in (shorter frames are padded with silence). */
  put(frame: Int16Array): void {
    if (frame.length > this.input.length) {
      throw new RangeError(`mixer frame of ${frame.length} samples; the conference uses ${this.input.length}`);
    }
    this.input.set(frame);
    if (frame.length < this.input.length) this.input.fill(0, frame.length);
    this.hasInput = true;
  }
}

export class Mixer {
  readonly frameSamples: number;
  private readonly list: MixParticipant[] = [];
  private readonly byId = new Map<string, MixParticipant>();
  private readonly total: Int32Array;
  /** The mix of everyone (for recording the conference), written by `mix`. */
  readonly mixed: Int16Array;

  constructor(frameSamples: number) {
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(`Mixer: frameSamples must be a positive whole number (${frameSamples})`);
    }
    this.frameSamples = frameSamples;
    this.total = new Int32Array(frameSamples);
    this.mixed = new Int16Array(frameSamples);
  }

  get size(): number {
    return this.list.length;
  }

  add(id: string, options: MixParticipantOptions = {}): MixParticipant {
    if (this.byId.has(id)) throw new Error(`mixer: participant ${id} is already in the mix`);
    const p = new MixParticipant(id, this.frameSamples, options);
    this.list.push(p);
    this.byId.set(id, p);
    return p;
  }

  get(id: string): MixParticipant | undefined {
    return this.byId.get(id);
  }

  remove(id: string): boolean {
    const p = this.byId.get(id);
    if (!p) return false;
    this.byId.delete(id);
    const i = this.list.indexOf(p);
    const last = this.list.pop()!;
    if (last !== p) this.list[i] = last;
    return true;
  }

  /** Mixes this tick: reads every participant's `input`, writes every `output` and `mixed`. */
  mix(): void {
    const n = this.frameSamples;
    const total = this.total;
    total.fill(0);
    const list = this.list;
    for (let p = 0; p < list.length; p++) {
      const part = list[p]!;
      if (part.muted || !part.hasInput) continue;
      const input = part.input;
      for (let i = 0; i < n; i++) total[i] = total[i]! + input[i]!;
    }
    const mixed = this.mixed;
    for (let i = 0; i < n; i++) {
      const s = total[i]!;
      mixed[i] = Math.min(32767, Math.max(-32768, s));
    }
    for (let p = 0; p < list.length; p++) {
      const part = list[p]!;
      const output = part.output;
      if (part.deaf) {
        output.fill(0);
      } else if (part.muted || !part.hasInput) {
        output.set(mixed);
      } else {
        const input = part.input;
        for (let i = 0; i < n; i++) {
          const s = total[i]! - input[i]!;
          output[i] = Math.min(32767, Math.max(-32768, s));
        }
      }
      part.hasInput = false;
    }
  }
}
