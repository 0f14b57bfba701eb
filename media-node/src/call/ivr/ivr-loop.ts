import type { CallbackFields } from '@sipms/shared/contracts/callbacks';
import type { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { activeSecrets } from '@sipms/shared/domain/tenant';
import type { SensitivePath } from '@sipms/shared/events/sensitive-fields';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, UsageMeter } from '../../ports/call-data.js';
import type { ConferencePort } from '../../ports/conferences.js';
import type { MediaFailureKind, MediaLeg } from '../../ports/media.js';
import { type CallMetrics, NO_METRICS } from '../../ports/metrics.js';
import type { CallDialog, DialogEndReason } from '../../ports/signaling.js';
import type { StreamPort } from '../../ports/streams.js';
import type { Participant } from '../session/participant.js';
import type { ParticipantRegistry } from '../session/participant-control.js';
import { ivrCommandReply } from '../session/replies.js';
import { DtmfMerger } from './dtmf-merger.js';
import { runIvrCommand } from './ivr-executor.js';

export interface IvrLoopInput {
  participant: Participant;
  dialog: CallDialog;
  leg: MediaLeg;
  audio: AudioSources;
  live: ParticipantRegistry;
  usage: UsageMeter;
  /** Start out of IVR (about to be connected to another participant): no getIvrCommand until resumed. */
  startHeld?: boolean;
  /** DTMF → next prompt is measured here (none: NO_METRICS). */
  metrics?: CallMetrics | undefined;
  /** Audio streams to bots (none: a `stream` command fails with ivrFailed). */
  streams?: StreamPort | undefined;
  /** Conferences (none: a `conference` command fails with ivrFailed). */
  conferences?: ConferencePort | undefined;
}

/** The tenant set a digit timer itself (the parsed command has the defaults filled in). */
function explicitDigitTimers(reply: unknown): boolean {
  const dtmf = (reply as { dtmf?: Record<string, unknown> } | null)?.dtmf;
  return (
    typeof dtmf === 'object' &&
    dtmf !== null &&
    (dtmf.firstDigitTimeoutMs !== undefined || dtmf.interDigitTimeoutMs !== undefined)
  );
}

/** The callEvent sent when a participant hangs up: the caller of an inbound call, or a called party. */
export function dropEventOf(participant: Participant): 'callingPartyDrop' | 'calledPartyDrop' {
  return participant.direction === 'inbound' ? 'callingPartyDrop' : 'calledPartyDrop';
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

/** A command that plays, collects, records and ends nothing: what `{}` parses to. */
function doesNothing(command: IvrCommand): boolean {
  return (
    command.phrases.length === 0 &&
    !command.dtmf &&
    !command.record &&
    !command.echo &&
    !command.hangup &&
    !command.stream &&
    !command.conference
  );
}

export const LOOP_GUARD = { turns: 10, windowMs: 10_000, shortTurnMs: 1000 };
const LOOP_GUARD_REASON = `more than ${LOOP_GUARD.turns} getIvrCommand callbacks within ${LOOP_GUARD.windowMs / 1000} s, each followed by less than ${LOOP_GUARD.shortTurnMs / 1000} s of media`;

/**
 * The loop guard: more than 10 getIvrCommand turns within 10 s, each taking less than 1 s (a 1 ms silence,
 * a missing file, an empty phrase list), end the call with reason `ivrLoop`, so a webhook cannot make the
 * platform spin without bound. A turn of real media resets it.
 */
export class LoopGuard {
  private short: number[] = [];

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly limits = LOOP_GUARD,
  ) {}

  /** Records one turn and its media time; true when the call must end. */
  turn(mediaMs: number): boolean {
    if (mediaMs >= this.limits.shortTurnMs) {
      this.short = [];
      return false;
    }
    const at = this.now();
    this.short = this.short.filter((t) => at - t < this.limits.windowMs);
    this.short.push(at);
    return this.short.length > this.limits.turns;
  }
}

/** How the participant's part of the session ended, as sessionCompleted reports it. */
export const END_REASON: Record<DialogEndReason, string> = {
  'remote-bye': 'callingPartyDrop',
  'local-bye': 'hangup',
  'ack-timeout': 'ackTimeout',
  'transport-error': 'transportError',
  'session-expired': 'sessionExpired',
  shutdown: 'nodeShutdown',
};

/**
 * One participant in IVR: getIvrCommand → run the command → repeat, until either side hangs up. Digits
 * from RFC 4733 and SIP INFO are merged; the REST API can interrupt the running command or hang up.
 * Returns the end reason.
 */
export async function runIvrLoop(input: IvrLoopInput): Promise<string> {
  const { participant, dialog, leg } = input;
  const { session, participantId } = participant;
  const journal = participant.journal.bind(participant);
  const log: Logger = session.log.child({ participantId });
  const dropEvent = dropEventOf(participant);
  const ended = new AbortController();
  let endedBy: DialogEndReason | undefined;
  void dialog.ended.then((reason) => {
    endedBy = reason;
    ended.abort();
  });
  let mediaFailed: MediaFailureKind | undefined;
  leg.onFailure((reason, kind) => {
    // The media is gone (rtpengine died) or the caller went silent: end the call at once, tell the tenant.
    mediaFailed = kind;
    const what = kind === 'mediaTimeout' ? 'media timeout' : 'media failed';
    journal({ kind: 'error', event: what, reason });
    void dialog.hangup().catch((err) => log.warn({ err }, `hang-up after ${what} failed`));
    void session.notify('callNotify', { participantId, event: kind, reason });
    void session.request('callEvent', { participantId, event: 'ivrFailed', reason: `${what}: ${reason}` });
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
      direction: participant.direction,
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

  let extras: Omit<CallbackFields<'getIvrCommand'>, 'participantId'> = {};
  // The digits of a command with `dtmf.sensitive`: the tenant gets them, journals and the bus do not.
  let sensitive: SensitivePath[] | undefined;
  const loopGuard = new LoopGuard();
  const metrics = input.metrics ?? NO_METRICS;
  // When a key ended the last digit collection (performance.now()); the next command's first prompt is timed from it.
  let keyAt: number | undefined;
  try {
    while (!ended.signal.aborted) {
      if (held) {
        await leg.stopPlayback();
        await Promise.race([held.done, dialog.ended]);
        if (ended.signal.aborted) break;
        extras = {};
        keyAt = undefined;
      }
      // Only the command this turn asks for is timed from the key: a turn that runs none drops it.
      let promptAfterKey = keyAt;
      keyAt = undefined;
      // Made before asking: an interrupt while the tenant is answering applies to the command it answers.
      current = new AbortController();
      const res = await session.request('getIvrCommand', { participantId, ...extras }, ended.signal, sensitive);
      if (held) continue; // connected while the tenant was answering: that command is not run
      const commandSignal = AbortSignal.any([ended.signal, current.signal]);
      if (ended.signal.aborted) break;
      if (current.signal.aborted) {
        // Interrupted through the REST API before the reply came: it is not run; the next getIvrCommand follows.
        journal({ kind: 'command', event: 'interrupted', callback: 'getIvrCommand', reason: 'before the reply ran' });
        extras = {};
        continue;
      }
      const parsed = ivrCommandReply(res.reply);
      const command: IvrCommand = parsed.value;
      journal({
        kind: 'command',
        callback: 'getIvrCommand',
        fallback: res.fallback || parsed.invalid !== undefined,
        reason: res.reason ?? parsed.invalid,
        command,
      });
      if (!res.fallback && doesNothing(command)) {
        // `{}` (or an empty body): no action. The participant waits in silence, with no further
        // getIvrCommand, until a live command (interrupt, connect, hang-up) changes its state.
        journal({ kind: 'command', event: 'no action: waiting for a live command' });
        await new Promise<void>((resolve) => {
          if (commandSignal.aborted) return resolve();
          commandSignal.addEventListener('abort', () => resolve(), { once: true });
        });
        if (held) continue;
        if (ended.signal.aborted) break;
        journal({ kind: 'command', event: 'interrupted' });
        extras = {};
        continue;
      }
      const chars = ttsCharacters(command);
      if (chars) input.usage.record(session.tenant.tenantId, { ttsCharacters: chars });
      const turnStarted = performance.now();
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
        explicitDigitTimers: explicitDigitTimers(res.reply),
        ...(input.streams
          ? {
              stream: (spec, run) =>
                input.streams!.run(spec, {
                  ...run,
                  ids: { tenantId: session.tenant.tenantId, sessionId: session.sessionId, participantId },
                  secrets: activeSecrets(session.tenant),
                  journal: (entry) => journal(entry as Parameters<typeof journal>[0]),
                }),
            }
          : {}),
        ...(input.conferences
          ? {
              conference: (spec, run) =>
                input.conferences!.join(spec, {
                  ...run,
                  callEnded: ended.signal,
                  ids: { tenantId: session.tenant.tenantId, sessionId: session.sessionId, participantId },
                  journal: (entry) => journal(entry as Parameters<typeof journal>[0]),
                  notify: (event, fields) => void session.notify('callNotify', { participantId, event, ...fields }),
                }),
            }
          : {}),
        onPromptStarted: () => {
          if (promptAfterKey === undefined) return;
          metrics.dtmfToNextPrompt((performance.now() - promptAfterKey) / 1000);
          promptAfterKey = undefined;
        },
      });
      if (held) continue;
      if (current.signal.aborted && !ended.signal.aborted) {
        // Interrupted through the REST API: silence now, then the next getIvrCommand (a conference's result kept).
        await leg.stopPlayback();
        journal({ kind: 'command', event: 'interrupted' });
        extras = outcome.conferenceResult ? { conferenceResult: outcome.conferenceResult } : {};
        continue;
      }
      if (outcome.hangup) {
        await dialog.hangup();
        return 'hangup';
      }
      if (loopGuard.turn(performance.now() - turnStarted)) {
        log.warn({}, 'IVR loop: the tenant keeps answering with commands that take no time; hanging up');
        journal({ kind: 'error', event: 'ivrLoop', reason: LOOP_GUARD_REASON });
        await dialog.hangup();
        return 'ivrLoop';
      }
      if (outcome.recording) {
        input.usage.record(session.tenant.tenantId, { recordingSeconds: outcome.recording.durationMs / 1000 });
      }
      extras = {
        ...(outcome.dtmfParams ? { dtmfParams: outcome.dtmfParams } : {}),
        ...(outcome.recording ? { recording: outcome.recording } : {}),
        ...(outcome.streamResult ? { streamResult: outcome.streamResult } : {}),
        ...(outcome.conferenceResult ? { conferenceResult: outcome.conferenceResult } : {}),
      };
      sensitive = outcome.dtmfParams && command.dtmf?.sensitive ? ['dtmfParams.digits'] : undefined;
      if (outcome.dtmfParams && outcome.dtmfParams.reason !== 'timeout') keyAt = performance.now();
    }
  } finally {
    stopMediaDtmf();
    await input.live.leave(session.sessionId, participantId);
    unregister();
  }
  const reason = endedBy ?? (await dialog.ended);
  journal({ kind: 'sip', event: 'ended', reason });
  if (mediaFailed) return mediaFailed;
  // A connected participant's hang-up is reported by the connection (it decides for the other party).
  if (reason === 'remote-bye' && held) return dropEvent;
  if (reason === 'remote-bye') {
    const fields = { participantId, event: dropEvent };
    // The session's only participant: nothing is left to act on the reply, and sessionCompleted follows as soon
    // as the session's end is written; it carries this callEvent (one delivery for both).
    if (session.memberCount === 1) void session.notifyBeforeEnd('callEvent', fields);
    else await session.request('callEvent', fields);
    return dropEvent;
  }
  return END_REASON[reason];
}
