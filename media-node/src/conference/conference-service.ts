import type { ConferenceResult } from '@sipms/shared/contracts/callbacks';
import { CONFERENCE_DEFAULT_PARTICIPANTS, type ConferenceSpec } from '@sipms/shared/contracts/ivr-command';
import type { ConferenceNodeCommand } from '@sipms/shared/contracts/node-commands';
import type { ConferenceRecord } from '@sipms/shared/domain/conference';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { PacerClock } from '../audio/index.js';
import type { ConferenceDirectory, ConferenceHosts, ConferencePort, ConferenceRun } from '../ports/conferences.js';
import type { ConferenceRelay, RelayAddress } from './conference-relay.js';
import { ConferenceRoom, type RoomDeps } from './conference-room.js';
import { joinRemote, type RemoteJoinTimings } from './remote-join.js';
import { RemoteParticipant } from './remote-participant.js';

export interface ConferenceServiceOptions {
  nodeId: string;
  directory: ConferenceDirectory;
  /** The deployment's ceiling on participants per conference (CONFERENCE_MAX_PARTICIPANTS). */
  maxParticipants: number;
  logger: Logger;
  clock?: PacerClock | undefined;
  recordings: RoomDeps['recordings'];
  announce: RoomDeps['announce'];
  recorded?: RoomDeps['recorded'];
  /**
   * Node-to-node legs (docs/conferences.md, "Across nodes"): this node's relay socket and the other nodes.
   * Without them a caller on another node than the host is refused with `hostElsewhere`.
   */
  remote?:
    | {
        relay: ConferenceRelay;
        hosts: ConferenceHosts;
        /** The participant's side (defaults in remote-join.ts). */
        timings?: RemoteJoinTimings;
        /** The host's side: a leg silent this long is removed (default LEG_SILENCE_MS). */
        legSilenceMs?: number;
      }
    | undefined;
}

/** How many times a join re-reads the table when the item keeps changing under it (a burst of first joins). */
const OPEN_ATTEMPTS = 4;

type Opened =
  | { room: ConferenceRoom }
  | { refused: ConferenceResult }
  | { remote: ConferenceRecord; hostRelay: RelayAddress };

/**
 * The conferences hosted on this node, and the hosting model (docs/conferences.md). A conference lives on the
 * node of its first participant: that node creates the table item with a conditional write, so two first joins
 * (on this node or on two) cannot create two conferences; the loser reads the item and finds the host. A
 * participant whose call is on another node than the host joins through a leg between the nodes (remote-join.ts
 * here, RemoteParticipant on the host), or is refused with `hostElsewhere` when this node or the host has no
 * conference relay. An item left by a host that is no longer live, or by an earlier conference of this
 * node that is still being removed, is taken over (conditional on its conferenceId).
 */
export class ConferenceService implements ConferencePort {
  private readonly rooms = new Map<string, ConferenceRoom>();
  /** Joins opening a conference of a name, so concurrent first joins on this node open it once. */
  private readonly opening = new Map<string, Promise<Opened>>();

  constructor(private readonly o: ConferenceServiceOptions) {}

  /** Conferences hosted here now. */
  get active(): number {
    return this.rooms.size;
  }

  /** The conference hosted here under that name (for tests, benchmarks and commands). */
  room(tenantId: string, name: string): ConferenceRoom | undefined {
    return this.rooms.get(keyOf(tenantId, name));
  }

  async join(spec: ConferenceSpec, run: ConferenceRun): Promise<ConferenceResult> {
    const { tenantId } = run.ids;
    try {
      for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        if (run.signal.aborted) return { reason: 'interrupted', durationMs: 0 };
        const opened = await this.open(tenantId, spec);
        if ('refused' in opened) {
          run.journal({ kind: 'media', event: 'conferenceRefused', name: spec.name, ...opened.refused });
          return opened.refused;
        }
        const result =
          'remote' in opened
            ? await joinRemote(opened.remote, opened.hostRelay, spec, run, {
                nodeId: this.o.nodeId,
                relay: this.o.remote!.relay,
                hosts: this.o.remote!.hosts,
                logger: this.o.logger,
                ...(this.o.remote?.timings ? { timings: this.o.remote.timings } : {}),
              })
            : await opened.room.join(spec, run);
        if (result) return result;
        // The conference ended between finding it and joining it: the next join of the name opens a new one.
      }
      throw new Error('the conference kept ending while joining it');
    } catch (err) {
      const error = `cannot join conference ${spec.name}: ${(err as Error).message}`;
      this.o.logger.warn({ err, conference: spec.name, ...run.ids }, 'conference join failed');
      run.journal({ kind: 'media', event: 'conferenceRefused', name: spec.name, reason: 'failed', error });
      return { reason: 'failed', durationMs: 0, error };
    }
  }

  private async open(tenantId: string, spec: ConferenceSpec): Promise<Opened> {
    const key = keyOf(tenantId, spec.name);
    const room = this.rooms.get(key);
    if (room && !room.isEnding) return { room };
    const pending = this.opening.get(key);
    if (pending) return pending;
    const opening = this.openInTable(tenantId, spec).finally(() => this.opening.delete(key));
    this.opening.set(key, opening);
    return opening;
  }

  private async openInTable(tenantId: string, spec: ConferenceSpec): Promise<Opened> {
    const record: ConferenceRecord = {
      tenantId,
      name: spec.name,
      conferenceId: randomId('cf'),
      hostNodeId: this.o.nodeId,
      createdAt: new Date().toISOString(),
      maxParticipants: Math.min(spec.maxParticipants ?? CONFERENCE_DEFAULT_PARTICIPANTS, this.o.maxParticipants),
      participants: {},
    };
    const d = this.o.directory;
    for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
      if (await d.create(record)) return { room: this.host(record) };
      const existing = await d.get(tenantId, spec.name);
      if (!existing) continue; // removed meanwhile: create again
      // This node hosts no live conference of that name (else open() had found it): the item is an earlier
      // conference of this node still being removed, or a previous process's. Either way it is over.
      const ours = existing.hostNodeId === this.o.nodeId;
      if (ours || !(await d.nodeAlive(existing.hostNodeId))) {
        if (await d.replace(record, existing.conferenceId)) {
          this.o.logger.info(
            { conference: spec.name, previousHost: existing.hostNodeId, previous: existing.conferenceId },
            'conference item taken over',
          );
          return { room: this.host(record) };
        }
        continue;
      }
      const hostRelay = this.o.remote ? await this.o.remote.hosts.relayOf(existing.hostNodeId) : undefined;
      if (hostRelay) return { remote: existing, hostRelay };
      const missing = this.o.remote ? `media node ${existing.hostNodeId} has` : 'this node has';
      return {
        refused: {
          reason: 'hostElsewhere',
          durationMs: 0,
          error: `conference ${spec.name} is hosted on media node ${existing.hostNodeId}; this call is on ${this.o.nodeId}, and ${missing} no conference relay to join across media nodes`,
        },
      };
    }
    throw new Error('the conference item kept changing');
  }

  private host(record: ConferenceRecord): ConferenceRoom {
    const room = new ConferenceRoom(
      { tenantId: record.tenantId, name: record.name, conferenceId: record.conferenceId },
      record.maxParticipants,
      {
        nodeId: this.o.nodeId,
        directory: this.o.directory,
        logger: this.o.logger.child({ conference: record.name, conferenceId: record.conferenceId }),
        clock: this.o.clock,
        recordings: this.o.recordings,
        announce: this.o.announce,
        ...(this.o.recorded ? { recorded: this.o.recorded } : {}),
        onEnded: (r) => {
          const key = keyOf(record.tenantId, record.name);
          if (this.rooms.get(key) === r) this.rooms.delete(key);
        },
      },
    );
    this.rooms.set(keyOf(record.tenantId, record.name), room);
    return room;
  }

  /** REST commands for a conference hosted here (validated at the inbox); stale ones are logged and dropped. */
  async execute(command: ConferenceNodeCommand): Promise<void> {
    if (command.kind === 'conferenceAdmit') return this.admit(command);
    const { name, conferenceId } = command.payload;
    const room = this.rooms.get(keyOf(command.tenantId, name));
    const log = { conference: name, conferenceId, commandId: command.commandId, kind: command.kind };
    if (!room || room.ref.conferenceId !== conferenceId || room.isEnding) {
      this.o.logger.info(log, 'conference command ignored: the conference is not hosted here (it ended)');
      return;
    }
    switch (command.kind) {
      case 'conferenceUpdate': {
        const { participantId, muted, deaf } = command.payload;
        if (!room.update(participantId, { muted, deaf })) this.ignored(log, participantId);
        return;
      }
      case 'conferenceKick':
        if (!room.kick(command.payload.participantId)) this.ignored(log, command.payload.participantId);
        return;
      case 'conferenceEnd':
        await room.end('ended');
        return;
      case 'conferenceStartRecording':
        if (!(await room.startRecording(command.payload.fileName, command.payload.notify))) {
          this.o.logger.info(log, 'conference startrecording ignored: already recording, or it failed');
        }
        return;
      case 'conferenceStopRecording':
        await room.stopRecording();
        return;
    }
  }

  /**
   * A participant on another node asks to join a conference hosted here: its leg is admitted on the relay (its
   * token, from its node's advertised relay address only) and it joins the room like a local participant. The
   * answer goes over the relay: the room's journal entries and events, then the result, or `gone` when the
   * conference is not (or no longer) hosted here.
   */
  private async admit(command: Extract<ConferenceNodeCommand, { kind: 'conferenceAdmit' }>): Promise<void> {
    const p = command.payload;
    const log = { conference: p.name, participantId: p.participantId, node: p.nodeId, commandId: command.commandId };
    const remote = this.o.remote;
    if (!remote) {
      this.o.logger.warn(log, 'conference admission ignored: this node has no conference relay');
      return;
    }
    // The inbox is trusted, but the mix goes only where the participant's node says, in its own heartbeat.
    const advertised = await remote.hosts.relayOf(p.nodeId);
    if (!advertised || advertised.host !== p.relay.host || advertised.port !== p.relay.port) {
      this.o.logger.warn({ ...log, relay: p.relay, advertised }, 'conference admission refused: not the node relay');
      return;
    }
    const participant = new RemoteParticipant(
      remote.relay,
      { ...p, tenantId: command.tenantId },
      this.o.logger.child({ conference: p.name }),
      remote.legSilenceMs,
    );
    const room = this.rooms.get(keyOf(command.tenantId, p.name));
    if (!room || room.ref.conferenceId !== p.conferenceId || room.isEnding) {
      this.o.logger.info(log, 'conference admission: the conference is not hosted here (it ended)');
      participant.finish(undefined);
      return;
    }
    if (!remote.relay.legs.add(p.token, participant)) {
      this.o.logger.warn(log, 'conference admission refused: the leg token is in use');
      return;
    }
    participant.start();
    const spec: ConferenceSpec = { name: p.name, muted: p.muted, deaf: p.deaf, beep: p.beep, endOnExit: p.endOnExit };
    void room.join(spec, participant.run).then(
      (result) => participant.finish(result),
      (err) => {
        this.o.logger.error({ ...log, err }, 'remote participant join failed');
        participant.finish({ reason: 'failed', durationMs: 0, error: (err as Error).message });
      },
    );
  }

  private ignored(log: Record<string, unknown>, participantId: string): void {
    this.o.logger.info({ ...log, participantId }, 'conference command ignored: the participant has left');
  }

  /** Ends every conference hosted here (the node stops): participants leave, items are removed. */
  async endAll(): Promise<void> {
    await Promise.all([...this.rooms.values()].map((r) => r.end('ended')));
  }
}

function keyOf(tenantId: string, name: string): string {
  return `${tenantId}\u0000${name}`;
}
