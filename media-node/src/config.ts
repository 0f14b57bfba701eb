import { hostname } from 'node:os';
import { CommonEnv, envInt, loadConfig } from '@sipms/shared/config';
import { randomId } from '@sipms/shared/util/ids';
import { z } from 'zod';

const MediaNodeEnv = z
  .object({
    ...CommonEnv,
    NODE_ID: z
      .string()
      .min(1)
      .default(`${hostname()}-${randomId('', 6)}`),
    SIGNALING: z.enum(['builtin', 'drachtio']).default('builtin'),
    SIP_HOST: z.string().min(1).default('127.0.0.1'),
    SIP_PORT: envInt(5060, 1, 65535),
    /** The address put in Via/Contact and SDP when the node is behind NAT (EC2 public IP). */
    SIP_ADVERTISED_HOST: z.string().optional(),
    SIP_ADVERTISED_PORT: z.string().regex(/^\d+$/).optional(),
    /** Comma list of udp, tcp, tls (TLS also needs SIP_TLS_CERT and SIP_TLS_KEY, PEM file paths). */
    SIP_TRANSPORTS: z
      .string()
      .regex(/^(udp|tcp|tls)(,(udp|tcp|tls))*$/, 'comma list of udp, tcp, tls')
      .optional(),
    SIP_TLS_CERT: z.string().optional(),
    SIP_TLS_KEY: z.string().optional(),
    SIP_TLS_PORT: z.string().regex(/^\d+$/).optional(),
    /** SIGNALING=drachtio: drachtio-server's control socket (host:port) and its secret. */
    DRACHTIO_ADDRESS: z.string().optional(),
    DRACHTIO_SECRET: z.string().optional(),
    /** Text-to-speech: espeak-ng on this machine, or Amazon Polly (AWS). */
    TTS_ENGINE: z.enum(['espeak', 'polly']).default('espeak'),
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
    /** Where rtpengine sends DTMF events; 0 picks a free port (a managed rtpengine is told which). */
    DTMF_LOG_PORT: envInt(0, 0, 65535),
    /** Where rtpengine writes recordings (pcap); default <RUN_DIR>/recordings for a managed rtpengine. */
    RECORDING_DIR: z.string().optional(),
    /** `true`: this process runs and supervises rtpengine; `false`: one is already running at RTPENGINE_NG_PORT. */
    RTPENGINE_MANAGED: z.enum(['true', 'false']).default('true'),
    EVENT_BUS_NAME: z.string().min(1).default('default'),
    /** Calls this node accepts at once; the registry steers outbound calls to nodes with room. */
    MAX_CALLS: envInt(200, 1, 100_000),
    /** How often the node reads its inbox of REST commands: the latency/cost trade-off of live-call control. */
    INBOX_POLL_MS: envInt(100, 10, 10_000),
    /** Delays (ms) between reads of a callback's reply: the latency/cost setting of the callback path. */
    REPLY_POLL_SCHEDULE_MS: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma list of milliseconds')
      .transform((v) => v.split(',').map(Number))
      .optional(),
    CACHE_DIR: z.string().min(1),
    /** Set on AWS media nodes (the ASG's termination hook): the node drains before it is removed. */
    ASG_LIFECYCLE_HOOK_NAME: z.string().min(1).optional(),
    /** Upper bound on draining (waiting for calls to end) before termination or shutdown. */
    DRAIN_TIMEOUT_MS: envInt(600_000, 0, 7_200_000),
    RUN_DIR: z.string().min(1),
  })
  .refine((c) => c.RTP_PORT_MIN < c.RTP_PORT_MAX, {
    message: 'RTP_PORT_MIN must be below RTP_PORT_MAX',
    path: ['RTP_PORT_MIN'],
  });

export type MediaNodeConfig = z.infer<typeof MediaNodeEnv>;

export function loadMediaNodeConfig(env: NodeJS.ProcessEnv = process.env): Readonly<MediaNodeConfig> {
  return loadConfig(MediaNodeEnv, env);
}
