import { z } from 'zod';

/**
 * The Twilio Media Streams wire format, both ways (docs/streams.md). Twilio sends `sequenceNumber`, `chunk`
 * and `timestamp` as strings; bots and framework serializers written for Twilio read them that way, so ours
 * do too.
 */

export type StreamTrack = 'inbound' | 'outbound';

export interface StreamStartInfo {
  accountSid: string;
  callSid: string;
  participantId: string;
  tracks: StreamTrack[];
  customParameters: Record<string, string>;
  mediaFormat: { encoding: 'audio/x-mulaw' | 'audio/l16'; sampleRate: number; channels: 1 };
}

/** Builds the node's messages of one stream, numbering them in order. */
export class StreamMessages {
  private sequence = 0;

  constructor(readonly streamSid: string) {}

  private next(event: string, body: Record<string, unknown>): string {
    this.sequence += 1;
    return JSON.stringify({ event, sequenceNumber: String(this.sequence), ...body, streamSid: this.streamSid });
  }

  connected(): string {
    // Twilio's first message carries no sequence number.
    return JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(info: StreamStartInfo): string {
    return this.next('start', { start: { streamSid: this.streamSid, ...info } });
  }

  /**
   * The message of every 20 ms, each way: built as text, since JSON.stringify of the nested object was a
   * visible share of the node's time per stream. Every part is JSON-safe as it stands (a fixed track name,
   * integers, base64), and a test checks the text against JSON.stringify's.
   */
  media(track: StreamTrack, chunk: number, timestampMs: number, payload: string): string {
    this.sequence += 1;
    return `{"event":"media","sequenceNumber":"${this.sequence}","media":{"track":"${track}","chunk":"${chunk}","timestamp":"${timestampMs}","payload":"${payload}"},"streamSid":"${this.streamSid}"}`;
  }

  dtmf(digit: string): string {
    return this.next('dtmf', { dtmf: { track: 'inbound_track', digit } });
  }

  mark(name: string): string {
    return this.next('mark', { mark: { name } });
  }

  stop(accountSid: string, callSid: string): string {
    return this.next('stop', { stop: { accountSid, callSid } });
  }
}

const MarkName = z.string().min(1).max(256);

/** What a bot may send; unknown fields are ignored (Twilio bots add `streamSid` and more). */
export const BotMessage = z.discriminatedUnion('event', [
  z.object({ event: z.literal('media'), media: z.object({ payload: z.string() }) }),
  z.object({ event: z.literal('mark'), mark: z.object({ name: MarkName }) }),
  z.object({ event: z.literal('clear') }),
  z.object({ event: z.literal('stop') }),
]);
export type BotMessage = z.infer<typeof BotMessage>;

/** A bot message the node cannot use: the stream ends with `failed` and this as its error. */
export class BotProtocolError extends Error {
  override readonly name = 'BotProtocolError';
}

/** Parses one text frame from the bot; throws BotProtocolError with what was wrong. */
export function parseBotMessage(text: string, index: number): BotMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BotProtocolError(`bot message ${index} is not JSON (${JSON.stringify(text.slice(0, 40))}…)`, {
      cause: err,
    });
  }
  // The message of every 20 ms skips the schema: its one field is checked here.
  if (isMediaMessage(json)) return json;
  const parsed = BotMessage.safeParse(json);
  if (parsed.success) return parsed.data;
  const event = (json as { event?: unknown } | null)?.event;
  const what =
    typeof event === 'string'
      ? `bot message ${index} (event "${event.slice(0, 40)}")`
      : `bot message ${index} (no "event")`;
  throw new BotProtocolError(
    `${what} is not one of media, mark, clear, stop with their fields: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
  );
}

function isMediaMessage(json: unknown): json is Extract<BotMessage, { event: 'media' }> {
  if (typeof json !== 'object' || json === null) return false;
  const m = json as { event?: unknown; media?: { payload?: unknown } | null };
  return m.event === 'media' && typeof m.media === 'object' && m.media !== null && typeof m.media.payload === 'string';
}
