/**
 * The outgoing side of a stream: audio a bot sends (in chunks of any length, usually faster than real time)
 * is queued and handed out as one 20 ms frame every 20 ms, as a caller must receive it. It carries the
 * Twilio Media Streams semantics the bot relies on: a `mark` is echoed once all audio queued before it has
 * been played, `clear` drops the queue at once and echoes every pending mark; the queue is bounded in
 * seconds and refuses more with a `PacerOverflowError` rather than growing.
 *
 * Timing: tick n is due at t0 + n·20 ms, each timer set for the next due time, so timer lateness does not
 * accumulate as drift. If the event loop stalls, the ticks that came due are caught up by sending up to
 * `maxCatchUpFrames` extra frames at once (the receiver's jitter buffer absorbs a short burst); a longer stall
 * moves the schedule forward instead: the audio is delayed, never dropped, since a bot's speech played late is
 * better than speech with holes. The clock and timer are injected, so tests drive the pacer with a fake clock.
 *
 * A frame is "played" when the next tick comes due (its 20 ms have passed); a mark is emitted then, before
 * the next frame goes out, or at once from `mark()` when nothing is queued or playing. When the queue holds
 * only part of a frame at a tick (the bot is slower than real time), that part is padded with silence and
 * sent: there is a gap either way, and this one plays the audio sooner.
 */

import { FRAME_MS } from './l16.js';

export interface PacerClock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock: monotonic time, Node timers. */
export const systemClock: PacerClock = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type MarkOutcome = 'played' | 'cleared';

export interface FramePacerOptions {
  /** Bytes in one 20 ms frame (160 for μ-law 8 kHz, 640 for L16 16 kHz). */
  frameBytes: number;
  /** Called once per frame; the buffer is reused after the call returns. */
  onFrame: (frame: Uint8Array) => void;
  onMark?: (name: string, outcome: MarkOutcome) => void;
  /** The byte that pads a partial frame: 0xFF for μ-law, 0xD5 for A-law, 0 (default) for L16. */
  silenceByte?: number;
  /** Most audio the queue holds; more is refused. Default 60 s. */
  maxQueueMs?: number;
  /** Most marks waiting at once. Default 1000. */
  maxPendingMarks?: number;
  /** Extra frames sent at once to catch up after a stall. Default 2. */
  maxCatchUpFrames?: number;
  /**
   * A source sending in real time (an echo, a bot relaying live audio) leaves a backlog that never drains by
   * itself: one frame arrives per tick, so frames that once had to wait (after a burst, or after an event-loop
   * stall, which the bot's messages sit out in the socket) make every later one wait too. When at least one
   * whole frame, and no more than `drainMaxFrames`, has waited for `drainAfterTicks` ticks at which new audio
   * arrived, and the queue did not grow over them, one extra frame goes out at once (a 20 ms burst the caller's
   * jitter buffer absorbs). A bot that sends faster than real time (speech synthesis streaming ahead) grows its
   * queue and is never drained; one that sent seconds ahead in one go gets no arrivals and is never drained.
   * Default 250 frames (5 s: what a node under load can leave behind while calls are set up) and 10 ticks
   * (200 ms): a backlog of a second drains in ten.
   */
  drainMaxFrames?: number;
  drainAfterTicks?: number;
  clock?: PacerClock;
}

export interface PacerStats {
  framesSent: number;
  /** Frames sent in a catch-up burst, behind their due time. */
  framesLate: number;
  /** Stalls longer than the catch-up allowance, after which the schedule moved forward. */
  stalls: number;
  /** Frames that were padded with silence because the queue held only part of one. */
  framesPadded: number;
  /** Extra frames sent to drain a small standing backlog (see drainMaxFrames). */
  framesDrained: number;
  marksPlayed: number;
  marksCleared: number;
  /** Audio in the queue, ms (a partial frame counts by its bytes). */
  queuedMs: number;
}

export class PacerOverflowError extends Error {
  override readonly name = 'PacerOverflowError';
  readonly code = 'PACER_OVERFLOW';
}

/** Initial ring size: one second of frames; grown by doubling up to the queue limit. */
const INITIAL_FRAMES = 50;

export class FramePacer {
  readonly frameBytes: number;
  private readonly onFrame: (frame: Uint8Array) => void;
  private readonly onMark: (name: string, outcome: MarkOutcome) => void;
  private readonly silenceByte: number;
  private readonly maxBytes: number;
  private readonly maxPendingMarks: number;
  private readonly maxCatchUp: number;
  private readonly drainMaxBytes: number;
  private readonly drainAfterTicks: number;
  /** Ticks in a row after which a small backlog (a whole frame or more, up to drainMaxBytes) still waited. */
  private standing = 0;
  /** The queue's size when the current run of standing ticks began (a queue that grows is not drained). */
  private standingFrom = 0;
  /** Audio was enqueued since the last tick (see drainStandingBacklog). */
  private arrivedSinceTick = false;
  private readonly clock: PacerClock;

  private ring: Uint8Array;
  private head = 0;
  private size = 0;
  private readonly out: Uint8Array;
  /** Bytes ever queued / ever sent: mark positions are in these units. */
  private written = 0;
  private sent = 0;
  private marks: { name: string; position: number }[] = [];

  private running = false;
  private timer: unknown;
  private t0 = 0;
  private n = 0;
  private closed = false;
  private readonly counts = {
    framesSent: 0,
    framesLate: 0,
    stalls: 0,
    framesPadded: 0,
    framesDrained: 0,
    marksPlayed: 0,
    marksCleared: 0,
  };

  constructor(options: FramePacerOptions) {
    if (!Number.isInteger(options.frameBytes) || options.frameBytes <= 0) {
      throw new RangeError(`FramePacer: frameBytes must be a positive whole number (${options.frameBytes})`);
    }
    this.frameBytes = options.frameBytes;
    this.onFrame = options.onFrame;
    this.onMark = options.onMark ?? (() => undefined);
    this.silenceByte = options.silenceByte ?? 0;
    const maxFrames = Math.ceil((options.maxQueueMs ?? 60_000) / FRAME_MS);
    this.maxBytes = maxFrames * this.frameBytes;
    this.maxPendingMarks = options.maxPendingMarks ?? 1000;
    this.maxCatchUp = options.maxCatchUpFrames ?? 2;
    this.drainMaxBytes = (options.drainMaxFrames ?? 250) * this.frameBytes;
    this.drainAfterTicks = options.drainAfterTicks ?? 10;
    this.clock = options.clock ?? systemClock;
    this.ring = new Uint8Array(Math.min(maxFrames, INITIAL_FRAMES) * this.frameBytes);
    this.out = new Uint8Array(this.frameBytes);
  }

  /** Queues audio of any length; a trailing partial frame waits for the next bytes. Throws PacerOverflowError. */
  enqueue(bytes: Uint8Array): void {
    this.checkOpen();
    if (bytes.length === 0) return;
    this.arrivedSinceTick = true;
    if (this.size + bytes.length > this.maxBytes) {
      throw new PacerOverflowError(
        `audio queue full: ${this.ms(this.size)} ms queued, ${this.ms(bytes.length)} ms more would pass the ${this.ms(this.maxBytes)} ms limit`,
      );
    }
    if (this.size + bytes.length > this.ring.length) this.grow(this.size + bytes.length);
    const ring = this.ring;
    const tail = (this.head + this.size) % ring.length;
    const first = Math.min(bytes.length, ring.length - tail);
    ring.set(bytes.subarray(0, first), tail);
    if (first < bytes.length) ring.set(bytes.subarray(first), 0);
    this.size += bytes.length;
    this.written += bytes.length;
    this.start();
  }

  /** Queues a mark: `onMark(name, 'played')` once the audio queued before it has played. */
  mark(name: string): void {
    this.checkOpen();
    if (this.marks.length >= this.maxPendingMarks) {
      throw new PacerOverflowError(`too many pending marks: at most ${this.maxPendingMarks}`);
    }
    this.pad();
    if (!this.running && this.size === 0) {
      this.counts.marksPlayed++;
      this.onMark(name, 'played');
      return;
    }
    this.marks.push({ name, position: this.written });
  }

  /** Drops the queued audio at once (the frame already handed out finishes) and echoes every pending mark. */
  clear(): void {
    this.checkOpen();
    this.written -= this.size;
    this.head = 0;
    this.size = 0;
    const marks = this.marks;
    this.marks = [];
    for (const m of marks) {
      this.counts.marksCleared++;
      this.onMark(m.name, 'cleared');
    }
  }

  /** Stops the pacer for good: the timer ends, queued audio and pending marks are dropped without echo. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.running = false;
    this.size = 0;
    this.marks = [];
  }

  get queuedMs(): number {
    return this.ms(this.size);
  }

  stats(): PacerStats {
    return { ...this.counts, queuedMs: this.queuedMs };
  }

  private ms(bytes: number): number {
    return (bytes / this.frameBytes) * FRAME_MS;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('FramePacer is closed');
  }

  /** Pads a trailing partial frame with silence, so what is queued is whole frames. */
  private pad(): void {
    const partial = this.size % this.frameBytes;
    if (partial === 0) return;
    const fill = this.frameBytes - partial;
    if (this.size + fill > this.ring.length) this.grow(this.size + fill);
    const ring = this.ring;
    for (let i = 0, at = (this.head + this.size) % ring.length; i < fill; i++, at = (at + 1) % ring.length) {
      ring[at] = this.silenceByte;
    }
    this.size += fill;
    this.written += fill;
    this.counts.framesPadded++;
  }

  private grow(need: number): void {
    let capacity = this.ring.length;
    while (capacity < need) capacity *= 2;
    // Room for the padding of a full queue's last partial frame.
    capacity = Math.min(capacity, this.maxBytes + this.frameBytes);
    const next = new Uint8Array(capacity);
    const first = Math.min(this.size, this.ring.length - this.head);
    next.set(this.ring.subarray(this.head, this.head + first), 0);
    next.set(this.ring.subarray(0, this.size - first), first);
    this.ring = next;
    this.head = 0;
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    this.t0 = this.clock.now();
    this.n = 0;
    this.timer = this.clock.setTimer(this.onTimer, 0);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.closed) return;
    const now = this.clock.now();
    const behind = Math.floor((now - (this.t0 + this.n * FRAME_MS)) / FRAME_MS);
    if (behind > this.maxCatchUp) {
      this.t0 += (behind - this.maxCatchUp) * FRAME_MS;
      this.counts.stalls++;
    }
    let active = true;
    for (let burst = 0; active && this.t0 + this.n * FRAME_MS <= now; burst++, this.n++) {
      active = this.tick(burst > 0);
    }
    if (active && !this.closed) this.drainStandingBacklog();
    if (active && !this.closed) {
      this.timer = this.clock.setTimer(this.onTimer, this.t0 + this.n * FRAME_MS - now);
    } else {
      this.running = false;
    }
  };

  private drainStandingBacklog(): void {
    // Standing: a whole frame or more waits (an empty or oversized queue starts over), and audio keeps
    // arriving: a tick after which something arrived counts, one with nothing new counts neither way (a
    // real-time source's arrivals jitter around the ticks). Audio sent ahead in one piece gets no arrivals
    // and is never drained; audio streamed ahead grows the queue over the run and is not drained either.
    const small = this.size >= this.frameBytes && this.size <= this.drainMaxBytes;
    if (!small) this.standing = 0;
    else if (this.arrivedSinceTick) {
      if (this.standing === 0) this.standingFrom = this.size;
      this.standing++;
    }
    this.arrivedSinceTick = false;
    if (this.standing < this.drainAfterTicks) return;
    this.standing = 0;
    // A frame of slack: a real-time source's arrivals jitter around the ticks.
    if (this.size > this.standingFrom + this.frameBytes) return;
    this.counts.framesDrained++;
    this.tick(false);
  }

  /** One tick: echo the marks whose audio has finished, send the next frame. False when idle. */
  private tick(late: boolean): boolean {
    while (this.marks.length > 0 && this.marks[0]!.position <= this.sent) {
      const m = this.marks.shift()!;
      this.counts.marksPlayed++;
      this.onMark(m.name, 'played');
    }
    if (this.size === 0) return this.marks.length > 0;
    if (this.size < this.frameBytes) this.pad();
    const ring = this.ring;
    const first = Math.min(this.frameBytes, ring.length - this.head);
    this.out.set(ring.subarray(this.head, this.head + first), 0);
    if (first < this.frameBytes) this.out.set(ring.subarray(0, this.frameBytes - first), first);
    this.head = (this.head + this.frameBytes) % ring.length;
    this.size -= this.frameBytes;
    this.sent += this.frameBytes;
    this.counts.framesSent++;
    if (late) this.counts.framesLate++;
    this.onFrame(this.out);
    return true;
  }
}
