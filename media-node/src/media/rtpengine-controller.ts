import { AppError } from '@sipms/shared/errors';
import type { Logger } from '@sipms/shared/util/logger';
import { Client, type NgParams, type NgReply } from 'rtpengine-client';

/** Every failed ng command rejects with this: the command, and rtpengine's reason or the transport error. */
export class RtpEngineError extends AppError {
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super('unavailable', `rtpengine ${command} failed: ${reason}`);
    this.name = 'RtpEngineError';
  }
}

/** The keys that name a call and, where the command needs it, a party of it. */
export type CallKeys = {
  'call-id': string;
  'from-tag'?: string;
  'to-tag'?: string;
};

/** offer/answer: the SDP plus rtpengine's options (`flags`, `replace`, `ICE`, `media-echo`, …). */
export type SdpParams = CallKeys & { sdp: string } & NgParams;

export interface RtpEngineAddress {
  host: string;
  port: number;
}

type Command =
  | 'ping'
  | 'offer'
  | 'answer'
  | 'delete'
  | 'query'
  | 'playMedia'
  | 'stopMedia'
  | 'playDTMF'
  | 'startRecording'
  | 'stopRecording'
  | 'statistics';

/**
 * The receive buffer asked for the ng socket. Calls set up at a high rate put hundreds of replies (offers and
 * answers carry SDP) in it while the event loop is busy; the kernel's default (208 KiB) dropped them there,
 * and a reply lost is a command timed out and a failed call (rtpengine-client does not retransmit). The
 * kernel caps the size at net.core.rmem_max (the AWS media nodes set 8 MiB).
 */
export const NG_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Typed control of one rtpengine over the ng protocol (UDP). Wraps rtpengine-client so that every
 * error — an `error` result, a timeout, a socket error — is a typed rejection.
 */
export class RtpEngineController {
  private readonly client: Client;
  private closed = false;
  private bound = false;
  /** Where the rtpengine behind this controller writes recordings (set by whoever configured it). */
  recordingDir: string | undefined;

  constructor(
    private readonly address: RtpEngineAddress,
    private readonly logger: Logger,
    timeoutMs = 3000,
  ) {
    this.client = new Client({ timeout: timeoutMs, rejectOnError: true });
    // A late reply to a timed-out command is emitted as 'error'; without a listener it would crash the node.
    this.client.on('error', (err: unknown) => this.logger.warn({ err }, 'rtpengine client: stray message'));
    this.client.socket.once('listening', () => {
      this.bound = true;
      this.client.socket.setRecvBufferSize(NG_RECEIVE_BUFFER_BYTES);
      // Linux reports twice what it granted (its bookkeeping share): a small figure means rmem_max is low.
      this.logger.info({ receiveBufferBytes: this.receiveBufferBytes }, 'rtpengine ng socket ready');
    });
  }

  /** The ng socket's receive buffer as the kernel reports it; undefined until the socket is bound. */
  get receiveBufferBytes(): number | undefined {
    return this.bound && !this.closed ? this.client.socket.getRecvBufferSize() : undefined;
  }

  private async send(command: Command, params: NgParams = {}): Promise<NgReply> {
    if (this.closed) throw new RtpEngineError(command, 'controller closed');
    let reply: NgReply;
    try {
      reply = await (this.client[command] as (d: RtpEngineAddress, p: NgParams) => Promise<NgReply>).call(
        this.client,
        this.address,
        params,
      );
    } catch (err) {
      throw new RtpEngineError(command, err instanceof Error ? err.message : String(err));
    }
    if (reply.result !== 'ok' && reply.result !== 'pong') {
      throw new RtpEngineError(command, String(reply['error-reason'] ?? reply.result));
    }
    return reply;
  }

  async ping(): Promise<boolean> {
    const reply = await this.send('ping');
    return reply.result === 'pong';
  }

  /**
   * For the node's metrics: whether rtpengine answers, and its RTP ports in use summed over its interfaces
   * (`statistics` → `statistics.interfaces[].ports.used`; absent when this rtpengine does not report them).
   * Never rejects.
   */
  async status(): Promise<{ up: boolean; portsInUse?: number }> {
    let stats: NgReply;
    try {
      stats = await this.statistics();
    } catch (err) {
      this.logger.debug({ err }, 'rtpengine statistics failed; pinging instead');
      return { up: await this.ping().catch((pingErr: unknown) => this.pingFailed(pingErr)) };
    }
    const portsInUse = portsUsed(stats);
    return portsInUse === undefined ? { up: true } : { up: true, portsInUse };
  }

  /** rtpengine's `statistics` reply as it is (several KiB: totals, per-interface ports, control counters). */
  statistics(): Promise<NgReply> {
    return this.send('statistics');
  }

  private pingFailed(err: unknown): false {
    this.logger.debug({ err }, 'rtpengine ping failed');
    return false;
  }

  async offer(params: SdpParams): Promise<{ sdp: string }> {
    const reply = await this.send('offer', params);
    return { sdp: String(reply.sdp) };
  }

  async answer(params: SdpParams & { 'to-tag': string }): Promise<{ sdp: string }> {
    const reply = await this.send('answer', params);
    return { sdp: String(reply.sdp) };
  }

  async delete(params: CallKeys & NgParams): Promise<void> {
    await this.send('delete', params);
  }

  /** The call's state and per-party statistics, as rtpengine reports them. */
  async query(params: CallKeys): Promise<NgReply> {
    return this.send('query', params);
  }

  /**
   * Plays a file (any format ffmpeg reads) to the party whose tag is `from-tag`; resolves with the
   * duration rtpengine reports.
   */
  async playMedia(params: CallKeys & { 'from-tag': string; file: string } & NgParams): Promise<{ durationMs: number }> {
    const reply = await this.send('playMedia', params);
    return { durationMs: Number(reply.duration ?? 0) };
  }

  async stopMedia(params: CallKeys & { 'from-tag': string }): Promise<void> {
    await this.send('stopMedia', params);
  }

  /**
   * Sends a digit as RFC 4733 events *from* the party `from-tag` (the other party hears it). rtpengine
   * only sends anything if offer and answer carried the `inject DTMF` flag.
   */
  async playDtmf(
    params: CallKeys & { 'from-tag': string; code: string; duration?: number; volume?: number },
  ): Promise<void> {
    await this.send('playDTMF', params);
  }

  /** With `--recording-method=pcap`, each start writes a new `<call-id>-<random>.pcap` under `recordingDir`/pcaps. */
  async startRecording(params: CallKeys): Promise<void> {
    await this.send('startRecording', params);
  }

  /** Closes the current recording file (it is complete once this resolves). */
  async stopRecording(params: CallKeys): Promise<void> {
    await this.send('stopRecording', params);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.client.socket.close();
    } catch (err) {
      // Already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to release.
      this.logger.debug({ err }, 'rtpengine client socket already closed');
    }
  }
}

/**
 * The RTP ports in use over every interface of a `statistics` reply (rtpengine 10.5:
 * `statistics.interfaces[].ports.used`), if it reports any.
 */
export function portsUsed(stats: NgReply): number | undefined {
  const interfaces = (stats as { statistics?: { interfaces?: unknown } }).statistics?.interfaces;
  if (!Array.isArray(interfaces)) return undefined;
  let used: number | undefined;
  for (const i of interfaces) {
    const n = (i as { ports?: { used?: unknown } } | null)?.ports?.used;
    if (typeof n === 'number' && Number.isFinite(n)) used = (used ?? 0) + n;
  }
  return used;
}
