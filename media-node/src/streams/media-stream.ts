import type { StreamResult } from '@sipms/shared/contracts/callbacks';
import type { StreamSpec } from '@sipms/shared/contracts/ivr-command';
import type { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { CallbackUrlPolicy } from '@sipms/shared/net/callback-url-policy';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type WebSocket from 'ws';
import { decodePayload, encodePayload, FramePacer, PacerOverflowError } from '../audio/index.js';
import type { StreamRun } from '../ports/streams.js';
import { connectBot, type EarlyEvents } from './bot-socket.js';
import { type BotFormat, StreamCodec, silenceByteOf } from './stream-codec.js';
import { BotProtocolError, parseBotMessage, StreamMessages, type StreamTrack } from './stream-messages.js';

/** The node's limits on one stream (docs/streams.md "Limits"). */
export interface StreamLimits {
  /** The bot's audio waiting to be played, at most (STREAM_MAX_QUEUE_SEC). */
  maxQueueMs: number;
  /** The largest message a bot may send, bytes. */
  maxMessageBytes: number;
  /** Messages a bot may send per second, on average over a second. */
  maxMessagesPerSecond: number;
  handshakeTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxQueueMs: 60_000,
  maxMessageBytes: 1024 * 1024,
  maxMessagesPerSecond: 500,
  handshakeTimeoutMs: 5000,
};

export interface StreamRunDeps extends StreamRun {
  policy: CallbackUrlPolicy;
  addresses: AddressPolicy;
  limits: StreamLimits;
  logger: Logger;
}

/** A bot's close code other than these is an error worth naming in `streamResult.error`. */
const NORMAL_CLOSE = new Set([1000, 1001, 1005]);

/**
 * One `stream` command: the participant's audio to the tenant's bot over WebSocket, and with
 * `bidirectional` the bot's audio back, paced at 20 ms. Ends when either side stops, the socket closes or
 * fails, `maxDurationSec` passes or the node's signal aborts; resolves with the `streamResult` the next
 * `getIvrCommand` carries. Never throws: every failure is a result with its error.
 */
export async function runStream(spec: StreamSpec, d: StreamRunDeps): Promise<StreamResult> {
  const started = performance.now();
  const streamSid = randomId('MZ', 24);
  const elapsed = () => Math.round(performance.now() - started);
  const format: BotFormat =
    spec.encoding === 'l16'
      ? { encoding: 'l16', sampleRate: spec.sampleRate ?? 8000 }
      : { encoding: 'mulaw', sampleRate: 8000 };
  const url = redactedUrl(spec.url);
  d.journal({ kind: 'media', event: 'streamStarting', streamSid, url, bidirectional: spec.bidirectional });

  let connected: Awaited<ReturnType<typeof connectBot>>;
  try {
    connected = await connectBot({
      url: spec.url,
      secrets: d.secrets,
      streamSid,
      policy: d.policy,
      addresses: d.addresses,
      maxMessageBytes: d.limits.maxMessageBytes,
      handshakeTimeoutMs: d.limits.handshakeTimeoutMs,
    });
  } catch (err) {
    const error = `cannot connect to the bot: ${(err as Error).message}`;
    d.journal({ kind: 'media', event: 'streamEnded', streamSid, reason: 'failed', error, durationMs: elapsed() });
    return { reason: 'failed', durationMs: elapsed(), error };
  }
  const { socket, early } = connected;
  if (d.signal.aborted) {
    early.stop();
    socket.close(1000);
    return { reason: d.abortReason() ?? 'stopped', durationMs: elapsed() };
  }
  return new StreamSession(spec, d, socket, streamSid, format, started, url).run(early);
}

/** The URL as journaled: its query may carry a tenant's token, so only its presence is kept. */
function redactedUrl(raw: string): string {
  const u = new URL(raw);
  return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}

class StreamSession {
  private readonly messages: StreamMessages;
  private readonly codec: StreamCodec;
  private readonly pacer: FramePacer | undefined;
  private readonly cleanups: (() => void)[] = [];
  private inboundChunk = 0;
  private outboundChunk = 0;
  private firstTimestamp: number | undefined;
  private received = 0;
  /** The bot's `media` messages (whatever their length). */
  private botMediaMessages = 0;
  private windowStart = performance.now();
  private windowCount = 0;
  private finish!: (r: { reason: StreamResult['reason']; error?: string }) => void;
  private readonly done = new Promise<{ reason: StreamResult['reason']; error?: string }>((r) => {
    this.finish = r;
  });
  private ended = false;

  constructor(
    private readonly spec: StreamSpec,
    private readonly d: StreamRunDeps,
    private readonly socket: WebSocket,
    private readonly streamSid: string,
    format: BotFormat,
    private readonly started: number,
    private readonly url: string,
  ) {
    this.messages = new StreamMessages(streamSid);
    this.codec = new StreamCodec(format);
    if (spec.bidirectional) {
      this.pacer = new FramePacer({
        frameBytes: 160,
        silenceByte: silenceByteOf(d.tap.codec),
        maxQueueMs: d.limits.maxQueueMs,
        onFrame: (frame) => this.playFrame(frame),
        onMark: (name) => this.send(this.messages.mark(name)),
      });
    }
  }

  async run(early: EarlyEvents): Promise<StreamResult> {
    const { d, spec } = this;
    const tracks: StreamTrack[] = spec.track === 'both' ? ['inbound', 'outbound'] : ['inbound'];
    this.send(this.messages.connected());
    this.send(
      this.messages.start({
        accountSid: d.ids.tenantId,
        callSid: d.ids.sessionId,
        participantId: d.ids.participantId,
        tracks,
        customParameters: spec.parameters ?? {},
        mediaFormat: this.codec.mediaFormat,
      }),
    );
    d.journal({ kind: 'media', event: 'streamStarted', streamSid: this.streamSid, url: this.url, tracks });

    this.cleanups.push(d.tap.onAudio((payload, codec, rtp) => this.callerAudio(payload, codec, rtp.timestamp)));
    this.cleanups.push(d.onDigit((digit) => this.send(this.messages.dtmf(digit))));
    const onAbort = () => this.end(this.d.abortReason() ?? 'stopped');
    d.signal.addEventListener('abort', onAbort, { once: true });
    this.cleanups.push(() => d.signal.removeEventListener('abort', onAbort));
    const maxTimer = setTimeout(() => this.end('maxDuration'), spec.maxDurationSec * 1000);
    this.cleanups.push(() => clearTimeout(maxTimer));

    const onClose = (code: number, reason: Buffer) => {
      const text = reason.toString('utf8').slice(0, 120);
      this.end(
        'closed',
        NORMAL_CLOSE.has(code) ? undefined : `the bot closed the socket with code ${code}${text ? `: ${text}` : ''}`,
      );
    };
    const onError = (err: Error) => this.end('failed', `socket error: ${err.message}`);
    // What the bot sent before these listeners existed comes first, in order.
    early.stop();
    for (const m of early.messages) this.botMessage(m.data, m.isBinary);
    if (early.error) onError(early.error);
    if (early.closed) onClose(early.closed.code, early.closed.reason);
    this.socket.on('message', (data, isBinary) => this.botMessage(data, isBinary));
    this.socket.on('close', onClose);
    this.socket.on('error', onError);

    const result = await this.done;
    for (const c of this.cleanups.splice(0)) c();
    // Where frames went, for the journal: what reached the bot, what the bot sent, what was played to the caller.
    const paced = this.pacer?.stats();
    this.pacer?.close();
    d.tap.close();
    if (this.socket.readyState === this.socket.OPEN) {
      if (result.reason !== 'closed') this.send(this.messages.stop(d.ids.tenantId, d.ids.sessionId));
      this.socket.close(1000, result.reason);
    }
    // A bot that ignores the close handshake does not hold the node's resources.
    const kill = setTimeout(() => this.socket.terminate(), 2000);
    kill.unref();
    this.socket.once('close', () => clearTimeout(kill));
    const durationMs = Math.round(performance.now() - this.started);
    d.journal({
      kind: 'media',
      event: 'streamEnded',
      streamSid: this.streamSid,
      ...result,
      durationMs,
      frames: {
        toBot: this.inboundChunk,
        fromBot: this.botMediaMessages,
        ...(paced
          ? {
              played: paced.framesSent,
              late: paced.framesLate,
              stalls: paced.stalls,
              padded: paced.framesPadded,
              drained: paced.framesDrained,
              clearedMarks: paced.marksCleared,
            }
          : {}),
      },
    });
    return { ...result, durationMs };
  }

  private end(reason: StreamResult['reason'], error?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.finish(error ? { reason, error } : { reason });
  }

  private send(text: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(text);
  }

  private callerAudio(payload: Uint8Array, codec: 'pcmu' | 'pcma', rtpTimestamp: number): void {
    if (this.ended) return;
    this.firstTimestamp ??= rtpTimestamp;
    // RTP time since the first packet, in ms (8 samples per ms), across the 32-bit wrap.
    const ms = Math.floor(((rtpTimestamp - this.firstTimestamp) >>> 0) / 8);
    this.inboundChunk += 1;
    this.send(this.messages.media('inbound', this.inboundChunk, ms, encodePayload(this.codec.toBot(payload, codec))));
  }

  /** One 20 ms frame of the bot's audio goes to the caller (and to the bot again with track `both`). */
  private playFrame(frame: Uint8Array): void {
    this.d.tap.send(frame);
    if (this.spec.track !== 'both') return;
    this.outboundChunk += 1;
    const ms = this.outboundChunk * 20;
    this.send(
      this.messages.media('outbound', this.outboundChunk, ms, encodePayload(this.codec.toBot(frame, this.d.tap.codec))),
    );
  }

  private botMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.ended) return;
    this.received += 1;
    const now = performance.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount += 1;
    try {
      if (this.windowCount > this.d.limits.maxMessagesPerSecond) {
        throw new BotProtocolError(`the bot sent more than ${this.d.limits.maxMessagesPerSecond} messages in a second`);
      }
      if (isBinary) throw new BotProtocolError(`bot message ${this.received} is binary; messages are JSON text`);
      const msg = parseBotMessage(String(data), this.received);
      switch (msg.event) {
        case 'stop':
          this.end('stopped');
          return;
        case 'clear':
          this.pacer?.clear();
          return;
        case 'mark':
          // A listen-only stream has no queue: the mark is "played" at once.
          if (this.pacer) this.pacer.mark(msg.mark.name);
          else this.send(this.messages.mark(msg.mark.name));
          return;
        case 'media': {
          this.botMediaMessages += 1;
          if (!this.pacer) return; // listen-only: the bot's audio is not played
          const bytes = decodePayload(msg.media.payload, this.d.limits.maxMessageBytes);
          this.pacer.enqueue(this.codec.toCaller(bytes, this.d.tap.codec));
          return;
        }
      }
    } catch (err) {
      if (err instanceof PacerOverflowError) {
        this.end('failed', `the bot sent more audio than ${this.d.limits.maxQueueMs / 1000} s ahead: ${err.message}`);
      }
      const reason = err instanceof Error ? err.message : String(err);
      this.end('failed', reason);
    }
  }
}
