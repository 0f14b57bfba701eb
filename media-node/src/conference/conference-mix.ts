import { encodeAlaw, encodeUlaw, JitterBuffer, Mixer, type MixParticipant } from '../audio/index.js';
import type { TapCodec } from '../ports/media.js';
import { BEEPS } from './beep.js';

/** 20 ms at 8 kHz: the conference's frame (every participant's G.711 is 8 kHz). */
export const CONFERENCE_FRAME_SAMPLES = 160;

/**
 * The playout delay each participant's jitter buffer aims for: adaptive between one and ten frames, starting
 * at two. On a clean network it settles at one or two frames, which is most of the delay the mix adds.
 */
const JITTER = { adaptive: true, targetMs: 40, minTargetMs: 20, maxTargetMs: 200 } as const;

export interface MixMemberOptions {
  muted?: boolean;
  deaf?: boolean;
  /** The codec this participant is sent (its tap's, read at every tick). */
  codec: () => TapCodec;
  /** Sends one 20 ms frame of `codec()` to the participant; the buffer is reused after the call returns. */
  send: (frame: Uint8Array) => void;
}

/** One participant's place in the mix: its jitter buffer in, its encoded frame out. */
export class MixMember {
  private jitter: JitterBuffer;
  private readonly bytes = new Uint8Array(CONFERENCE_FRAME_SAMPLES);
  /** What the participant hears this tick, before encoding (the mix's output plus any tone). */
  readonly heard = new Int16Array(CONFERENCE_FRAME_SAMPLES);

  constructor(
    readonly id: string,
    readonly part: MixParticipant,
    private readonly options: MixMemberOptions,
  ) {
    this.jitter = new JitterBuffer({ codec: options.codec(), ...JITTER });
  }

  get muted(): boolean {
    return this.part.muted;
  }

  set muted(v: boolean) {
    this.part.muted = v;
  }

  get deaf(): boolean {
    return this.part.deaf;
  }

  set deaf(v: boolean) {
    this.part.deaf = v;
  }

  /** One RTP packet from the participant (G.711, 20 ms frames). */
  receive(payload: Uint8Array, codec: TapCodec, seq: number, timestamp: number, arrivalMs: number): void {
    // A caller that switches between PCMU and PCMA mid-call gets a fresh buffer in the new codec.
    if (codec !== this.jitter.codec) this.jitter = new JitterBuffer({ codec, ...JITTER });
    this.jitter.insert(seq, timestamp, payload, arrivalMs);
  }

  /** Takes this tick's frame from the jitter buffer into the mix (nothing yet, or silence, is no input). */
  pull(): void {
    const frame = this.jitter.pop();
    if (frame && frame.kind !== 'silence') this.part.put(frame.samples);
  }

  /** Encodes what the participant hears and sends it. */
  push(): void {
    const encoded =
      this.options.codec() === 'pcma' ? encodeAlaw(this.heard, this.bytes) : encodeUlaw(this.heard, this.bytes);
    this.options.send(encoded);
  }

  jitterStats() {
    return this.jitter.stats();
  }
}

/**
 * A conference's audio, one 20 ms tick at a time (no timers here: conference-clock.ts calls `tick`). Each tick
 * pulls one frame per participant from its jitter buffer, mixes them (audio/mixer.ts: everyone hears the sum of
 * the others minus itself, muted participants contribute nothing, deaf ones hear silence, sums beyond 16 bits
 * saturate), adds the join/leave tone to every participant that is not deaf (saturating too), encodes each
 * participant's frame in its codec and sends it. The mix of everyone goes to `onMixed` (the recording).
 */
export class ConferenceMix {
  private readonly mixer = new Mixer(CONFERENCE_FRAME_SAMPLES);
  private readonly members = new Map<string, MixMember>();
  /** Tones waiting to be played, in order, and the position in the first. */
  private readonly tones: Int16Array[] = [];
  private tonePos = 0;
  private readonly tone = new Int16Array(CONFERENCE_FRAME_SAMPLES);
  /** Receives the mix of all participants each tick (the buffer is reused). */
  onMixed: ((mixed: Int16Array) => void) | undefined;

  get size(): number {
    return this.members.size;
  }

  add(id: string, options: MixMemberOptions): MixMember {
    const part = this.mixer.add(id, { muted: options.muted ?? false, deaf: options.deaf ?? false });
    const member = new MixMember(id, part, options);
    this.members.set(id, member);
    return member;
  }

  get(id: string): MixMember | undefined {
    return this.members.get(id);
  }

  remove(id: string): boolean {
    this.mixer.remove(id);
    return this.members.delete(id);
  }

  /**
   * Queues the join or leave tone for everyone who is not deaf. A tone already waiting to start is not queued
   * twice: fifty people joining at once make one beep, not fifty seconds of them.
   */
  beep(kind: 'join' | 'leave'): void {
    const tone = BEEPS[kind];
    const waiting = this.tones.slice(this.tonePos > 0 ? 1 : 0);
    if (waiting.includes(tone)) return;
    this.tones.push(tone);
  }

  tick(): void {
    for (const m of this.members.values()) m.pull();
    this.mixer.mix();
    this.onMixed?.(this.mixer.mixed);
    const toning = this.nextTone();
    const tone = this.tone;
    for (const m of this.members.values()) {
      const out = m.part.output;
      const heard = m.heard;
      if (toning && !m.deaf) {
        for (let i = 0; i < CONFERENCE_FRAME_SAMPLES; i++) {
          const s = out[i]! + tone[i]!;
          heard[i] = Math.min(32767, Math.max(-32768, s));
        }
      } else {
        heard.set(out);
      }
      m.push();
    }
  }

  /** Fills `tone` with the next 20 ms of queued tones; false when none is playing. */
  private nextTone(): boolean {
    if (this.tones.length === 0) return false;
    const tone = this.tone;
    let filled = 0;
    while (filled < CONFERENCE_FRAME_SAMPLES && this.tones.length > 0) {
      const current = this.tones[0]!;
      const take = Math.min(CONFERENCE_FRAME_SAMPLES - filled, current.length - this.tonePos);
      tone.set(current.subarray(this.tonePos, this.tonePos + take), filled);
      filled += take;
      this.tonePos += take;
      if (this.tonePos >= current.length) {
        this.tones.shift();
        this.tonePos = 0;
      }
    }
    tone.fill(0, filled);
    return true;
  }
}
