/** The call flow's port to the media plane (rtpengine on the node). */

export interface DtmfFromMedia {
  digit: string;
  durationMs: number;
  via: 'rfc4733';
}

export interface MediaLeg {
  /** rtpengine's rewrite of the caller's offer, towards whoever answers it (the IVR sink or a callee). */
  readonly offerTowardsPeer: string;
  /** Terminates the leg in the node's IVR sink; returns the SDP answer for the caller. */
  connectIvr(): Promise<string>;
  /** Starts playing an audio file to the caller; resolves when playback has started, with its length. */
  play(file: string): Promise<{ durationMs: number }>;
  /** Stops any playback to the caller (barge-in). */
  stopPlayback(): Promise<void>;
  /** RFC 4733 digits the caller sends; returns an unsubscribe function. */
  onDtmf(listener: (dtmf: DtmfFromMedia) => void): () => void;
  /** A re-INVITE's offer from the caller; returns the SDP answer. */
  reoffer(sdp: string): Promise<string>;
  /** Fires if the media engine carrying this leg failed (e.g. rtpengine died). */
  onFailure(listener: (reason: string) => void): void;
  /** Releases the media (rtpengine delete). Idempotent. */
  close(): Promise<void>;
}

export interface MediaPort {
  /** Offers the caller's SDP to the media engine. `callId`/`callerTag` are the SIP Call-ID and From tag. */
  openLeg(input: { callId: string; callerTag: string; ivrTag: string; offerSdp: string }): Promise<MediaLeg>;
}
