import type { SipmsClient } from '../client/client.js';
import type { SessionDetail } from '../generated/wire.js';
import type { Deployment } from './deployment.js';
import type { CallbackRecorder, RecordedCallback } from './recorder.js';

/** Where the call goes: the tenant's number on the deployment. */
export interface CallTarget {
  /** `sip:<number>@<sipHost>:<sipPort>` */
  uri: string;
  number: string;
  sipHost: string;
  sipPort: number;
}

/**
 * Places one call and returns when the caller is done: a SIP caller the test supplies (the CLI caller's
 * `placeCall`, SIPp, a softphone). Its result is handed back untouched.
 */
export type PlaceCall<R> = (target: CallTarget) => Promise<R>;

export interface CallResult<R> {
  /** What `placeCall` returned. */
  caller: R;
  sessionId: string;
  /** The callbacks the app received for this session, in order. */
  callbacks: RecordedCallback[];
  /** The session as the API shows it once completed: participants and the journal. */
  session: SessionDetail;
}

/**
 * Calls `number` with `placeCall` and collects what it produced: the session's callbacks as the recorder received
 * them (up to sessionCompleted) and the session's journal from the API. The recorder must be the tenant's
 * callback URL, and the number one the tenant claimed.
 */
export async function callAndRecord<R>(options: {
  deployment: Deployment;
  client: SipmsClient;
  recorder: CallbackRecorder;
  number: string;
  placeCall: PlaceCall<R>;
  timeoutMs?: number;
}): Promise<CallResult<R>> {
  const { deployment, recorder, number } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const since = Date.now();
  const isOurs = (cb: RecordedCallback) =>
    cb.at >= since && (cb.body.to as { user?: unknown } | undefined)?.user === number;
  const newCall = recorder.waitFor('newCall', isOurs, timeoutMs);
  const caller = await options.placeCall({
    uri: `sip:${number}@${deployment.sipHost}:${deployment.sipPort}`,
    number,
    sipHost: deployment.sipHost,
    sipPort: deployment.sipPort,
  });
  const { sessionId } = (await newCall).body;
  await recorder.waitFor('sessionCompleted', (cb) => cb.body.sessionId === sessionId, timeoutMs);
  // The journal entry of sessionCompleted is written once its delivery is done: wait for it too.
  const until = Date.now() + timeoutMs;
  let session = await options.client.sessions.get(sessionId);
  while (!session.journal.some((e) => e.kind === 'callback' && e.callback === 'sessionCompleted')) {
    if (Date.now() > until)
      throw new Error(`session ${sessionId}: sessionCompleted not journaled within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
    session = await options.client.sessions.get(sessionId);
  }
  return { caller, sessionId, callbacks: recorder.ofSession(sessionId), session };
}
