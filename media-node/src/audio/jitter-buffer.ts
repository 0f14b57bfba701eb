/**
 * A jitter buffer for one incoming RTP stream (a caller's audio coming from rtpengine to the node): packets
 * arrive late, early, twice or never; the engine wants exactly one 20 ms frame of linear samples per tick.
 * `insert` files each packet by its RTP timestamp (wraparound of the 16-bit sequence number and the 32-bit
 * timestamp handled), `pop` returns the next frame in order, reporting received, lost, late, duplicate and
 * concealed frames.
 *
 * Playout: the first packet is held back until the buffer holds `targetMs` of audio; after that the play
 * point moves one frame per `pop`. A packet whose turn has passed is dropped as late. When a packet arrives
 * into an empty buffer (after a loss burst, a delay spike, silence suppression or a timestamp jump), the
 * timeline is re-anchored so it plays `targetMs` later, which rebuilds the cushion; when the buffer has
 * held more than the target for half a second (a delay spike has passed, or the sender's clock runs fast), one
 * frame is dropped. `adaptive` moves the target between `minTargetMs` and `maxTargetMs` with the delay peaks
 * it sees (the peak of arrival delay over the fastest packet, decaying with a half-life of about 7 s); when
 * the target rises, the play point waits one frame per frame of increase (a repeat of the last frame at
 * −6 dB, counted as `stretched`).
 *
 * Loss concealment is deliberately simple: a missing frame is the last good frame repeated at −6 dB, −12 dB,
 * −18 dB for up to three consecutive losses, then silence; audio resumes without a cross-fade.
 *
 * Packets must carry whole 20 ms frames (1, 2 or 3 of them); other sizes are counted as malformed.
 */

import { ALAW_TO_LINEAR, ULAW_TO_LINEAR } from './g711.js';
import { FRAME_MS, frameSamples } from './l16.js';

/** Payload formats: G.711 μ-law / A-law, or L16 in network byte order. */
export type RtpCodec = 'pcmu' | 'pcma' | 'l16';

export interface JitterBufferOptions {
  /** RTP clock rate = sample rate (8000 for G.711). Default 8000. */
  sampleRate?: number;
  codec?: RtpCodec;
  /** The playout delay aimed for, rounded up to whole frames. Default 40 ms. */
  targetMs?: number;
  /** Follow the measured delay peaks between minTargetMs and maxTargetMs instead of keeping targetMs. */
  adaptive?: boolean;
  minTargetMs?: number;
  maxTargetMs?: number;
}

export type FrameKind = 'audio' | 'concealed' | 'silence';

/** What `pop` returns: one object, rewritten by every `pop` (copy `samples` to keep them). */
export interface JitterFrame {
  readonly samples: Int16Array;
  readonly kind: FrameKind;
  /** The frame's RTP timestamp (32-bit), on the sender's timeline as re-anchored. */
  readonly timestamp: number;
}

export interface JitterStats {
  /** Packets filed for playout. */
  received: number;
  /** Packets that never arrived, from gaps in the sequence numbers. */
  lost: number;
  /** Packets that arrived after their turn and were dropped. */
  late: number;
  duplicates: number;
  /** Payloads that are not whole 20 ms frames. */
  malformed: number;
  /** Frames replaced by an attenuated repeat of the last good frame. */
  concealed: number;
  /** Frames replaced by silence (more than three losses in a row, or nothing received yet to repeat). */
  silence: number;
  /** Received frames dropped to bring the delay back to the target, or because the buffer was full. */
  discarded: number;
  /** Frames inserted (a repeat at −6 dB) to grow the delay when the adaptive target rose. */
  stretched: number;
  /** Times the timeline was re-anchored (underrun, silence suppression, timestamp jump). */
  resyncs: number;
  /** Current target and buffered audio, in ms. */
  targetMs: number;
  depthMs: number;
}

const EMPTY = 0;
const FILLED = 1;
const PLAYED = 2;
const MAX_CONCEALED = 3;
const MAX_FRAMES_PER_PACKET = 3;
/** Frames over which the buffered depth must stay above the target before one frame is dropped (0.5 s). */
const SHRINK_WINDOW = 25;
/** Adaptive: per-packet decay of the delay peak (half-life ≈ 350 packets, 7 s at 20 ms). */
const PEAK_DECAY = 0.998;
/** Adaptive: how fast the fastest-transit reference creeps up, so clock drift does not read as jitter (ms/packet). */
const TRANSIT_CREEP_MS = 0.005;

export class JitterBuffer {
  readonly sampleRate: number;
  readonly codec: RtpCodec;
  readonly samplesPerFrame: number;
  private readonly bytesPerFrame: number;
  /** Frames ahead of the play point a packet may be filed at; further is a timestamp jump. */
  private readonly aheadLimit: number;
  private readonly capacity: number;
  private readonly adaptive: boolean;
  private readonly minTarget: number;
  private readonly maxTarget: number;
  private target: number;

  // Slot ring, indexed by frame index mod capacity.
  private readonly pcm: Int16Array;
  private readonly slotIndex: Float64Array;
  private readonly slotSeq: Float64Array;
  private readonly slotState: Uint8Array;

  private started = false;
  private lastTs32 = 0;
  private lastExtTs = 0;
  private lastSeq16 = 0;
  private highestSeq = 0;
  private firstSeq = 0;
  /** Extended timestamp of frame index 0. */
  private tsOffset = 0;
  private playIndex = 0;
  private firstIndex = 0;
  private highestIndex = Number.NEGATIVE_INFINITY;
  private arrived = 0;
  private lossRun = 0;
  private hasLast = false;
  private windowMinDepth = Number.POSITIVE_INFINITY;
  private windowPops = 0;
  private minTransit = Number.POSITIVE_INFINITY;
  private peakDelay = 0;

  private readonly last: Int16Array;
  private readonly frame: { samples: Int16Array; kind: FrameKind; timestamp: number };
  private readonly counts = {
    received: 0,
    late: 0,
    duplicates: 0,
    malformed: 0,
    concealed: 0,
    silence: 0,
    discarded: 0,
    stretched: 0,
    resyncs: 0,
  };
  /** Adaptive: frames the play point still has to wait to reach a raised target. */
  private growBy = 0;

  constructor(options: JitterBufferOptions = {}) {
    this.sampleRate = options.sampleRate ?? 8000;
    this.codec = options.codec ?? 'pcmu';
    this.samplesPerFrame = frameSamples(this.sampleRate);
    if (!Number.isInteger(this.samplesPerFrame) || this.samplesPerFrame <= 0) {
      throw new RangeError(`JitterBuffer: ${this.sampleRate} Hz has no whole number of samples per 20 ms`);
    }
    this.bytesPerFrame = this.samplesPerFrame * (this.codec === 'l16' ? 2 : 1);
    const frames = (ms: number) => Math.max(1, Math.ceil(ms / FRAME_MS));
    this.adaptive = options.adaptive ?? false;
    this.minTarget = frames(options.minTargetMs ?? 20);
    this.target = frames(options.targetMs ?? 40);
    this.maxTarget = frames(options.maxTargetMs ?? Math.max(200, this.target * FRAME_MS));
    if (this.adaptive) this.target = Math.min(this.maxTarget, Math.max(this.minTarget, this.target));
    if (this.target > this.maxTarget) throw new RangeError('JitterBuffer: targetMs is above maxTargetMs');
    this.aheadLimit = this.maxTarget + MAX_FRAMES_PER_PACKET;
    this.capacity = this.aheadLimit + 2 * MAX_FRAMES_PER_PACKET;
    this.pcm = new Int16Array(this.capacity * this.samplesPerFrame);
    this.slotIndex = new Float64Array(this.capacity).fill(Number.NaN);
    this.slotSeq = new Float64Array(this.capacity);
    this.slotState = new Uint8Array(this.capacity);
    this.last = new Int16Array(this.samplesPerFrame);
    this.frame = { samples: new Int16Array(this.samplesPerFrame), kind: 'silence', timestamp: 0 };
  }

  /**
   * Files one RTP packet. `seq` is the 16-bit sequence number, `timestamp` the 32-bit RTP timestamp, `payload`
   * one or more whole 20 ms frames (decoded and copied: the caller may reuse the buffer), `arrivalMs` the local
   * arrival time (used by the adaptive target). Returns what happened to it.
   */
  insert(
    seq: number,
    timestamp: number,
    payload: Uint8Array,
    arrivalMs: number,
  ): 'stored' | 'late' | 'duplicate' | 'malformed' | 'overflow' {
    const count = payload.length / this.bytesPerFrame;
    if (!Number.isInteger(count) || count < 1 || count > MAX_FRAMES_PER_PACKET) {
      this.counts.malformed++;
      return 'malformed';
    }
    seq &= 0xffff;
    timestamp >>>= 0;
    if (!this.started) {
      this.started = true;
      this.lastSeq16 = seq;
      this.highestSeq = this.firstSeq = seq;
      this.lastTs32 = timestamp;
      this.lastExtTs = timestamp;
      // Frame index 0 is this packet; it plays after target − 1 more pops (the pre-roll).
      this.tsOffset = timestamp;
      this.firstIndex = 0;
      this.playIndex = -(this.target - 1);
    }
    // Extend to unbounded counters by the signed difference from the highest seen (wraparound).
    const extSeq = this.highestSeq + (((seq - this.lastSeq16) << 16) >> 16);
    const extTs = this.lastExtTs + ((timestamp - this.lastTs32) | 0);
    if (extTs > this.lastExtTs) {
      this.lastExtTs = extTs;
      this.lastTs32 = timestamp;
    }
    const inOrder = extSeq > this.highestSeq;
    if (inOrder) {
      this.highestSeq = extSeq;
      this.lastSeq16 = seq;
    }

    let index = Math.round((extTs - this.tsOffset) / this.samplesPerFrame);
    const empty = this.highestIndex < this.playIndex;
    const cushion = this.playIndex + this.target - 1;
    const slot = this.slotOf(index);
    if (index < this.playIndex) {
      if (this.slotIndex[slot] === index && this.slotSeq[slot] === extSeq) {
        this.counts.duplicates++;
        return 'duplicate';
      }
      if (!empty) {
        this.arrived++;
        this.counts.late++;
        return 'late';
      }
      // Its turn has passed but nothing else is buffered: a delay spike. Play it after the cushion.
      index = this.reanchor(extTs, cushion);
    } else if (index + count - 1 > this.playIndex + this.aheadLimit) {
      // Further ahead than any jitter we wait for: the sender's timestamps jumped (source change, burst).
      // Continue right after what is buffered, unless that is full (a sender faster than real time).
      if (!empty && this.highestIndex + count > this.playIndex + this.aheadLimit) {
        this.counts.discarded += count;
        return 'overflow';
      }
      index = this.reanchor(extTs, empty ? cushion : this.highestIndex + 1);
    } else if (empty && index !== cushion && this.highestIndex !== Number.NEGATIVE_INFINITY) {
      // The first packet after an underrun or a silence-suppression gap: rebuild exactly the cushion.
      index = this.reanchor(extTs, cushion);
    } else if (this.slotIndex[slot] === index && this.slotState[slot] !== EMPTY) {
      this.counts.duplicates++;
      return 'duplicate';
    }

    for (let k = 0; k < count; k++) this.store(index + k, extSeq, payload, k * this.bytesPerFrame);
    this.arrived++;
    this.counts.received++;
    if (this.adaptive) this.track(extTs, arrivalMs);
    return 'stored';
  }

  /**
   * The next 20 ms frame, or undefined before the first packet's pre-roll has passed. Call once per tick.
   * The returned object and its samples are reused by the next call.
   */
  pop(): JitterFrame | undefined {
    if (!this.started) return undefined;
    const depth = this.highestIndex - this.playIndex + 1;
    if (this.playIndex < this.firstIndex) {
      this.playIndex++;
      return undefined;
    }
    const out = this.frame.samples;
    const spf = this.samplesPerFrame;
    if (this.growBy > 0 && depth >= 1 && depth < this.target && this.hasLast) {
      // Wait one frame: the next frame is here but the cushion behind it is short of the raised target.
      this.growBy--;
      const last = this.last;
      for (let i = 0; i < spf; i++) out[i] = last[i]! * 0.5;
      this.frame.kind = 'concealed';
      this.counts.stretched++;
      return this.frame;
    }
    this.controlDepth(depth);
    const index = this.playIndex++;
    const slot = this.slotOf(index);
    if (this.slotIndex[slot] === index && this.slotState[slot] === FILLED) {
      this.slotState[slot] = PLAYED;
      out.set(this.pcm.subarray(slot * spf, slot * spf + spf));
      this.last.set(out);
      this.hasLast = true;
      this.lossRun = 0;
      this.frame.kind = 'audio';
    } else if (this.hasLast && ++this.lossRun <= MAX_CONCEALED) {
      // −6 dB per consecutive loss: the repeat of the last frame halves each time.
      const gain = 1 / (1 << this.lossRun);
      const last = this.last;
      for (let i = 0; i < spf; i++) out[i] = last[i]! * gain;
      this.frame.kind = 'concealed';
      this.counts.concealed++;
    } else {
      out.fill(0);
      this.frame.kind = 'silence';
      this.counts.silence++;
    }
    const ts = (this.tsOffset + index * spf) % 0x1_0000_0000;
    this.frame.timestamp = ts < 0 ? ts + 0x1_0000_0000 : ts;
    return this.frame;
  }

  stats(): JitterStats {
    const expected = this.started ? this.highestSeq - this.firstSeq + 1 : 0;
    const buffered = Math.max(0, this.highestIndex - this.playIndex + 1);
    return {
      ...this.counts,
      lost: Math.max(0, expected - this.arrived),
      targetMs: this.target * FRAME_MS,
      depthMs: (Number.isFinite(buffered) ? buffered : 0) * FRAME_MS,
    };
  }

  private slotOf(index: number): number {
    const s = index % this.capacity;
    return s < 0 ? s + this.capacity : s;
  }

  /** Maps extended timestamp `extTs` to frame `index` from now on. */
  private reanchor(extTs: number, index: number): number {
    this.tsOffset = extTs - index * this.samplesPerFrame;
    this.counts.resyncs++;
    return index;
  }

  private store(index: number, extSeq: number, payload: Uint8Array, offset: number): void {
    const slot = this.slotOf(index);
    const spf = this.samplesPerFrame;
    const base = slot * spf;
    const pcm = this.pcm;
    if (this.codec === 'l16') {
      for (let i = 0, j = offset; i < spf; i++, j += 2) pcm[base + i] = (payload[j]! << 8) | payload[j + 1]!;
    } else {
      const table = this.codec === 'pcmu' ? ULAW_TO_LINEAR : ALAW_TO_LINEAR;
      for (let i = 0; i < spf; i++) pcm[base + i] = table[payload[offset + i]!]!;
    }
    this.slotIndex[slot] = index;
    this.slotSeq[slot] = extSeq;
    this.slotState[slot] = FILLED;
    if (index > this.highestIndex) this.highestIndex = index;
  }

  /** Drops one frame when the buffer stayed above the target for a whole window (the sender runs fast). */
  private controlDepth(depth: number): void {
    if (depth < this.windowMinDepth) this.windowMinDepth = depth;
    if (++this.windowPops < SHRINK_WINDOW) return;
    const excess = this.windowMinDepth > this.target;
    this.windowPops = 0;
    this.windowMinDepth = Number.POSITIVE_INFINITY;
    if (!excess) return;
    const slot = this.slotOf(this.playIndex);
    if (this.slotIndex[slot] === this.playIndex && this.slotState[slot] === FILLED) {
      this.slotState[slot] = PLAYED;
      this.counts.discarded++;
    }
    this.playIndex++;
  }

  /** Adaptive target: one frame plus enough frames to cover the recent delay peak over the fastest transit. */
  private track(extTs: number, arrivalMs: number): void {
    const transit = arrivalMs - (extTs * 1000) / this.sampleRate;
    if (transit < this.minTransit) this.minTransit = transit;
    else this.minTransit += TRANSIT_CREEP_MS;
    this.peakDelay = Math.max(transit - this.minTransit, this.peakDelay * PEAK_DECAY);
    const wanted = Math.min(this.maxTarget, Math.max(this.minTarget, 1 + Math.ceil(this.peakDelay / FRAME_MS)));
    if (wanted > this.target) this.growBy += wanted - this.target;
    else if (wanted < this.target) this.growBy = 0;
    this.target = wanted;
  }
}
