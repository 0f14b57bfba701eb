import { z } from 'zod';

/**
 * SOFTPHONE_WS_URL: where browsers reach the deployment's SIP WebSocket transport (ws:// locally, wss:// on AWS).
 * Checked once at start-up; unset, the softphone route answers 503 rather than handing out an unusable credential.
 * A trailing slash is dropped because the browser appends `/?token=…` itself.
 */
export const SoftphoneWsUrl = z
  .url({ protocol: /^wss?$/, error: 'a ws:// or wss:// URL' })
  .refine((v) => !/[?#]/.test(v), 'a ws:// or wss:// URL without a query or fragment')
  .transform((v) => v.replace(/\/+$/, ''))
  .optional();

/** The 503's message, as the softphone contract words it. */
export const SOFTPHONE_UNAVAILABLE = 'the softphone needs SOFTPHONE_WS_URL (WSS on AWS needs sipTlsCertificate)';
