import { ConferenceResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceSpec } from '@sipms/shared/contracts/ivr-command';
import type { ConferenceRecord } from '@sipms/shared/domain/conference';
import type { Logger } from '@sipms/shared/util/logger';
import type { ConferenceHosts, ConferenceRun } from '../ports/conferences.js';
import type { AudioTap } from '../ports/media.js';
import type { ConferenceRelay, RelayAddress, RelayLeg } from './conference-relay.js';
import { encodeAudio, encodeControl, newLegToken, RELAY_AUDIO_MAX_BYTES, type RelayPacket } from './relay-packet.js';
import { CONTROL_COPIES } from './remote-participant.js';

export interface RemoteJoinTimings {
  /** How long the host may take to admit (its inbox is read every INBOX_POLL_MS). */
  admitMs: number;
  /** No datagram from the host for this long once admitted: the host failed. */
  hostSilenceMs: number;
  /** How often the host's heartbeat is checked in the registry. */
  hostCheckMs: number;
  /** After leaving, how long to wait for the host's result before reporting the leave without it. */
  leaveMs: number;
  /** How often a keepalive goes to the host (the caller may send no audio for a while). */
  keepaliveMs: number;
}

export const REMOTE_JOIN_TIMINGS: RemoteJoinTimings = {
  admitMs: 5000,
  hostSilenceMs: 3000,
  hostCheckMs: 5000,
  leaveMs: 1500,
  keepaliveMs: 1000,
};

export interface RemoteJoinDeps {
  nodeId: string;
  relay: ConferenceRelay;
  hosts: ConferenceHosts;
  logger: Logger;
  timings?: RemoteJoinTimings;
}

const NOTIFY_EVENTS = new Set(['conferenceJoined', 'conferenceLeft']);

/**
 * Joins a conference hosted on another media node (docs/conferences.md, "Across nodes"), from the node holding
 * the participant's call: asks the host to admit a leg (through its inbox, with a fresh token and this node's
 * relay address), then carries the caller's audio to the host and plays the mix the host sends for it, and
 * replays the host's journal entries and callNotify events into the participant's own session. Resolves with
 * the result the host sends, `hostFailed` when the host stops answering, or undefined when the conference
 * ended before the participant was in (the caller joins again).
 */
export async function joinRemote(
  record: ConferenceRecord,
  hostRelay: RelayAddress,
  spec: ConferenceSpec,
  run: ConferenceRun,
  deps: RemoteJoinDeps,
): Promise<ConferenceResult | undefined> {
  const t = deps.timings ?? REMOTE_JOIN_TIMINGS;
  const host = record.hostNodeId;
  const log = deps.logger.child({ conference: record.name, host, participantId: run.ids.participantId });
  const token = newLegToken();
  let tap: AudioTap | undefined;
  let stopAudio: (() => void) | undefined;
  let joinedAt: number | undefined;
  let lastHeard = Date.now();
  let lastCount = 0;
  let lastSeq: number | undefined;
  let seen = new Set<number>();
  let controlSeq = 0;
  let settle!: (result: ConferenceResult | undefined) => void;
  const done = new Promise<ConferenceResult | undefined>((resolve) => {
    settle = resolve;
  });
  let finished = false;
  const finish = (result: ConferenceResult | undefined) => {
    if (finished) return;
    finished = true;
    settle(result);
  };

  const control = (message: Record<string, unknown>) => {
    const packet = encodeControl(token, controlSeq, message);
    controlSeq = (controlSeq + 1) & 0xffff;
    for (let i = 0; i < CONTROL_COPIES; i++) deps.relay.send(hostRelay, packet);
  };

  const admitted = (): boolean => {
    if (tap) return true;
    if (finished) return false;
    try {
      tap = run.openTap();
    } catch (err) {
      // The host has the participant in; take it out again.
      control({ leave: 'interrupted' });
      finish({ reason: 'failed', durationMs: 0, error: (err as Error).message });
      return false;
    }
    joinedAt = Date.now();
    const opened = tap;
    stopAudio = opened.onAudio((payload, codec, rtp) => {
      if (payload.length === 0 || payload.length > RELAY_AUDIO_MAX_BYTES) return;
      deps.relay.send(hostRelay, encodeAudio(token, rtp.seq, rtp.timestamp, codec, payload));
    });
    return true;
  };

  const onControl = (message: Record<string, unknown>) => {
    if ('journal' in message) {
      const entry = message.journal;
      if (isConferenceEntry(entry)) run.journal(entry);
      return;
    }
    if ('notify' in message) {
      const event = message.notify;
      const fields = message.fields as Record<string, unknown> | undefined;
      if (typeof event !== 'string' || !NOTIFY_EVENTS.has(event) || !fields) return;
      const count = fields.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) return;
      lastCount = count;
      if (event === 'conferenceJoined' && !admitted()) return;
      const reason = typeof fields.reason === 'string' ? fields.reason.slice(0, 32) : undefined;
      run.notify(event as 'conferenceJoined' | 'conferenceLeft', {
        name: record.name,
        count,
        ...(reason ? { reason } : {}),
      });
      return;
    }
    if ('result' in message) {
      const parsed = ConferenceResult.safeParse(message.result);
      if (parsed.success) finish(parsed.data);
      else log.warn({ error: parsed.error.message }, 'conference result from the host is invalid: ignored');
      return;
    }
    if (message.refused === 'gone') finish(undefined);
  };

  const leg: RelayLeg = {
    peer: hostRelay,
    onPacket: (packet: RelayPacket) => {
      lastHeard = Date.now();
      if (packet.kind === 'audio') {
        // The mix flows only once admitted: it opens the tap even when the conferenceJoined copies were lost.
        if (!admitted()) return;
        // Late or repeated frames are dropped: the mix is sent once per tick, in order.
        if (lastSeq !== undefined && ((packet.seq - lastSeq) & 0xffff) >= 0x8000) return;
        if (lastSeq === packet.seq) return;
        lastSeq = packet.seq;
        // Until the host has the caller's first frame it encodes in PCMU: frames in the other codec are noise.
        if (tap && packet.codec === tap.codec && packet.payload.length === 160) tap.send(packet.payload);
        return;
      }
      if (seen.has(packet.seq)) return;
      if (seen.size >= 64) seen = new Set();
      seen.add(packet.seq);
      onControl(packet.message);
    },
  };
  deps.relay.legs.add(token, leg);

  const failHost = (error: string) => {
    if (finished) return;
    log.warn({ error }, 'conference host failed');
    const durationMs = joinedAt === undefined ? 0 : Date.now() - joinedAt;
    if (joinedAt !== undefined) {
      lastCount = Math.max(0, lastCount - 1);
      run.journal({
        kind: 'media',
        event: 'conferenceLeft',
        name: record.name,
        reason: 'hostFailed',
        count: lastCount,
        durationMs,
      });
      run.notify('conferenceLeft', { name: record.name, count: lastCount, reason: 'hostFailed' });
    } else {
      run.journal({ kind: 'media', event: 'conferenceRefused', name: record.name, reason: 'hostFailed', error });
    }
    finish({ reason: 'hostFailed', durationMs, error });
  };

  const onAbort = () => {
    if (finished) return;
    control({ leave: run.callEnded.aborted ? 'hangup' : 'interrupted' });
    // The host answers with the result (and the conferenceLeft events); without it, the leave is reported here.
    setTimeout(() => {
      if (finished) return;
      const durationMs = joinedAt === undefined ? 0 : Date.now() - joinedAt;
      run.journal({ kind: 'media', event: 'conferenceLeft', name: record.name, reason: 'interrupted', durationMs });
      finish({ reason: 'interrupted', durationMs, error: 'the host did not confirm the leave' });
    }, t.leaveMs).unref();
  };

  const started = Date.now();
  const watch = setInterval(() => {
    if (finished) return;
    const now = Date.now();
    if (joinedAt === undefined) {
      if (now - started > t.admitMs)
        failHost(`media node ${host} did not admit the participant within ${t.admitMs} ms`);
    } else if (now - lastHeard > t.hostSilenceMs) {
      failHost(`nothing from media node ${host} for ${t.hostSilenceMs} ms`);
    }
  }, 200);
  const keepalive = setInterval(() => {
    if (joinedAt !== undefined && !finished) control({ keepalive: true });
  }, t.keepaliveMs);
  const hostCheck = setInterval(() => {
    void deps.hosts.alive(host).then(
      (alive) => {
        if (!alive) failHost(`media node ${host}'s heartbeat is stale`);
      },
      (err) => log.warn({ err }, 'cannot check the conference host in the registry'),
    );
  }, t.hostCheckMs);

  if (run.signal.aborted) finish({ reason: 'interrupted', durationMs: 0 });
  else run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (!finished) {
      await deps.hosts.admit(host, run.ids.tenantId, {
        name: record.name,
        conferenceId: record.conferenceId,
        participantId: run.ids.participantId,
        sessionId: run.ids.sessionId,
        nodeId: deps.nodeId,
        token,
        relay: deps.relay.address,
        // The tap opens once admitted, so its codec is not known yet: the host learns it from the first frames.
        codec: 'pcmu',
        muted: spec.muted,
        deaf: spec.deaf,
        beep: spec.beep,
        endOnExit: spec.endOnExit,
      });
    }
    return await done;
  } catch (err) {
    const error = `cannot ask media node ${host} to admit the participant: ${(err as Error).message}`;
    run.journal({ kind: 'media', event: 'conferenceRefused', name: record.name, reason: 'failed', error });
    return { reason: 'failed', durationMs: 0, error };
  } finally {
    finished = true;
    clearInterval(watch);
    clearInterval(keepalive);
    clearInterval(hostCheck);
    run.signal.removeEventListener('abort', onAbort);
    stopAudio?.();
    tap?.close();
    deps.relay.legs.remove(token, leg);
  }
}

/** A journal entry from the host: a conference event of the media kind, nothing else. */
function isConferenceEntry(entry: unknown): entry is Record<string, unknown> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
  const e = entry as Record<string, unknown>;
  return e.kind === 'media' && typeof e.event === 'string' && /^conference[A-Z][a-zA-Z]{0,30}$/.test(e.event);
}
