/** The call flow's port to the media plane (rtpengine on the node). */

/**
 * The media engine has no room for another call (no free ports): a capacity limit of this node, not a
 * problem of the caller's offer, so the caller gets 503 with Retry-After instead of 488.
 */
export class MediaCapacityError extends Error {
  override name = 'MediaCapacityError';
}

export interface DtmfFromMedia {
  digit: string;
  durationMs: number;
  via: 'rfc4733';
}

/** G.711 at 8 kHz: what the caller's audio reaches the node in (the IVR sink's codec). */
export type TapCodec = 'pcmu' | 'pcma';

/**
 * The caller's audio at the node, packet by packet, and a way back to the caller: what streams (and
 * conferences) work on. rtpengine stays the media edge (the caller's codec, jitter, NAT); the node sees RTP
 * at its IVR sink only.
 */
export interface AudioTap {
  /** The codec the node sends in: the one the caller's audio last arrived in (the negotiated one before that). */
  readonly codec: TapCodec;
  /** Each audio packet from the caller, as it arrives (digits and comfort noise excluded). */
  onAudio(
    listener: (payload: Uint8Array, codec: TapCodec, rtp: { seq: number; timestamp: number }) => void,
  ): () => void;
  /** Sends one 20 ms frame (160 bytes of `codec`) to the caller as the next RTP packet. */
  send(frame: Uint8Array): void;
  /** Stops listening and sending; idempotent. */
  close(): void;
}

/** How a leg's media was lost (the session's end reason names it). */
export type MediaFailureKind = 'mediaFailed' | 'mediaTimeout';

export interface MediaLeg {
  /** rtpengine's rewrite of the caller's offer, towards whoever answers it (the IVR sink or a callee). */
  readonly offerTowardsPeer: string;
  /** Terminates the leg in the node's IVR sink; returns the SDP answer for the caller. */
  connectIvr(): Promise<string>;
  /**
   * Connects the caller to another party (a callee's SDP answer to `offerTowardsPeer`) instead of the IVR
   * sink; returns the SDP answer for the caller. The caller-facing port stays the same, so a caller
   * already answered needs no re-INVITE to move between the IVR and a callee.
   */
  connectPeer(peerSdp: string): Promise<string>;
  /** The SDP of this leg's IVR side, as another leg needs it to send its party's audio here. */
  readonly sinkSide: string;
  /**
   * Connects this leg's party to another leg's party (its `sinkSide`), or back to the node's IVR sink
   * (`undefined`). Used by /connect and /splitconnection; both legs are pointed at each other.
   */
  connectTo(otherSinkSide: string | undefined): Promise<void>;
  /** Starts playing an audio file to the caller; resolves when playback has started, with its length. */
  play(file: string): Promise<{ durationMs: number }>;
  /** Stops any playback to the caller (barge-in). */
  stopPlayback(): Promise<void>;
  /**
   * RFC 4733 digits the caller sends, each once; digits the node itself sends towards the caller never
   * count. Returns an unsubscribe function.
   */
  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void;
  /** A re-INVITE's offer from the caller; returns the SDP answer. */
  reoffer(sdp: string): Promise<string>;
  /**
   * Starts recording what the caller sends (one recording at a time per leg). Rejects with the media
   * engine's reason if it cannot record.
   */
  startRecording(): Promise<void>;
  /** Stops the recording; resolves with a WAV file of the caller's audio (the caller of this owns it). */
  stopRecording(): Promise<{ file: string; durationMs: number }>;
  /**
   * The level (RMS, 0 to 1) of each packet of the caller's audio as it arrives, for silence detection;
   * returns an unsubscribe function. Codecs the node cannot decode report 1 (treated as speech).
   */
  onCallerAudio(listener: (level: number) => void): () => void;
  /**
   * The caller's audio and a way to send audio to the caller, while the leg is at the IVR sink (not while it
   * is connected to another party). Throws when it is not, or when the caller's codec is not G.711.
   */
  openAudioTap(): AudioTap;
  /** Loops the caller's audio back to the caller until stopEcho. */
  startEcho(): Promise<void>;
  stopEcho(): Promise<void>;
  /**
   * Fires once if this leg's media is lost: `mediaFailed` when the media engine carrying it failed (e.g.
   * rtpengine died; the leg is closed), `mediaTimeout` when the caller has sent no RTP or RTCP for
   * MEDIA_TIMEOUT_SEC while not on hold (the leg stays open until close()). A timeout is only reported
   * while someone listens. Returns an unsubscribe function.
   */
  onFailure(listener: (reason: string, kind: MediaFailureKind) => void): () => void;
  /** Releases the media (rtpengine delete). Idempotent. */
  close(): Promise<void>;
}

/**
 * A leg the node calls out on: the media engine makes the offer (from the node's IVR side) and the callee's
 * answer completes it. `offerTowardsPeer` is the SDP for the outbound INVITE; the "caller" of MediaLeg's
 * methods (who hears prompts, whose digits count) is the called party.
 */
export interface OutboundMediaLeg extends MediaLeg {
  /** The callee's SDP answer (from 200 OK, or a 183's early media). */
  accept(answerSdp: string): Promise<void>;
}

export interface MediaPort {
  /** Offers the caller's SDP to the media engine. `callId`/`callerTag` are the SIP Call-ID and From tag. */
  openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg>;
  /** Creates the media for an outbound call; `legId` names it (unique on this node). */
  openOutboundLeg(input: { legId: string }): Promise<OutboundMediaLeg>;
}
