import type { ConferenceResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceAdmitPayload } from '@sipms/shared/contracts/node-commands';
import type { Logger } from '@sipms/shared/util/logger';
import type { ConferenceRun } from '../ports/conferences.js';
import type { AudioTap, TapCodec } from '../ports/media.js';
import type { ConferenceRelay, RelayLeg } from './conference-relay.js';
import { encodeAudio, encodeControl, type RelayPacket } from './relay-packet.js';

/** A leg from which nothing (audio or keepalive) arrived for this long is gone: its participant leaves. */
export const LEG_SILENCE_MS = 5000;
/** Control messages are sent this many times (UDP): the receiver keeps the first copy of each. */
export const CONTROL_COPIES = 3;

/**
 * A participant whose call is on another node, as the host sees it (docs/conferences.md, "Across nodes"): a
 * ConferenceRun like a local participant's, whose audio tap is the relay leg (the participant's node sends the
 * caller's packets, the host sends back this participant's mix) and whose journal entries, callNotify events
 * and result go to the participant's node as control messages. The room does not know the difference.
 */
export class RemoteParticipant implements RelayLeg {
  readonly peer: { host: string; port: number };
  readonly run: ConferenceRun;
  private readonly interrupt = new AbortController();
  private readonly hungUp = new AbortController();
  private codec: TapCodec;
  private listener:
    | ((payload: Uint8Array, codec: TapCodec, rtp: { seq: number; timestamp: number }) => void)
    | undefined;
  private seq = 0;
  private timestamp = 0;
  private controlSeq = 0;
  private lastHeard = Date.now();
  private watch: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly relay: ConferenceRelay,
    private readonly admit: ConferenceAdmitPayload & { tenantId: string },
    private readonly logger: Logger,
    private readonly silenceMs = LEG_SILENCE_MS,
  ) {
    this.peer = admit.relay;
    this.codec = admit.codec;
    const codecOf = () => this.codec;
    const tap: AudioTap = {
      get codec() {
        return codecOf();
      },
      onAudio: (listener) => {
        this.listener = listener;
        return () => {
          if (this.listener === listener) this.listener = undefined;
        };
      },
      send: (frame) => this.sendAudio(frame),
      close: () => undefined,
    };
    this.run = {
      openTap: () => tap,
      signal: this.interrupt.signal,
      callEnded: this.hungUp.signal,
      ids: { tenantId: admit.tenantId, sessionId: admit.sessionId, participantId: admit.participantId },
      nodeId: admit.nodeId,
      journal: (entry) => this.control({ journal: entry }),
      notify: (event, fields) => this.control({ notify: event, fields }),
    };
  }

  /** Once admitted on the relay: a leg that goes silent is removed. */
  start(): void {
    this.lastHeard = Date.now();
    this.watch = setInterval(
      () => {
        if (Date.now() - this.lastHeard <= this.silenceMs) return;
        const { participantId, nodeId } = this.admit;
        this.logger.info({ participantId, node: nodeId }, 'conference leg silent: removed');
        this.leave('hangup');
      },
      Math.min(1000, this.silenceMs),
    );
    this.watch.unref();
  }

  get token(): string {
    return this.admit.token;
  }

  onPacket(packet: RelayPacket): void {
    this.lastHeard = Date.now();
    if (packet.kind === 'audio') {
      this.codec = packet.codec;
      this.listener?.(packet.payload, packet.codec, { seq: packet.seq, timestamp: packet.timestamp });
      return;
    }
    const leave = packet.message.leave;
    if (leave === 'hangup' || leave === 'interrupted') this.leave(leave);
  }

  /** The participant's node said it left (or its leg went silent): the room sees an interrupt or a hang-up. */
  private leave(how: 'hangup' | 'interrupted'): void {
    if (how === 'hangup') this.hungUp.abort();
    this.interrupt.abort();
  }

  /** The participant left the room: its node gets the result (or `gone`: the conference ended before). */
  finish(result: ConferenceResult | undefined): void {
    if (this.closed) return;
    this.control(result ? { result } : { refused: 'gone' });
    this.closed = true;
    clearInterval(this.watch);
    this.relay.legs.remove(this.token, this);
  }

  private sendAudio(frame: Uint8Array): void {
    if (this.closed) return;
    this.relay.send(this.peer, encodeAudio(this.token, this.seq, this.timestamp, this.codec, frame));
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + frame.length) >>> 0;
  }

  private control(message: Record<string, unknown>): void {
    if (this.closed) return;
    let packet: Buffer;
    try {
      packet = encodeControl(this.token, this.controlSeq, message);
    } catch (err) {
      this.logger.warn({ err, participantId: this.admit.participantId }, 'conference control message not sent');
      return;
    }
    this.controlSeq = (this.controlSeq + 1) & 0xffff;
    for (let i = 0; i < CONTROL_COPIES; i++) this.relay.send(this.peer, packet);
  }
}
