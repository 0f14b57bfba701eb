import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '@sipms/shared/util/logger';
import type { DtmfFromMedia, MediaLeg, MediaPort } from '../ports/media.js';
import type { DtmfLogListener } from './dtmf-log-listener.js';
import type { RtpEngineController } from './rtpengine-controller.js';
import { sinkAnswer } from './sdp.js';

const COMMON_FLAGS = {
  replace: ['origin', 'session-connection'],
  ICE: 'remove',
  // Port latching keeps the caller-facing port when the leg is later re-answered towards a callee (bridging).
  flags: ['port latching'],
};

/**
 * The MediaPort on rtpengine. The IVR side of every leg is answered with an SDP that points at one UDP
 * sink socket of this node, which discards what it receives: rtpengine plays prompts and reports DTMF,
 * the node never handles RTP itself.
 */
export class RtpEngineMedia implements MediaPort {
  private sink: Socket | undefined;
  private sinkAddress = { host: '127.0.0.1', port: 0 };
  private readonly legs = new Set<RtpEngineLeg>();

  constructor(
    private readonly control: RtpEngineController,
    private readonly dtmf: DtmfLogListener,
    private readonly logger: Logger,
  ) {}

  async start(sinkHost: string): Promise<void> {
    const sink = createSocket('udp4');
    sink.on('message', () => {});
    sink.on('error', (err) => this.logger.error({ err }, 'media sink socket error'));
    await new Promise<void>((resolve) => sink.bind(0, sinkHost, () => resolve()));
    this.sink = sink;
    this.sinkAddress = { host: sinkHost, port: sink.address().port };
  }

  async openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg> {
    const res = await this.control.offer({
      'call-id': input.callId,
      'from-tag': input.callerTag,
      sdp: input.offerSdp,
      ...COMMON_FLAGS,
    });
    const leg = new RtpEngineLeg(this.control, this.dtmf, input, res.sdp, this.sinkAddress, this.logger, (l) =>
      this.legs.delete(l),
    );
    this.legs.add(leg);
    return leg;
  }

  /** rtpengine died: every leg it carried has lost its media. */
  failAll(reason: string): void {
    for (const leg of [...this.legs]) leg.fail(reason);
  }

  close(): void {
    this.sink?.close();
    this.sink = undefined;
  }
}

class RtpEngineLeg implements MediaLeg {
  private closed = false;
  private readonly failureListeners: ((reason: string) => void)[] = [];

  constructor(
    private readonly control: RtpEngineController,
    private readonly dtmf: DtmfLogListener,
    private readonly ids: { callId: string; callerTag: string; ivrTag: string },
    readonly offerTowardsPeer: string,
    private readonly sink: { host: string; port: number },
    private readonly logger: Logger,
    private readonly onClosed: (leg: RtpEngineLeg) => void,
  ) {}

  private get callerKeys() {
    return { 'call-id': this.ids.callId, 'from-tag': this.ids.callerTag };
  }

  async connectIvr(): Promise<string> {
    const answer = sinkAnswer(this.offerTowardsPeer, this.sink.host, this.sink.port);
    if (!answer) throw new Error('the offer has no usable audio stream');
    const res = await this.control.answer({
      ...this.callerKeys,
      'to-tag': this.ids.ivrTag,
      sdp: answer,
      ...COMMON_FLAGS,
    });
    return res.sdp;
  }

  play(file: string): Promise<{ durationMs: number }> {
    return this.control.playMedia({ ...this.callerKeys, file });
  }

  async stopPlayback(): Promise<void> {
    await this.control.stopMedia(this.callerKeys).catch((err) => {
      // Nothing playing is not an error for us.
      this.logger.debug({ err }, 'stop media');
    });
  }

  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void {
    return this.dtmf.subscribe(this.ids.callId, this.ids.callerTag, (e) =>
      listener({ digit: e.digit, durationMs: e.durationMs, via: 'rfc4733' }),
    );
  }

  async reoffer(sdp: string): Promise<string> {
    const towardsSink = await this.control.offer({
      ...this.callerKeys,
      'to-tag': this.ids.ivrTag,
      sdp,
      ...COMMON_FLAGS,
    });
    const answer = sinkAnswer(towardsSink.sdp, this.sink.host, this.sink.port);
    if (!answer) throw new Error('the re-offer has no usable audio stream');
    const res = await this.control.answer({
      ...this.callerKeys,
      'to-tag': this.ids.ivrTag,
      sdp: answer,
      ...COMMON_FLAGS,
    });
    return res.sdp;
  }

  onFailure(listener: (reason: string) => void): void {
    this.failureListeners.push(listener);
  }

  fail(reason: string): void {
    for (const l of this.failureListeners) l(reason);
    this.closed = true;
    this.onClosed(this);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(this);
    await this.control
      .delete({ 'call-id': this.ids.callId })
      .catch((err) => this.logger.warn({ err }, 'rtpengine delete failed'));
  }
}
