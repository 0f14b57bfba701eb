import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { CommonEnv, envInt, loadConfig, parsedSetting } from '@sipms/shared/config';
import { parseOutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import { randomId } from '@sipms/shared/util/ids';
import { z } from 'zod';
import { parseEmfTarget } from './observability/emf-publisher.js';
import { parseHostPort } from './observability/hep.js';
import { isWildcardHost } from './observability/metrics-server.js';

const SIP_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type SipTransport = (typeof SIP_TRANSPORTS)[number];

/** An optional port setting, as a number. */
const optionalPort = z
  .string()
  .regex(/^\d+$/, 'a port number')
  .transform(Number)
  .pipe(z.number().int().max(65535, 'a port number'))
  .optional();

const MediaNodeEnv = z
  .object({
    ...CommonEnv,
    NODE_ID: z
      .string()
      .min(1)
      .default(`${hostname()}-${randomId('', 6)}`),
    SIGNALING: z.enum(['builtin', 'drachtio']).default('builtin'),
    /**
     * Where tenants' calls may go (docs/security.md): `*`, number prefixes, SIP domains. Unset: nowhere
     * (the single-machine deployment passes its own default, `*`).
     */
    OUTBOUND_DESTINATIONS: parsedSetting(parseOutboundDestinations),
    SIP_HOST: z.string().min(1).default('127.0.0.1'),
    SIP_PORT: envInt(5060, 1, 65535),
    /** The address put in Via/Contact and SDP when the node is behind NAT (EC2 public IP). */
    SIP_ADVERTISED_HOST: z.string().optional(),
    SIP_ADVERTISED_PORT: optionalPort,
    /**
     * Comma list of udp, tcp, tls (UDP is always on; default udp,tcp, plus tls when SIP_TLS_CERT is set).
     * TLS also needs SIP_TLS_CERT and SIP_TLS_KEY, PEM file paths read once at start-up (see `sipTls`).
     */
    SIP_TRANSPORTS: z
      .string()
      .regex(/^(udp|tcp|tls)(,(udp|tcp|tls))*$/, 'comma list of udp, tcp, tls')
      .transform((v) => [...new Set(v.split(',') as SipTransport[])])
      .optional(),
    SIP_TLS_CERT: z.string().min(1).optional(),
    SIP_TLS_KEY: z.string().min(1).optional(),
    /** Default 5061. */
    SIP_TLS_PORT: optionalPort,
    /**
     * New INVITEs per second one source IP may send (a token bucket; 0 turns the limit off). Over it
     * the node answers 503 with Retry-After; a source that keeps going is dropped. A carrier sends all
     * of its calls from few addresses: set this above its busiest second (docs/sip.md).
     */
    SIP_INVITE_RATE_PER_SOURCE: envInt(50, 0, 100_000),
    /** How many INVITEs one source may send at once (the bucket's size); default twice the rate. */
    SIP_INVITE_BURST_PER_SOURCE: z
      .string()
      .regex(/^\d+$/, 'a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(1_000_000))
      .optional(),
    /**
     * SIP over WebSocket (RFC 7118) for the console's softphone (docs/softphone.md): the port browsers connect to,
     * `off` (the default) for none, 0 for any free port. Every connection must carry a softphone credential.
     */
    SIP_WS_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default('off'),
    /** `true`: WSS with the SIP TLS certificate (SIP_TLS_CERT/KEY), as browsers on an https page need; `false`: WS. */
    SIP_WS_SECURE: z.enum(['true', 'false']).default('false'),
    /** TCP/TLS connections one IP address may hold open to the node (builtin signaling), besides the global cap. */
    SIP_MAX_CONNECTIONS_PER_ADDRESS: envInt(64, 1, 100_000),
    /**
     * RFC 4028 session timers (builtin signaling, docs/sip.md): the session interval in seconds the node
     * asks for and applies to every call, so that a peer that vanishes without BYE loses its call
     * within it. Default 1800.
     */
    SESSION_EXPIRES_SEC: envInt(1800, 2, 86_400),
    /**
     * The smallest session interval accepted; a shorter Session-Expires gets 422 with this Min-SE.
     * Default 90, the RFC's floor; values below 90 are for tests only (down to 2 s).
     */
    SESSION_MIN_SE_SEC: envInt(90, 2, 86_400),
    /**
     * HEP v3 capture (builtin signaling, docs/operations.md): a copy of every SIP message sent and received
     * goes to this Homer collector, host:port over UDP (heplify-server's HEPAddr). Unset: no capture.
     */
    HEP_ADDRESS: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        try {
          return parseHostPort(v);
        } catch (err) {
          ctx.issues.push({ code: 'custom', message: (err as Error).message, input: v });
          return z.NEVER;
        }
      }),
    /** The HEP capture agent id this node's packets carry. */
    HEP_CAPTURE_ID: envInt(2001, 0, 0xffff_ffff),
    /** Sent in every HEP packet as its auth key, for a collector that checks one. */
    HEP_PASSWORD: z.string().min(1).optional(),
    /** SIGNALING=drachtio: drachtio-server's control socket (host:port) and its secret. */
    DRACHTIO_ADDRESS: z.string().optional(),
    DRACHTIO_SECRET: z.string().optional(),
    /** Text-to-speech: espeak-ng on this machine, or Amazon Polly (AWS). */
    TTS_ENGINE: z.enum(['espeak', 'polly']).default('espeak'),
    /** Polly (TTS_ENGINE=polly): the voice, engine and language of a phrase that names none (the stack's context). */
    POLLY_VOICE_ID: z
      .string()
      .regex(/^[A-Z][A-Za-z-]+$/, 'a Polly voice id, e.g. Joanna')
      .default('Joanna'),
    POLLY_ENGINE: z.enum(['standard', 'neural', 'generative', 'long-form']).optional(),
    POLLY_LANGUAGE_CODE: z
      .string()
      .regex(/^[a-z]{2,3}-[A-Z]{2}$/, 'a language code, e.g. en-US')
      .default('en-US'),
    /** Opens tenants' trunk passwords: a KMS key (AWS) or a 32-byte base64 key (one machine). */
    SECRETS_KMS_KEY_ID: z.string().optional(),
    SECRETS_KEY: z.string().optional(),
    RTP_HOST: z.string().optional(),
    RTP_PORT_MIN: envInt(30000, 1024, 65535),
    RTP_PORT_MAX: envInt(30999, 1024, 65535),
    RTPENGINE_BIN: z.string().default('rtpengine'),
    RTPENGINE_NG_PORT: envInt(22222, 1, 65535),
    /** rtpengine's forwarding table: -1 userspace (works everywhere), 0 in-kernel where the module loads. */
    RTPENGINE_TABLE: z.coerce.number().int().min(-1).max(63).default(-1),
    /**
     * A managed rtpengine's worker threads. Default: the cores the node's own event loop leaves (cores − 1, at
     * least 1). rtpengine's own default (one per core, at least four) oversubscribes a small machine and
     * contends with the node: on two cores, one thread instead of four cut rtpengine's CPU per stream by a
     * third in `npm run bench:streams` (docs/streams.md).
     */
    RTPENGINE_THREADS: envInt(Math.max(1, availableParallelism() - 1), 1, 256),
    /** Where rtpengine sends DTMF events; 0 picks a free port (a managed rtpengine is told which). */
    DTMF_LOG_PORT: envInt(0, 0, 65535),
    /** Where rtpengine writes recordings (pcap); default <RUN_DIR>/recordings for a managed rtpengine. */
    RECORDING_DIR: z.string().optional(),
    /**
     * The largest WAV one recording makes (bytes, header included); default an hour at 8 kHz 16-bit
     * (57,600,044). A recording is also never longer than the wall-clock time it ran.
     */
    RECORDING_MAX_BYTES: envInt(44 + 3600 * 8000 * 2, 44 + 16_000, 2 ** 32 - 1),
    /**
     * A call whose caller sends no RTP or RTCP for this long (seconds) ends with reason `mediaTimeout`, in
     * IVR and bridged; a caller on hold (SDP sendonly or inactive) is exempt (docs/ivr.md).
     */
    MEDIA_TIMEOUT_SEC: envInt(60, 1, 86_400),
    /** Audio streams (docs/streams.md): streams one tenant may run on this node at once. */
    STREAM_MAX_PER_TENANT: envInt(20, 1, 10_000),
    /** Audio streams: the bot's audio the node queues ahead of playing it, seconds; more ends the stream. */
    STREAM_MAX_QUEUE_SEC: envInt(60, 1, 600),
    /**
     * Conferences (docs/conferences.md): the most participants one conference may have on this deployment. A
     * `conference` command's maxParticipants (default 50) is capped at it.
     */
    CONFERENCE_MAX_PARTICIPANTS: envInt(100, 2, 1000),
    /**
     * The conference relay (docs/conferences.md, "Across nodes"): one UDP socket for the legs between media
     * nodes, on the node's private address (default RTP_HOST, else SIP_HOST); port 0 takes any free port. The
     * heartbeat advertises the address bound. `off`: no relay, a caller on another node than the host is
     * refused with hostElsewhere.
     */
    CONFERENCE_RELAY_HOST: z.string().min(1).optional(),
    CONFERENCE_RELAY_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(0),
    /** `true`: this process runs and supervises rtpengine; `false`: one is already running at RTPENGINE_NG_PORT. */
    RTPENGINE_MANAGED: z.enum(['true', 'false']).default('true'),
    EVENT_BUS_NAME: z.string().min(1).default('default'),
    /** Calls this node accepts at once; the registry steers outbound calls to nodes with room. */
    MAX_CALLS: envInt(200, 1, 100_000),
    /**
     * Overload (docs/operations.md, "Overload"): from this event-loop delay (ms, 95th percentile over a
     * second) the node refuses a share of new INVITEs with 503 and Retry-After, all of them at twice it. 0: off.
     */
    OVERLOAD_LOOP_DELAY_MS: envInt(500, 0, 60_000),
    /**
     * The same from this median platform share of callback round trips (ms: publish → outcome read, less the
     * tenant's webhook time): the bus, dispatcher or table is behind. 0: off.
     */
    OVERLOAD_CALLBACK_OVERHEAD_MS: envInt(1000, 0, 600_000),
    /**
     * The same from this share of idle CPU (%) on the machine down to none (FreeSWITCH's min-idle-cpu), for a
     * node that shares its machine with the dispatcher or other work. 0 (the default): off.
     */
    OVERLOAD_MIN_IDLE_CPU_PERCENT: envInt(0, 0, 99),
    /** How often the node reads its inbox of REST commands: the latency/cost trade-off of live-call control. */
    INBOX_POLL_MS: envInt(100, 10, 10_000),
    /**
     * Journal entries of all calls written together every this many ms (one BatchWriteItem of up to 25
     * instead of one PutItem each), a session's entries of one batch in one item; a session's entries are
     * stored before its sessionCompleted is sent. 0: each entry is written at once. An IVR call's six
     * entries took 4.9 items at 20 ms, 3.3 at 100 (entries then show up to 100 ms after their event).
     */
    JOURNAL_BATCH_MS: envInt(20, 0, 1000),
    /** How long the node keeps a found inbound route (number or domain → tenant); a released number may route that long. */
    ROUTING_CACHE_MS: envInt(2000, 0, 60_000),
    /** Delays (ms) between reads of a callback's reply: the latency/cost setting of the callback path. */
    REPLY_POLL_SCHEDULE_MS: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma list of milliseconds')
      .transform((v) => v.split(',').map(Number))
      .optional(),
    CACHE_DIR: z.string().min(1),
    /**
     * The byte budget of the node's cached audio under CACHE_DIR (converted prompts, speech, URL audio,
     * silence, tones), least recently used first; default 2 GiB.
     */
    AUDIO_CACHE_MAX_BYTES: envInt(2 * 1024 ** 3, 1024 ** 2, Number.MAX_SAFE_INTEGER),
    /** The part of AUDIO_CACHE_MAX_BYTES (0 to 1) past which a tenant's cached audio is evicted first. */
    AUDIO_CACHE_TENANT_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
    /** Set on AWS media nodes (the ASG's termination hook): the node drains before it is removed. */
    ASG_LIFECYCLE_HOOK_NAME: z.string().min(1).optional(),
    /** Upper bound on draining (waiting for calls to end) before termination or shutdown. */
    DRAIN_TIMEOUT_MS: envInt(600_000, 0, 7_200_000),
    /**
     * Prometheus `GET /metrics` (docs/operations.md, "Metrics"): the address it listens on, for loopback or the
     * VPC only (no authentication). A wildcard (0.0.0.0, ::) is refused unless METRICS_PUBLIC=true.
     */
    METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    /** Its TCP port; 0 turns the endpoint off. */
    METRICS_PORT: envInt(9464, 0, 65535),
    /** `true`: METRICS_HOST may be a wildcard (every interface); only behind a firewall or security group. */
    METRICS_PUBLIC: z.enum(['true', 'false']).default('false'),
    /**
     * The node's metrics as CloudWatch embedded-metric-format records (docs/operations.md, "Node metrics on
     * CloudWatch (EMF)"): `off` (default), `stdout`, or `file:<absolute path>` (AWS nodes: a file the CloudWatch
     * agent ships to a log group). Read from the same registry as /metrics, whether or not METRICS_PORT is 0.
     */
    METRICS_EMF: parsedSetting(parseEmfTarget, 'off'),
    /** One EMF record every this many ms (default 60000: one per node per minute, CloudWatch's resolution). */
    METRICS_EMF_INTERVAL_MS: envInt(60_000, 1000, 3_600_000),
    /**
     * The deployment's stage: the Stage dimension of the EMF records (the fleet's series are per stage, so two
     * deployments in one account and region keep apart). The stack passes its stage; one machine is `local`.
     */
    STAGE: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a stage name: lower-case letters, digits and -')
      .default('local'),
    RUN_DIR: z.string().min(1),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (c.RTP_PORT_MIN >= c.RTP_PORT_MAX) issue('RTP_PORT_MIN', 'RTP_PORT_MIN must be below RTP_PORT_MAX');
    if (c.METRICS_PORT !== 0 && c.METRICS_PUBLIC !== 'true' && isWildcardHost(c.METRICS_HOST)) {
      issue('METRICS_HOST', METRICS_ON_EVERY_INTERFACE);
    }
    if (c.SESSION_MIN_SE_SEC > c.SESSION_EXPIRES_SEC) {
      issue('SESSION_MIN_SE_SEC', 'SESSION_MIN_SE_SEC must not exceed SESSION_EXPIRES_SEC');
    }
    if (c.SIGNALING === 'drachtio') {
      if (!c.DRACHTIO_ADDRESS) issue('DRACHTIO_ADDRESS', 'DRACHTIO_ADDRESS is required when SIGNALING=drachtio');
      if (!c.DRACHTIO_SECRET) issue('DRACHTIO_SECRET', 'DRACHTIO_SECRET is required when SIGNALING=drachtio');
      if (c.HEP_ADDRESS) issue('HEP_ADDRESS', HEP_WITH_DRACHTIO);
      if (c.SIP_WS_PORT !== 'off') issue('SIP_WS_PORT', 'SIP over WebSocket works with SIGNALING=builtin only');
    } else if (c.SIP_WS_PORT !== 'off' && c.SIP_WS_SECURE === 'true' && !wantsTls(c)) {
      issue('SIP_WS_SECURE', 'WSS uses the SIP TLS certificate: set SIP_TLS_CERT and SIP_TLS_KEY (and keep tls on)');
    } else if (wantsTls(c) && !(c.SIP_TLS_CERT && c.SIP_TLS_KEY)) {
      issue(c.SIP_TLS_CERT ? 'SIP_TLS_KEY' : 'SIP_TLS_CERT', 'TLS needs both SIP_TLS_CERT and SIP_TLS_KEY');
    }
  })
  .transform((c, ctx): typeof c & DerivedSettings => {
    const sipTransports: SipTransport[] = c.SIP_TRANSPORTS ?? (wantsTls(c) ? ['udp', 'tcp', 'tls'] : ['udp', 'tcp']);
    const rate = c.SIP_INVITE_RATE_PER_SOURCE;
    const sipInviteRateLimit =
      rate === 0 ? undefined : { perSecond: rate, burst: c.SIP_INVITE_BURST_PER_SOURCE ?? rate * 2 };
    const derived = { sipTransports, ...(sipInviteRateLimit ? { sipInviteRateLimit } : {}) };
    if (c.SIGNALING !== 'builtin' || !sipTransports.includes('tls')) return { ...c, ...derived };
    const read = (name: 'SIP_TLS_CERT' | 'SIP_TLS_KEY'): Buffer => {
      try {
        return readFileSync(c[name]!);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: [name], message: `cannot read ${c[name]}: ${(err as Error).message}` });
        return Buffer.alloc(0);
      }
    };
    const sipTls = {
      cert: read('SIP_TLS_CERT'),
      key: read('SIP_TLS_KEY'),
      ...(c.SIP_TLS_PORT === undefined ? {} : { port: c.SIP_TLS_PORT }),
    };
    return { ...c, ...derived, sipTls };
  });

/** drachtio-server owns the SIP sockets with SIGNALING=drachtio, so it is the one that can capture. */
const HEP_WITH_DRACHTIO =
  'HEP_ADDRESS works with SIGNALING=builtin only: with drachtio, drachtio-server sends HEP itself; configure it there ' +
  '(drachtio --homer host:port --homer-id <id>, <capture-server> under <sip> in drachtio.conf.xml, ' +
  'or DRACHTIO_HOMER_ADDRESS / DRACHTIO_HOMER_PORT / DRACHTIO_HOMER_ID) and unset HEP_ADDRESS';

/** /metrics has no authentication: it is for loopback or the VPC, never the internet. */
const METRICS_ON_EVERY_INTERFACE =
  'METRICS_HOST is a wildcard: /metrics would listen on every interface without authentication; set METRICS_HOST ' +
  'to 127.0.0.1 or the private address scrapers reach, or METRICS_PUBLIC=true behind a firewall, or METRICS_PORT=0';

/** Settings the schema derives from the environment's values. */
interface DerivedSettings {
  /** The transports the builtin signaling listens on, TLS included when on (drachtio-server has its own). */
  sipTransports: SipTransport[];
  /** SIGNALING=builtin with TLS on: the certificate and key (PEM) read once at start-up, and SIP_TLS_PORT. */
  sipTls?: { cert: Buffer; key: Buffer; port?: number };
  /** SIP_INVITE_RATE_PER_SOURCE and its burst; absent when the rate is 0 (no limit). */
  sipInviteRateLimit?: { perSecond: number; burst: number };
}

/** TLS is wanted when listed, or when SIP_TRANSPORTS is unset and a certificate is given. */
function wantsTls(c: { SIP_TRANSPORTS?: SipTransport[] | undefined; SIP_TLS_CERT?: string | undefined }): boolean {
  return c.SIP_TRANSPORTS ? c.SIP_TRANSPORTS.includes('tls') : c.SIP_TLS_CERT !== undefined;
}

/** The media node's settings, parsed once: the environment's values plus what is derived from them. */
export type MediaNodeConfig = z.infer<typeof MediaNodeEnv>;

export function loadMediaNodeConfig(env: NodeJS.ProcessEnv = process.env): Readonly<MediaNodeConfig> {
  return loadConfig(MediaNodeEnv, env);
}
