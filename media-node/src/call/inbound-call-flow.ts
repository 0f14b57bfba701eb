import { CALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, SessionRepository, TenantDirectory } from '../ports/call-data.js';
import type { CallbackPort } from '../ports/callbacks.js';
import type { MediaLeg, MediaPort } from '../ports/media.js';
import type { CallDialog, DialogEndReason, InboundCall } from '../ports/signaling.js';
import { CallSession } from './call-session.js';
import { DtmfMerger } from './dtmf-merger.js';
import { runIvrCommand } from './ivr-executor.js';

export interface CallFlowDeps {
  nodeId: string;
  tenants: TenantDirectory;
  sessions: SessionRepository;
  media: MediaPort;
  callbacks: CallbackPort;
  audio: AudioSources;
  logger: Logger;
}

const END_REASON: Record<DialogEndReason, string> = {
  'remote-bye': 'callingPartyDrop',
  'local-bye': 'hangup',
  'ack-timeout': 'ackTimeout',
  'transport-error': 'transportError',
  shutdown: 'nodeShutdown',
};

/**
 * The inbound call flow (ARCHITECTURE.md, "Data flow of one inbound IVR call"): tenant lookup, session,
 * media offer, newCall, then the IVR loop driven by getIvrCommand, and the end of the session.
 * It sees only ports: no SIP stack, no rtpengine client, no AWS SDK.
 */
export class InboundCallFlow {
  private readonly active = new Set<Promise<void>>();

  constructor(private readonly deps: CallFlowDeps) {}

  get activeCalls(): number {
    return this.active.size;
  }

  /** Entry point for the signaling adapter; never throws. */
  accept(call: InboundCall): void {
    const run = this.handle(call).catch((err) => {
      this.deps.logger.error({ err, callId: call.callId }, 'call flow failed');
      try {
        call.reject(500, 'Server Internal Error');
      } catch {
        // a final response was already sent
      }
    });
    this.active.add(run);
    void run.finally(() => this.active.delete(run));
  }

  /** Resolves when every call in progress has ended (used when draining). */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.active]);
  }

  private async handle(call: InboundCall): Promise<void> {
    const { deps } = this;
    const tenant = await deps.tenants.resolveInbound(call.requestHost, call.requestUser);
    if (!tenant) {
      // Unknown target: no session, no callback, no state.
      call.reject(404, 'Not Found');
      return;
    }
    if (!call.sdp) {
      call.reject(488, 'SDP Offer Required');
      return;
    }
    const session = new CallSession(tenant, deps.callbacks);
    const participantId = randomId('p');
    const log = deps.logger.child({ sessionId: session.sessionId, callId: call.callId, tenantId: tenant.tenantId });
    const journal = (entry: Record<string, unknown> & { kind: 'sip' | 'command' | 'media' | 'error' }) =>
      void deps.sessions.journal(session.sessionId, entry).catch((err) => log.warn({ err }, 'journal write failed'));

    await deps.sessions.create({
      sessionId: session.sessionId,
      tenantId: tenant.tenantId,
      nodeId: deps.nodeId,
      state: 'active',
      createdAt: new Date(session.startedAt).toISOString(),
      participants: {
        [participantId]: { direction: 'inbound', from: call.from.uri, to: call.to.uri, sipCallId: call.callId },
      },
    });
    journal({ kind: 'sip', event: 'invite', from: call.from.uri, to: call.to.uri, source: call.source });

    let leg: MediaLeg | undefined;
    let endReason = 'unknown';
    try {
      try {
        leg = await deps.media.openLeg({
          callId: call.callId,
          callerTag: call.from.tag ?? '',
          ivrTag: randomId('m', 10),
          offerSdp: call.sdp,
        });
      } catch (err) {
        log.error({ err }, 'media offer failed');
        journal({ kind: 'error', event: 'media offer failed', reason: (err as Error).message });
        call.reject(488, 'Not Acceptable Here');
        endReason = 'mediaFailed';
        return;
      }

      const newCall = await session.request(
        'newCall',
        {
          participantId,
          sipCallId: call.callId,
          from: {
            uri: call.from.uri,
            user: call.from.user,
            ...(call.from.displayName ? { displayName: call.from.displayName } : {}),
          },
          to: { uri: call.to.uri, user: call.to.user },
          requestUri: call.requestUri,
          headers: call.xHeaders,
          sourceAddress: call.source.address,
          transport: call.source.transport,
        },
        call.cancelled,
      );
      if (call.cancelled.aborted) {
        journal({ kind: 'sip', event: 'cancelled' });
        endReason = 'callingPartyCancel';
        return;
      }
      const parsed = parseOrReason(CALLBACK_REPLIES.newCall, newCall.reply);
      const action = parsed.ok ? parsed.value : { action: 'drop' as const, sipStatus: 480, reason: 'invalid reply' };
      journal({
        kind: 'command',
        callback: 'newCall',
        action: action.action,
        fallback: newCall.fallback,
        reason: newCall.reason,
      });

      switch (action.action) {
        case 'drop':
          call.reject(action.sipStatus, action.reason);
          endReason = 'dropped';
          return;
        case 'redirect':
          call.redirect([action.contact]);
          endReason = 'redirected';
          return;
        case 'call':
          journal({ kind: 'error', event: 'call action not available in this version' });
          call.reject(480, 'Temporarily Unavailable');
          endReason = 'callActionUnavailable';
          return;
        case 'ivr':
          break;
      }

      const answerSdp = await leg.connectIvr();
      let dialog: CallDialog;
      try {
        dialog = await call.answer(answerSdp);
      } catch (err) {
        journal({ kind: 'sip', event: 'answer failed', reason: (err as Error).message });
        endReason = call.cancelled.aborted ? 'callingPartyCancel' : 'answerFailed';
        return;
      }
      journal({ kind: 'sip', event: 'answered' });
      void session.notify('callAnswered', { participantId });
      endReason = await this.runIvr(session, participantId, dialog, leg, journal, log);
    } finally {
      await leg?.close();
      await deps.sessions
        .end(session.sessionId, endReason)
        .catch((err) => log.warn({ err }, 'session end write failed'));
      await session.notify('sessionCompleted', {
        sessionDuration: Math.round((Date.now() - session.startedAt) / 100) / 10,
        reason: endReason,
      });
      log.info({ reason: endReason }, 'session completed');
    }
  }

  /** The IVR loop: getIvrCommand → run → repeat, until hang-up by either side. Returns the end reason. */
  private async runIvr(
    session: CallSession,
    participantId: string,
    dialog: CallDialog,
    leg: MediaLeg,
    journal: (e: Record<string, unknown> & { kind: 'sip' | 'command' | 'media' | 'error' }) => void,
    log: Logger,
  ): Promise<string> {
    const ended = new AbortController();
    let endedBy: DialogEndReason | undefined;
    void dialog.ended.then((reason) => {
      endedBy = reason;
      ended.abort();
    });
    leg.onFailure((reason) => {
      journal({ kind: 'error', event: 'media failed', reason });
      void dialog.hangup();
    });

    const digitListeners = new Set<(d: string) => void>();
    const merger = new DtmfMerger((digit) => {
      for (const l of digitListeners) l(digit);
    });
    const stopMediaDtmf = leg.onDtmf((d) => merger.push(d.digit, d.via));
    dialog.onDtmf((d) => merger.push(d.digit, 'info'));
    dialog.onReoffer((sdp) => leg.reoffer(sdp));

    let extras: Record<string, unknown> = {};
    try {
      while (!ended.signal.aborted) {
        const res = await session.request('getIvrCommand', { participantId, ...extras }, ended.signal);
        if (ended.signal.aborted) break;
        const parsed = parseOrReason(CALLBACK_REPLIES.getIvrCommand, res.reply);
        const command: IvrCommand = parsed.ok ? parsed.value : { phrases: [], bargeIn: 'none', hangup: true };
        journal({ kind: 'command', callback: 'getIvrCommand', fallback: res.fallback, reason: res.reason, command });
        const outcome = await runIvrCommand(command, {
          tenantId: session.tenant.tenantId,
          leg,
          audio: this.deps.audio,
          onDigit: (l) => {
            digitListeners.add(l);
            return () => digitListeners.delete(l);
          },
          ivrFailed: (reason, phrase) => {
            log.warn({ reason, phrase }, 'IVR step failed');
            journal({ kind: 'error', event: 'ivrFailed', reason, phrase });
            void session.notify('callNotify', { participantId, event: 'ivrFailed', reason });
          },
          signal: ended.signal,
          logger: log,
        });
        if (outcome.hangup) {
          await dialog.hangup();
          return 'hangup';
        }
        extras = outcome.dtmfParams ? { dtmfParams: outcome.dtmfParams } : {};
      }
    } finally {
      stopMediaDtmf();
    }
    const reason = endedBy ?? (await dialog.ended);
    journal({ kind: 'sip', event: 'ended', reason });
    if (reason === 'remote-bye') {
      await session.request('callEvent', { participantId, event: 'callingPartyDrop' });
    }
    return END_REASON[reason];
  }
}
