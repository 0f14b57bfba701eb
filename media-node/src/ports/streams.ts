import type { StreamResult } from '@sipms/shared/contracts/callbacks';
import type { StreamSpec } from '@sipms/shared/contracts/ivr-command';
import type { AudioTap } from './media.js';

/** One `stream` command's run, as the IVR core hands it over (the socket and the bot are the adapter's). */
export interface StreamRun {
  tap: AudioTap;
  /** The caller's key presses during the stream (they go to the bot as `dtmf`). */
  onDigit(listener: (digit: string) => void): () => void;
  /** Aborted when the node ends the stream: hang-up, interrupt, or the command's digit collection completed. */
  signal: AbortSignal;
  /** `dtmf` when the signal was aborted because the digit collection completed. */
  abortReason(): 'dtmf' | undefined;
  ids: { tenantId: string; sessionId: string; participantId: string };
  /** The tenant's signing secrets (the handshake is signed). */
  secrets: readonly string[];
  journal(entry: Record<string, unknown>): void;
}

/** Audio streams to tenants' bots over WebSocket (docs/streams.md). */
export interface StreamPort {
  /** Runs the stream to its end; never throws (a failure is a `failed` result with its error). */
  run(spec: StreamSpec, run: StreamRun): Promise<StreamResult>;
}
