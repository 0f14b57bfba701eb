/**
 * RFC 4733 telephone-events (DTMF) decoded from the caller's RTP as it reaches the node's IVR sink.
 *
 * Why the node decodes them itself: rtpengine 10.5 drops an event as "already processed" when its RTP
 * timestamp equals the last end event's timestamp of the media, and that state starts at 0 and is not
 * per SSRC. A caller whose stream starts with a key press at timestamp 0 (phones commonly start at 0,
 * and with no audio before the key the event's timestamp is the stream's first) lost that key; so could
 * the first key after an SSRC change whose new stream starts at the old last event's timestamp.
 *
 * RFC 4733 §2.3: a 4-byte payload (event, E bit, volume, duration); every packet of one event carries the
 * event's start timestamp, so a new timestamp (or a new SSRC) is a new event (§2.5.1.2). The end packet
 * is sent three times (§2.5.1.4): one key is reported once, when its first end packet arrives. An event
 * whose end packets are all lost is reported when the next event starts or when it has been quiet for
 * `QUIET_END_MS`. A long event is sent in segments of at most 0xffff samples (§2.5.1.3); a segment that
 * continues an unended event of the same code is part of the same key.
 */

export interface TelephoneEvent {
  /** 0-9, *, #, A-D. */
  digit: string;
  durationMs: number;
}

export interface EventPacket {
  ssrc: number;
  timestamp: number;
  payload: Buffer;
}

const EVENT_TO_DIGIT = '0123456789*#ABCD';
/** An event with no packet for this long is over, even without an end packet. */
export const QUIET_END_MS = 1000;
/**
 * Events (SSRC and timestamp) remembered as reported for this long, so that the repeated end packets and
 * late ones do not count again; a stream restarted later with the same SSRC and timestamps still counts.
 */
const REMEMBER_MS = 2000;

interface Current {
  key: string;
  ssrc: number;
  timestamp: number;
  event: number;
  /** Samples, as the latest packet said. */
  duration: number;
  /** Samples of the segments before this one (long events). */
  before: number;
  lastAt: number;
}

export function parseTelephoneEvent(
  payload: Buffer,
): { event: number; end: boolean; volume: number; duration: number } | undefined {
  if (payload.length < 4) return undefined;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: payload.readUInt16BE(2),
  };
}

/** One decoder per caller stream (any number of SSRCs); `clockRate` is the telephone-event clock. */
export class Rfc4733Decoder {
  private current: Current | undefined;
  private reported: { key: string; at: number }[] = [];

  constructor(private readonly clockRate = 8000) {}

  /** Feeds one telephone-event packet; returns the keys it completes (zero, one, or two). */
  push(packet: EventPacket, now: number): TelephoneEvent[] {
    const ev = parseTelephoneEvent(packet.payload);
    if (!ev) return [];
    const out: TelephoneEvent[] = [];
    const key = `${packet.ssrc >>> 0}:${packet.timestamp >>> 0}`;
    this.reported = this.reported.filter((r) => now - r.at < REMEMBER_MS);
    if (this.reported.some((r) => r.key === key)) return out; // a repeated end packet, or a late one
    let cur = this.current;
    if (cur && cur.key !== key) {
      const continues =
        cur.ssrc === packet.ssrc &&
        cur.event === ev.event &&
        cur.duration >= 0xff00 &&
        (packet.timestamp - cur.timestamp) >>> 0 <= cur.duration + this.clockRate / 10;
      if (continues) {
        // The next segment of a long key press (§2.5.1.3).
        this.remember(cur.key, now);
        cur = { ...cur, key, timestamp: packet.timestamp, before: cur.before + cur.duration, duration: 0 };
        this.current = cur;
      } else {
        // A new event before the last one ended: the last one's end packets were lost.
        out.push(...this.finish(now));
        cur = undefined;
      }
    }
    if (!cur) {
      cur = {
        key,
        ssrc: packet.ssrc,
        timestamp: packet.timestamp,
        event: ev.event,
        duration: 0,
        before: 0,
        lastAt: now,
      };
      this.current = cur;
    }
    cur.duration = Math.max(cur.duration, ev.duration);
    cur.lastAt = now;
    if (ev.end) out.push(...this.finish(now));
    return out;
  }

  /** Reports an event that has been quiet for QUIET_END_MS (its end packets lost). */
  flush(now: number): TelephoneEvent[] {
    if (this.current && now - this.current.lastAt >= QUIET_END_MS) return this.finish(now);
    return [];
  }

  /** Forgets every stream (a new offer/answer: the caller may restart its RTP). */
  reset(): void {
    this.current = undefined;
    this.reported = [];
  }

  /** True while an event has started and not ended (the caller of flush() keeps a timer for it). */
  get pending(): boolean {
    return this.current !== undefined;
  }

  private finish(now: number): TelephoneEvent[] {
    const cur = this.current;
    this.current = undefined;
    if (!cur) return [];
    this.remember(cur.key, now);
    const digit = EVENT_TO_DIGIT[cur.event];
    if (!digit) return []; // not a DTMF event (tones, flash, …)
    return [{ digit, durationMs: Math.round(((cur.before + cur.duration) * 1000) / this.clockRate) }];
  }

  private remember(key: string, at: number): void {
    this.reported.push({ key, at });
  }
}
