/**
 * RFC 4733 telephone-events for keys the caller presses, packet by packet on the caller's 20 ms clock.
 *
 * The media loop asks `next(timestamp)` once per tick with the tick's RTP timestamp; while a key is being
 * sent it returns that tick's event packet (instead of audio), otherwise undefined (send audio). One key:
 * the first packet has the marker bit (§2.5.1.1 — a new event), every packet carries the key's start
 * timestamp and its duration so far (§2.5.1.2), and the last duration is sent with the E bit three times
 * (§2.5.1.4), one per tick. A pause of audio follows each key so two equal keys are two events.
 */

export const DTMF_DIGITS = '0123456789*#ABCD';

export interface EventPacket {
  payloadType: number;
  marker: boolean;
  /** The key's start timestamp (the same on every packet of the key). */
  timestamp: number;
  /** Event, E bit and volume, duration (RFC 4733 §2.3). */
  payload: Buffer;
}

export interface TelephoneEventSenderOptions {
  /** The telephone-event payload type of the answer SDP. */
  payloadType: number;
  /** How long each key is held, default 100 ms (a multiple of the tick). */
  toneMs?: number;
  /** Audio between two keys, default 100 ms. */
  pauseMs?: number;
  /** Power level, 0 to 63 as −dBm0 (§2.3.4); default 10. */
  volume?: number;
  /** Clock samples per tick: 160 for 20 ms at 8 kHz. */
  samplesPerTick?: number;
  tickMs?: number;
}

const END_REPEATS = 3;

/** A key press event payload: event code, E bit, volume, duration in clock samples. */
export function eventPayload(digit: string, end: boolean, volume: number, duration: number): Buffer {
  const code = DTMF_DIGITS.indexOf(digit);
  if (code < 0 || digit.length !== 1) throw new RangeError(`"${digit}" is not a DTMF key (0-9 * # A-D)`);
  const p = Buffer.alloc(4);
  p[0] = code;
  p[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  p.writeUInt16BE(duration, 2);
  return p;
}

export class TelephoneEventSender {
  private readonly queue: string[] = [];
  private current: { digit: string; start: number; sent: number; ends: number } | undefined;
  private pauseTicks = 0;
  private readonly toneSamples: number;
  private readonly pauseAfter: number;
  private readonly payloadType: number;
  private readonly volume: number;
  private readonly samplesPerTick: number;
  /** Keys as they started: the key and its start timestamp. */
  readonly started: { digit: string; timestamp: number }[] = [];

  constructor(options: TelephoneEventSenderOptions) {
    const tickMs = options.tickMs ?? 20;
    this.samplesPerTick = options.samplesPerTick ?? 160;
    const toneTicks = Math.max(1, Math.round((options.toneMs ?? 100) / tickMs));
    this.toneSamples = toneTicks * this.samplesPerTick;
    if (this.toneSamples > 0xffff) throw new RangeError('a key must fit one event (at most 8.19 s at 8 kHz)');
    this.pauseAfter = Math.max(1, Math.round((options.pauseMs ?? 100) / tickMs));
    this.payloadType = options.payloadType;
    this.volume = options.volume ?? 10;
  }

  /** Queues keys to send after any still queued. Throws RangeError for a character that is not a key. */
  send(digits: string): void {
    for (const d of digits)
      if (!DTMF_DIGITS.includes(d)) throw new RangeError(`"${d}" is not a DTMF key (0-9 * # A-D)`);
    this.queue.push(...digits);
  }

  /** True while a key is queued or being sent. */
  get busy(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /** The event packet for the tick whose audio timestamp is `timestamp`, or undefined: send audio. */
  next(timestamp: number): EventPacket | undefined {
    if (!this.current) {
      if (this.pauseTicks > 0) {
        this.pauseTicks -= 1;
        return undefined;
      }
      const digit = this.queue.shift();
      if (digit === undefined) return undefined;
      this.current = { digit, start: timestamp >>> 0, sent: 0, ends: 0 };
      this.started.push({ digit, timestamp: timestamp >>> 0 });
    }
    const cur = this.current;
    const duration = Math.min((cur.sent + 1) * this.samplesPerTick, this.toneSamples);
    const end = duration >= this.toneSamples;
    const packet: EventPacket = {
      payloadType: this.payloadType,
      marker: cur.sent === 0,
      timestamp: cur.start,
      payload: eventPayload(cur.digit, end, this.volume, duration),
    };
    cur.sent += 1;
    if (end) {
      cur.ends += 1;
      if (cur.ends === END_REPEATS) {
        this.current = undefined;
        this.pauseTicks = this.pauseAfter;
      }
    }
    return packet;
  }
}
