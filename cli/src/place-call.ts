/**
 * One call from start to end: our own SIP stack (the media node's built-in RFC 3261 user agent) as the
 * caller, our RTP endpoint for the media, and afterwards the call's journal from the API.
 */

import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { access, constants, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pcmToWav } from '@sipms/media-node/media/pcap';
import type { DialogEndReason, OutboundDialog } from '@sipms/media-node/ports/signaling';
import { SignalingError } from '@sipms/media-node/ports/signaling';
import { BuiltinSignaling } from '@sipms/media-node/sip/builtin/builtin-signaling';
import { parseMessage } from '@sipms/media-node/sip/builtin/parser';
import type { CapturedMessage } from '@sipms/media-node/sip/builtin/transport';
import { formatHostPort } from '@sipms/media-node/sip/builtin/uri';
import { type CallPlan, planCall } from './call-plan.js';
import { CallerMedia, type HeardAudio } from './caller-media.js';
import { CallOptionsError, JournalError } from './errors.js';
import { readCallJournal, timelineOf } from './journal.js';
import type { CallOptions, CallResult } from './types.js';
import { readWavAs8kMono } from './wav-file.js';

export const PRODUCT = 'sipms-cli/0.1.0';

/**
 * Places the call and resolves when it is over (and, with `api`, its journal read). Rejects with a
 * CallOptionsError for options that cannot be used (nothing was sent then); every outcome of the call
 * itself — rejected, unanswered, unreachable — resolves, with `answered`, `sipStatus` and `endedBy` saying which.
 */
export async function placeCall(opts: CallOptions): Promise<CallResult> {
  const plan = planCall(opts);
  const audio = plan.playWav === undefined ? undefined : await readWavAs8kMono(plan.playWav);
  if (plan.recordWav !== undefined) await checkWritable(plan.recordWav);
  const serverAddress = await resolveServer(plan.server.host);
  const local = await localAddressTowards(serverAddress, plan.server.port);
  const fromUri = plan.from.uri ?? `sip:${plan.from.user}@${formatHostPort(local)}`;
  const startedAt = new Date();
  const t0 = performance.now();
  const sip: CallResult['sip'] = [];
  let sipCallId = '';
  const capture = (m: CapturedMessage): void => {
    const line = firstLine(m.bytes);
    sip.push({ atMs: Math.round(performance.now() - t0), direction: m.direction, firstLine: line.text });
    if (!sipCallId && m.direction === 'out' && line.callId && /^INVITE /.test(line.text)) sipCallId = line.callId;
  };

  const media = await CallerMedia.open(local, audio);
  const stack = new BuiltinSignaling({
    bindHost: local,
    port: 0,
    transports: plan.transport === 'tcp' ? ['udp', 'tcp'] : ['udp'],
    advertisedHost: local,
    productName: PRODUCT,
    capture,
  });
  let heard: HeardAudio | undefined;
  let outcome: Outcome;
  try {
    // A caller takes no calls.
    await stack.start((call) => call.reject(603, 'Decline'));
    const serverResponded = () => sip.some((m) => m.direction === 'in');
    outcome = await runCall(plan, stack, media, { fromUri, serverAddress, serverResponded }, opts.signal, t0);
  } finally {
    heard = await media.stop();
    await stack.stop();
  }
  const result: CallResult = {
    ...outcome,
    sipCallId,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    dtmfSent: media.dtmfSent,
    sip,
    warnings: [...media.warnings],
  };
  if (outcome.answered) {
    result.heard = { rmsDbfs: heard.rmsDbfs, seconds: heard.seconds, audibleSeconds: heard.audibleSeconds };
  }
  if (plan.recordWav !== undefined) {
    await writeFile(plan.recordWav, pcmToWav(heard.pcm));
    result.recordedWav = plan.recordWav;
  }
  const asked = plan.dtmf.reduce((n, g) => n + g.digits.length, 0);
  if (outcome.answered && result.dtmfSent.length < asked && media.warnings.length === 0) {
    result.warnings.push(`${asked - result.dtmfSent.length} of ${asked} digits were not sent before the call ended`);
  }
  // Interrupted (Ctrl-C): the call was hung up properly; whoever interrupted does not want to wait for its journal.
  if (plan.api && sipCallId && !opts.signal?.aborted) await addJournal(result, plan, startedAt, opts.signal);
  return result;
}

type Outcome = Omit<CallResult, 'sip' | 'sipCallId' | 'warnings' | 'dtmfSent' | 'startedAt' | 'endedAt'>;

async function runCall(
  plan: CallPlan,
  stack: BuiltinSignaling,
  media: CallerMedia,
  call: { fromUri: string; serverAddress: string; serverResponded: () => boolean },
  signal: AbortSignal | undefined,
  t0: number,
): Promise<Outcome> {
  const base = {
    requestUri: plan.requestUri,
    server: formatHostPort(plan.server.host, plan.server.port),
    transport: plan.transport,
  };
  let dialog: OutboundDialog;
  try {
    dialog = await stack.placeCall({
      target: plan.requestUri,
      from: { uri: call.fromUri },
      sdp: media.offer(),
      outboundProxy: formatHostPort(call.serverAddress, plan.server.port),
      transport: plan.transport,
      ringTimeoutMs: plan.ringTimeoutMs,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (!(err instanceof SignalingError)) throw err;
    if (err.code === 'invalid-input') throw new CallOptionsError('target', err.message);
    const outcome = failure(err);
    if (err.code === 'no-answer' && !call.serverResponded()) {
      outcome.reason = `no response from ${base.server} within ${plan.ringTimeoutMs / 1000} s (is a SIP server there? --server)`;
    }
    return { ...base, ...outcome, durationMs: 0, setupMs: Math.round(performance.now() - t0), answered: false };
  }
  const setupMs = Math.round(performance.now() - t0);
  const answeredAt = new Date();
  const answeredT = performance.now();
  dialog.onReoffer(async (sdp) => media.reoffer(sdp));
  media.start(dialog.remoteSdp, plan.dtmf);
  const endedBy = await untilEnd(dialog, plan.hangupAfterMs, signal);
  return {
    ...base,
    answered: true,
    sipStatus: 200,
    endedBy: endedBy.by,
    reason: endedBy.reason,
    durationMs: Math.round(performance.now() - answeredT),
    answeredAt: answeredAt.toISOString(),
    setupMs,
  };
}

/** Waits for the far end's BYE, the hang-up time, or the abort, and hangs up in the latter two cases. */
async function untilEnd(
  dialog: OutboundDialog,
  hangupAfterMs: number,
  signal: AbortSignal | undefined,
): Promise<{ by: CallResult['endedBy']; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const local = new Promise<'hangup-after' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('hangup-after'), hangupAfterMs);
    onAbort = () => resolve('aborted');
    if (signal?.aborted) resolve('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const first = await Promise.race([dialog.ended, local]);
    if (first === 'hangup-after' || first === 'aborted') {
      await dialog.hangup();
      const why = first === 'aborted' ? 'aborted' : `hung up after ${hangupAfterMs / 1000} s`;
      return { by: 'caller', reason: why };
    }
    return endOf(first);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

function endOf(reason: DialogEndReason): { by: CallResult['endedBy']; reason: string } {
  switch (reason) {
    case 'remote-bye':
      return { by: 'remote', reason: 'the far end hung up (BYE)' };
    case 'local-bye':
    case 'shutdown':
      return { by: 'caller', reason: 'hung up' };
    case 'session-expired':
      return { by: 'error', reason: 'the session timer expired (RFC 4028): no refresh' };
    case 'ack-timeout':
      return { by: 'error', reason: 'the dialog failed (ACK timeout)' };
    case 'transport-error':
      return { by: 'error', reason: 'the far end became unreachable' };
  }
}

/** RFC 3261 §8.1.3.1: no response is a 408, a transport failure a 503. */
function failure(err: SignalingError): Pick<CallResult, 'sipStatus' | 'endedBy' | 'reason'> {
  switch (err.code) {
    case 'rejected': {
      const m = /answered (\d{3}) (.*)$/.exec(err.message);
      return { sipStatus: err.status ?? 500, endedBy: 'remote', reason: m ? `${m[1]} ${m[2]}` : err.message };
    }
    case 'no-answer':
      return { sipStatus: 408, endedBy: 'timeout', reason: err.message };
    case 'transaction-timeout':
      return { sipStatus: 408, endedBy: 'timeout', reason: `no response from the server (${err.message})` };
    case 'cancelled':
      return { sipStatus: 487, endedBy: 'caller', reason: 'aborted before the answer' };
    default:
      return { sipStatus: 503, endedBy: 'error', reason: err.message };
  }
}

async function addJournal(result: CallResult, plan: CallPlan, since: Date, signal?: AbortSignal): Promise<void> {
  try {
    // A call the service refused before creating a session (unknown number) has no journal: look briefly.
    const session = await readCallJournal(plan.api!, result.sipCallId, {
      since,
      timeoutMs: result.answered ? plan.journalTimeoutMs : Math.min(plan.journalTimeoutMs, 3000),
      untilComplete: true,
      ...(signal ? { signal } : {}),
    });
    result.sessionId = session.sessionId;
    result.timeline = timelineOf(session);
  } catch (err) {
    if (!(err instanceof JournalError)) throw err;
    result.journalError = result.answered
      ? err.message
      : `${err.message} (a call refused before its newCall, e.g. an unknown number, has no session)`;
  }
}

/** The first line of a SIP message (`INVITE sip:…`, `SIP/2.0 200 OK`) and its Call-ID, for the ladder. */
function firstLine(bytes: Buffer): { text: string; callId?: string } {
  try {
    const m = parseMessage(bytes);
    const cseq = `${m.cseq.method}`;
    const text = m.type === 'request' ? `${m.method} ${m.uri}` : `${m.status} ${m.reason} (${cseq})`;
    return { text, callId: m.callId };
  } catch (err) {
    const head = bytes.toString('latin1', 0, Math.min(bytes.length, 200)).split('\r\n')[0] ?? '';
    return { text: `${head.trim() || '(keep-alive)'} [unparsed: ${(err as Error).message}]` };
  }
}

async function resolveServer(host: string): Promise<string> {
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new CallOptionsError('server', `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** The local address the system routes to the server from: what Via, Contact and the SDP must carry. */
async function localAddressTowards(address: string, port: number): Promise<string> {
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, address, () => resolve());
    });
    return socket.address().address;
  } catch (err) {
    throw new CallOptionsError('server', `no route to ${address}: ${(err as Error).message}`);
  } finally {
    socket.close();
  }
}

async function checkWritable(path: string): Promise<void> {
  try {
    await access(dirname(path), constants.W_OK);
  } catch (err) {
    throw new CallOptionsError('recordWav', `cannot write to ${dirname(path)}: ${(err as NodeJS.ErrnoException).code}`);
  }
}
