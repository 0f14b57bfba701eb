import { CALLBACK_REPLIES, FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, UsageMeter } from '../ports/call-data.js';
import type { MediaLeg } from '../ports/media.js';
import type { CallDialog, DialogEndReason } from '../ports/signaling.js';
import type { CallSession } from './call-session.js';
import { DtmfMerger } from './dtmf-merger.js';
import { runIvrCommand } from './ivr-executor.js';
import type { LiveSessions } from './live-sessions.js';

export type Journal = (entry: Record<string, unknown> & { kind: 'sip' | 'command' | 'media' | 'error' }) => void;

export interface IvrLoopInput {
  session: CallSession;
  participantId: string;
  dialog: CallDialog;
  leg: MediaLeg;
  audio: AudioSources;
  live: LiveSessions;
  journal: Journal;
  log: Logger;
  /** The callEvent sent when this participant hangs up: the caller of an inbound call, or a called party. */
  dropEvent: 'callingPartyDrop' | 'calledPartyDrop';
  /** Start out of IVR (about to be connected to another participant): no getIvrCommand until resumed. */
  startHeld?: boolean;
  usage: UsageMeter;
}

/** Characters of text-to-speech a command asks for (what TTS is billed on). */
function ttsCharacters(command: IvrCommand): number {
  let n = 0;
  for (const p of command.phrases) {
    if (p.format === 'tts') n += p.text.length;
    else if (p.format === 'awstts') n += p.awsTTSParameters.Text.length;
  }
  return n;
}

/** How the participant's part of the session ended, as sessionCompleted reports it. */
export const END_REASON: Record<DialogEndReason, string> = {
  'remote-bye': 'callingPartyDrop',
  'local-bye': 'hangup',
  'ack-timeout': 'ackTimeout',
  'transport-error': 'transportError',
  shutdown: 'nodeShutdown',
};

/**
 * One participant in IVR: getIvrCommand → run the command → repeat, until either side hangs up. Digits
 * from RFC 4733 and SIP INFO are merged; the REST API can interrupt the running command or hang up.
 * Returns the end reason.
 */
export async function runIvrLoop(input: IvrLoopInput): Promise<string> {
  const { session, participantId, dialog, leg, journal, log } = input;
  const ended = new AbortController();
  let endedBy: DialogEndReason | undefined;
  void dialog.ended.then((reason) => {
    endedBy = reason;
    ended.abort();
  });
  let mediaFailed = false;
  leg.onFailure((reason) => {
    // The media is gone (rtpengine died): end the call at once, then tell the tenant.
    mediaFailed = true;
    journal({ kind: 'error', event: 'media failed', reason });
    void dialog.hangup();
    void session.notify('callNotify', { participantId, event: 'mediaFailed', reason });
    void session.request('callEvent', { participantId, event: 'ivrFailed', reason: `media failed: ${reason}` });
  });

  const digitListeners = new Set<(d: string) => void>();
  const merger = new DtmfMerger((digit) => {
    for (const l of digitListeners) l(digit);
  });
  const stopMediaDtmf = leg.onDtmf((d) => merger.push(d.digit, d.via));
  dialog.onDtmf((d) => merger.push(d.digit, 'info'));
  dialog.onReoffer((sdp) => leg.reoffer(sdp));

  let current = new AbortController();
  // While connected to another participant (/connect) the loop waits here instead of asking for commands.
  let held: { done: Promise<void>; release: () => void } | undefined;
  const unregister = input.live.register(session.sessionId, participantId, {
    interrupt: () => current.abort(),
    hangup: () => dialog.hangup(),
    connectable: {
      leg,
      direction: input.dropEvent === 'callingPartyDrop' ? 'inbound' : 'outbound',
      ended: dialog.ended,
      hold: () => {
        if (held) return;
        let release!: () => void;
        const done = new Promise<void>((r) => {
          release = r;
        });
        held = { done, release };
        current.abort();
      },
      resume: () => {
        const h = held;
        held = undefined;
        h?.release();
      },
      get held() {
        return held !== undefined;
      },
    },
  });
  if (input.startHeld) {
    let release!: () => void;
    held = { done: new Promise<void>((r) => (release = r)), release: () => release() };
  }

  let extras: Record<string, unknown> = {};
  try {
    while (!ended.signal.aborted) {
      if (held) {
        await leg.stopPlayback();
        await Promise.race([held.done, dialog.ended]);
        if (ended.signal.aborted) break;
        extras = {};
      }
      const res = await session.request('getIvrCommand', { participantId, ...extras }, ended.signal);
      if (held) continue; // connected while the tenant was answering: that command is not run
      current = new AbortController();
      const commandSignal = AbortSignal.any([ended.signal, current.signal]);
      if (ended.signal.aborted) break;
      const parsed = parseOrReason(CALLBACK_REPLIES.getIvrCommand, res.reply);
      const command: IvrCommand = parsed.ok ? parsed.value : IvrCommand.parse(FALLBACK_REPLIES.getIvrCommand);
      journal({ kind: 'command', callback: 'getIvrCommand', fallback: res.fallback, reason: res.reason, command });
      const chars = ttsCharacters(command);
      if (chars) input.usage.record(session.tenant.tenantId, { ttsCharacters: chars });
      const outcome = await runIvrCommand(command, {
        tenantId: session.tenant.tenantId,
        leg,
        audio: input.audio,
        onDigit: (l) => {
          digitListeners.add(l);
          return () => digitListeners.delete(l);
        },
        ivrFailed: (reason, phrase) => {
          log.warn({ reason, phrase }, 'IVR step failed');
          journal({ kind: 'error', event: 'ivrFailed', reason, phrase });
          void session.notify('callNotify', { participantId, event: 'ivrFailed', reason });
        },
        notify: (event, details) => {
          journal({ kind: 'media', event, ...details });
          void session.notify('callNotify', { participantId, event, ...details });
        },
        signal: commandSignal,
        logger: log,
      });
      if (held) continue;
      if (current.signal.aborted && !ended.signal.aborted) {
        // Interrupted through the REST API: silence now, then the next getIvrCommand.
        await leg.stopPlayback();
        journal({ kind: 'command', event: 'interrupted' });
        extras = {};
        continue;
      }
      if (outcome.hangup) {
        await dialog.hangup();
        return 'hangup';
      }
      if (outcome.recording) {
        input.usage.record(session.tenant.tenantId, { recordingSeconds: outcome.recording.durationMs / 1000 });
      }
      extras = {
        ...(outcome.dtmfParams ? { dtmfParams: outcome.dtmfParams } : {}),
        ...(outcome.recording ? { recording: outcome.recording } : {}),
      };
    }
  } finally {
    stopMediaDtmf();
    unregister();
  }
  const reason = endedBy ?? (await dialog.ended);
  journal({ kind: 'sip', event: 'ended', reason });
  if (mediaFailed) return 'mediaFailed';
  // A connected participant's hang-up is reported by the connection (it decides for the other party).
  if (reason === 'remote-bye' && held) return input.dropEvent;
  if (reason === 'remote-bye') {
    await session.request('callEvent', { participantId, event: input.dropEvent });
    return input.dropEvent;
  }
  return END_REASON[reason];
}
