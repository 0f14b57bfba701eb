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
    RTP_HOST: z.string().optional(),
    RTP_PORT_MIN: envInt(30000, 1024, 65535),
    RTP_PORT_MAX: envInt(30999, 1024, 65535),
    RTPENGINE_BIN: z.string().default('rtpengine'),
    RTPENGINE_NG_PORT: envInt(22222, 1, 65535),
    /** `true`: this process runs and supervises rtpengine; `false`: one is already running at RTPENGINE_NG_PORT. */
    RTPENGINE_MANAGED: z.enum(['true', 'false']).default('true'),
    EVENT_BUS_NAME: z.string().min(1).default('default'),
    CACHE_DIR: z.string().min(1),
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
