/** The library's public shapes: what a call is asked to do, and what came of it. */

export interface CallOptions {
  /** A number or user part (`+4930123456`, `ivr-test`) or a SIP URI (`sip:+4930123@acme.sip.example.com`). */
  target: string;
  /** SIP address of the deployment, `host[:port]` (default 127.0.0.1:5060). Every request goes there. */
  server?: string;
  transport?: 'udp' | 'tcp';
  /** From: a SIP URI or a user name (default `sip:sipms-cli@<local address>`). */
  from?: string;
  /** Digits sent as RFC 4733 events, each group at `atMs` after the answer. */
  dtmf?: { atMs: number; digits: string }[];
  /** A WAV file sent to the far end from the answer on (as PCMU, converted to 8 kHz mono). */
  playWav?: string;
  /** Where to write what the caller hears (8 kHz mono 16-bit WAV). */
  recordWav?: string;
  /** Hang up this long after the answer unless the far end does first (default 30 s). */
  hangupAfterMs?: number;
  /** Give up (CANCEL) when no final response comes within this time (default 30 s). */
  ringTimeoutMs?: number;
  /** The control-plane API: the call's journal is looked up there by its SIP Call-ID. */
  api?: { url: string; apiKey: string };
  /** How long the journal lookup may take (it is written asynchronously; default 10 s). */
  journalTimeoutMs?: number;
  /** Aborting hangs up (or CANCELs a call still ringing); the result says `endedBy: 'caller'`. */
  signal?: AbortSignal;
}

/** One entry of the session's journal, as a line of the timeline. */
export interface TimelineEntry {
  /** Milliseconds from the session's creation. */
  offsetMs: number;
  /** ISO time of the entry. */
  at: string;
  /** The journal entry's kind: `callback`, `sip`, `command`, `media`, `error`. */
  kind: string;
  /** The callback name (`newCall`, `getIvrCommand`, …) or what the entry says happened. */
  name: string;
  /** Callbacks: the webhook's HTTP status, or `fallback` when the defined fallback ran. */
  status?: number | 'fallback';
  latencyMs?: number;
  /** Callbacks: webhook attempts made. */
  attempts?: number;
  /**
   * The fields that matter for reading the call: `action` (newCall, callEvent replies), `command` (the IVR
   * command's parts, e.g. `phrases+dtmf`), `digits`/`dtmfReason` (collected digits a getIvrCommand reports),
   * `recording`, `event`, `reason`, `duration`.
   */
  fields: Record<string, string>;
}

export interface CallResult {
  sipCallId: string;
  answered: boolean;
  /** The final response: 200 when answered; 408 when none came in time; 503 when the server was unreachable. */
  sipStatus: number;
  endedBy: 'caller' | 'remote' | 'timeout' | 'error';
  /** From the answer to the end of the call (0 when not answered). */
  durationMs: number;
  sessionId?: string;
  timeline?: TimelineEntry[];
  heard?: { rmsDbfs: number; seconds: number; audibleSeconds: number };
  /** The final response's reason phrase, or what went wrong. */
  reason: string;
  startedAt: string;
  answeredAt?: string;
  endedAt: string;
  /** INVITE sent → final response, ms. */
  setupMs?: number;
  /** Where the call went: the Request-URI and the server's address. */
  requestUri: string;
  server: string;
  transport: 'udp' | 'tcp';
  /** Each digit as sent, at ms after the answer. */
  dtmfSent: { digit: string; atMs: number }[];
  /** The recording written (recordWav), if any. */
  recordedWav?: string;
  /** SIP messages of the call as they crossed the wire (retransmissions included). */
  sip: { atMs: number; direction: 'out' | 'in'; firstLine: string }[];
  /** What did not work out but did not fail the call (digits that could not be sent, …). */
  warnings: string[];
  /** Set when the journal was asked for and could not be read; the CLI exits non-zero. */
  journalError?: string;
}
