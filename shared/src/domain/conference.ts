/**
 * A conference as the table records it (docs/conferences.md): one per tenant and name, hosted by one media
 * node. The host writes it; the API reads it to answer `GET …/conference/{name}` and to find the host for
 * REST commands. `conferenceId` names this instance: a later conference of the same name gets a new one,
 * so writes meant for an ended instance never touch its successor.
 */
export interface ConferenceRecord {
  tenantId: string;
  name: string;
  conferenceId: string;
  hostNodeId: string;
  createdAt: string;
  maxParticipants: number;
  participants: Record<string, ConferenceMemberRecord>;
  /** The mix being recorded (REST startrecording with conferenceName). */
  recording?: { fileName: string; startedAt: string } | undefined;
}

export interface ConferenceMemberRecord {
  sessionId: string;
  /** The media node that holds the participant's call. */
  nodeId: string;
  muted: boolean;
  deaf: boolean;
  joinedAt: string;
}

/** One instance of a conference, as every write after the creation names it. */
export interface ConferenceRef {
  tenantId: string;
  name: string;
  conferenceId: string;
}
