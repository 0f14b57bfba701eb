import type { ConferenceResult } from '@sipms/shared/contracts/callbacks';
import type { ConferenceSpec } from '@sipms/shared/contracts/ivr-command';
import type { ConferenceAdmitPayload } from '@sipms/shared/contracts/node-commands';
import type { ConferenceMemberRecord, ConferenceRecord, ConferenceRef } from '@sipms/shared/domain/conference';
import type { AudioTap } from './media.js';

/** One participant's `conference` command, as the IVR core hands it over (docs/conferences.md). */
export interface ConferenceRun {
  /** Opens the participant's audio tap; called only once the participant is admitted. Throws when it cannot. */
  openTap(): AudioTap;
  /** Aborted when the participant must leave: interruptivrcommand, /connect, or its call ended. */
  signal: AbortSignal;
  /** Aborted when the participant's call ended (so a leave is reported as a hang-up, not an interrupt). */
  callEnded: AbortSignal;
  ids: { tenantId: string; sessionId: string; participantId: string };
  /** The node holding the participant's call when it is not this one (a participant joined across nodes). */
  nodeId?: string;
  journal(entry: Record<string, unknown>): void;
  /** callNotify to the participant's own session: conferenceJoined / conferenceLeft. */
  notify(event: 'conferenceJoined' | 'conferenceLeft', fields: { name: string; count: number; reason?: string }): void;
}

/** Conferences on this node: the mixer and the hosting model (media-node/src/conference). */
export interface ConferencePort {
  /** Joins the participant and resolves when it has left; never throws (a refusal is a result with its reason). */
  join(spec: ConferenceSpec, run: ConferenceRun): Promise<ConferenceResult>;
}

/**
 * Where conferences are recorded (the table, shared/src/data/conference-store.ts) and whether a node is live
 * (the node registry). Every write returns false when its condition did not hold (see ConferenceStore).
 */
export interface ConferenceDirectory {
  create(record: ConferenceRecord): Promise<boolean>;
  get(tenantId: string, name: string): Promise<ConferenceRecord | undefined>;
  replace(record: ConferenceRecord, previousConferenceId: string): Promise<boolean>;
  putMember(at: ConferenceRef, participantId: string, member: ConferenceMemberRecord): Promise<boolean>;
  updateMember(
    at: ConferenceRef,
    participantId: string,
    change: { muted?: boolean | undefined; deaf?: boolean | undefined },
  ): Promise<boolean>;
  removeMember(at: ConferenceRef, participantId: string): Promise<boolean>;
  setRecording(at: ConferenceRef, recording: { fileName: string; startedAt: string } | undefined): Promise<boolean>;
  remove(at: ConferenceRef): Promise<boolean>;
  /** The node's heartbeat is fresh (it can host). */
  nodeAlive(nodeId: string): Promise<boolean>;
}

/** The other media nodes, as a participant joining a conference hosted on one of them needs them. */
export interface ConferenceHosts {
  /** The conference relay address a live node advertises; undefined when it is not live or has none. */
  relayOf(nodeId: string): Promise<{ host: string; port: number } | undefined>;
  /** Hands an admission request to the host node's inbox. */
  admit(hostNodeId: string, tenantId: string, payload: ConferenceAdmitPayload): Promise<void>;
  /** The node's heartbeat is fresh. */
  alive(nodeId: string): Promise<boolean>;
}
