import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type { Tracer } from '@sipms/shared/observability/tracing';
import type { Logger } from '@sipms/shared/util/logger';
import type { AudioSources, SessionRepository, TenantDirectory, UsageMeter } from '../../ports/call-data.js';
import type { CallbackPort } from '../../ports/callbacks.js';
import type { ConferencePort } from '../../ports/conferences.js';
import type { MediaPort } from '../../ports/media.js';
import type { CallMetrics } from '../../ports/metrics.js';
import type { SignalingPort } from '../../ports/signaling.js';
import type { SipMessageLog } from '../../ports/sip-messages.js';
import type { StreamPort } from '../../ports/streams.js';
import type { IvrLoopInput } from '../ivr/ivr-loop.js';
import type { CallLimits } from '../limits/call-limits.js';
import type { TenantProfiles } from '../limits/tenant-profiles.js';
import type { LiveSessions } from '../live/live-sessions.js';

/** The ports and node services every call flow works with (wired by the media node's composition root). */
export interface FlowDeps {
  nodeId: string;
  tenants: TenantDirectory;
  /** The node's copies of tenant profiles, for new inbound calls. */
  profiles: Pick<TenantProfiles, 'inbound' | 'profile'>;
  sessions: SessionRepository;
  media: MediaPort;
  callbacks: CallbackPort;
  audio: AudioSources;
  live: LiveSessions;
  signaling: Pick<SignalingPort, 'placeCall'>;
  limits: Pick<CallLimits, 'acquire' | 'admitInbound' | 'release'>;
  usage: UsageMeter;
  secrets: SecretBox | undefined;
  logger: Logger;
  /** Calls started and ended, DTMF → next prompt (none: NO_METRICS). */
  metrics?: CallMetrics;
  /** Each session's span and its callbacks' (none: ids and traceparents only). */
  tracer?: Tracer;
  /** Each leg's SIP messages, journaled as its ladder when it ends (none: drachtio, which captures on its own). */
  sipMessages?: SipMessageLog | undefined;
  /** The outbound address policy, for the media addresses of called parties' SDP (none: not checked). */
  destinationPolicy?: (address: string) => string | undefined;
  /**
   * The operator's allow-lists of where a tenant's calls may go (deployment and tenant): why a call to
   * `destination` may not be placed, or undefined when it may (none: anything).
   */
  destinationAllowed?: (destination: string, tenant: TenantRecord) => string | undefined;
  /** Audio streams to tenants' bots (none: `stream` commands fail with ivrFailed). */
  streams?: StreamPort | undefined;
  /** Conferences (none: `conference` commands fail with ivrFailed). */
  conferences?: ConferencePort | undefined;
  /** Why a new inbound call is refused for the node's load now (OverloadGuard), or undefined; none: never. */
  overload?: { refusal(): string | undefined } | undefined;
}

/** What the IVR loop of a participant takes from the flow's ports (inbound and outbound alike). */
export function ivrLoopInput(
  deps: FlowDeps,
  participant: IvrLoopInput['participant'],
  dialog: IvrLoopInput['dialog'],
  leg: IvrLoopInput['leg'],
): IvrLoopInput {
  return {
    participant,
    dialog,
    leg,
    audio: deps.audio,
    live: deps.live,
    usage: deps.usage,
    metrics: deps.metrics,
    streams: deps.streams,
    conferences: deps.conferences,
  };
}
