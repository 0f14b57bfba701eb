import type { AddressPolicy } from '@sipms/shared/net/address-policy';
import { type CallbackUrlPolicy, checkCallbackUrl } from '@sipms/shared/net/callback-url-policy';
import { guardedLookup } from '@sipms/shared/net/guarded-lookup';
import { signatureHeader } from '@sipms/shared/signing';
import WebSocket from 'ws';

export interface BotSocketOptions {
  url: string;
  /** The tenant's signing secrets: the handshake is signed like a callback, over the URL. */
  secrets: readonly string[];
  /** Sent as X-Mediaserver-Event-Id: the stream's id. */
  streamSid: string;
  policy: CallbackUrlPolicy;
  addresses: AddressPolicy;
  /** The largest message the bot may send, bytes. */
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
}

/**
 * Opens the WebSocket to a tenant's bot. The URL obeys the outbound address policy twice, as callbacks do:
 * its scheme and literal host here, every address its name resolves to at connect time (a name that
 * resolves to an internal address is refused then, so DNS rebinding gains nothing). No redirects, no
 * compression (a small frame every 20 ms gains nothing from it, and inflating is a memory risk).
 */
/**
 * What the bot sent or did between the handshake and the stream taking the socket over: a bot may speak in
 * the same TCP segment as its 101 answer, and `ws` emits that at once, before any later listener exists.
 */
export interface EarlyEvents {
  messages: { data: WebSocket.RawData; isBinary: boolean }[];
  closed?: { code: number; reason: Buffer };
  error?: Error;
  /** Stops collecting (the stream's own listeners are attached). */
  stop(): void;
}

export async function connectBot(o: BotSocketOptions): Promise<{ socket: WebSocket; early: EarlyEvents }> {
  const url = new URL(o.url);
  const asHttp = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}${url.pathname}${url.search}`;
  await checkCallbackUrl(asHttp, o.policy, 'stream.url', { resolve: false, addresses: o.addresses });
  const t = Math.floor(Date.now() / 1000);
  const socket = new WebSocket(o.url, {
    headers: {
      'user-agent': 'sip-mediaserver/0.1',
      'x-mediaserver-signature': signatureHeader(o.secrets, o.url, t),
      'x-mediaserver-event-id': o.streamSid,
    },
    handshakeTimeout: o.handshakeTimeoutMs,
    maxPayload: o.maxMessageBytes,
    perMessageDeflate: false,
    followRedirects: false,
    lookup: guardedLookup(o.addresses) as never,
  });
  const early: EarlyEvents = {
    messages: [],
    stop: () => {
      socket.off('message', onMessage);
      socket.off('close', onClose);
      socket.off('error', onError);
    },
  };
  const onMessage = (data: WebSocket.RawData, isBinary: boolean) => early.messages.push({ data, isBinary });
  const onClose = (code: number, reason: Buffer) => {
    early.closed = { code, reason };
  };
  const onError = (err: Error) => {
    early.error = err;
  };
  socket.on('message', onMessage);
  socket.on('close', onClose);
  socket.on('error', onError);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      socket.off('open', opened);
      reject(err);
    };
    const opened = () => {
      socket.off('error', fail);
      resolve();
    };
    socket.once('open', opened);
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => {
      socket.off('error', fail);
      reject(new Error(`the bot answered the handshake with HTTP ${res.statusCode}`));
      res.resume();
      socket.terminate();
    });
  });
  return { socket, early };
}
