import type { Logger } from '@sipms/shared/util/logger';
import { Client, type NgParams, type NgReply } from 'rtpengine-client';

/** Every failed ng command rejects with this: the command, and rtpengine's reason or the transport error. */
export class RtpEngineError extends Error {
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`rtpengine ${command} failed: ${reason}`);
    this.name = 'RtpEngineError';
  }
}

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
  | 'stopRecording';

/**
 * Typed control of one rtpengine over the ng protocol (UDP). Wraps rtpengine-client so that every
 * error — an `error` result, a timeout, a socket error — is a typed rejection.
 */
export class RtpEngineController {
  private readonly client: Client;
  private closed = false;

  constructor(
    private readonly address: RtpEngineAddress,
    private readonly logger: Logger,
    timeoutMs = 3000,
  ) {
    this.client = new Client({ timeout: timeoutMs, rejectOnError: true });
    // A late reply to a timed-out command is emitted as 'error'; without a listener it would crash the node.
    this.client.on('error', (err: unknown) =>
      this.logger.warn({ err: String(err) }, 'rtpengine client: stray message'),
    );
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

  async offer(params: NgParams): Promise<{ sdp: string }> {
    const reply = await this.send('offer', params);
    return { sdp: String(reply.sdp) };
  }

  async answer(params: NgParams): Promise<{ sdp: string }> {
    const reply = await this.send('answer', params);
    return { sdp: String(reply.sdp) };
  }

  async delete(params: NgParams): Promise<void> {
    await this.send('delete', params);
  }

  async query(params: NgParams): Promise<NgReply> {
    return this.send('query', params);
  }

  /** Plays a file to the party whose tag is `from-tag`; resolves with the duration rtpengine reports. */
  async playMedia(params: NgParams): Promise<{ durationMs: number }> {
    const reply = await this.send('playMedia', params);
    return { durationMs: Number(reply.duration ?? 0) };
  }

  async stopMedia(params: NgParams): Promise<void> {
    await this.send('stopMedia', params);
  }

  async playDtmf(params: NgParams): Promise<void> {
    await this.send('playDTMF', params);
  }

  async startRecording(params: NgParams): Promise<void> {
    await this.send('startRecording', params);
  }

  async stopRecording(params: NgParams): Promise<void> {
    await this.send('stopRecording', params);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.client.socket.close();
    } catch {
      // already closed
    }
  }
}
