/**
 * The one place that picks the signaling adapter (ARCHITECTURE.md: "SIP signaling: one port, two
 * adapters"). The composition root calls it with typed options; `signalingOptionsFromEnv` maps the
 * environment variables documented in docs/sip.md onto them.
 */

import { readFileSync } from 'node:fs';
import type { SignalingPort } from '../ports/signaling.js';
import { BuiltinSignaling, type BuiltinSignalingOptions } from './builtin/builtin-signaling.js';
import { DrachtioSignaling, type DrachtioSignalingOptions } from './drachtio/drachtio-signaling.js';

export type SignalingOptions =
  | ({ kind: 'builtin' } & BuiltinSignalingOptions)
  | ({ kind: 'drachtio' } & DrachtioSignalingOptions);

export function createSignaling(options: SignalingOptions): SignalingPort {
  if (options.kind === 'drachtio') {
    const { kind: _kind, ...rest } = options;
    return new DrachtioSignaling(rest);
  }
  const { kind: _kind, ...rest } = options;
  return new BuiltinSignaling(rest);
}

/**
 * Environment → options. SIGNALING=builtin|drachtio (default builtin). Builtin: SIP_HOST,
 * SIP_PORT, SIP_TRANSPORTS (comma list of udp,tcp,tls; default udp,tcp), SIP_TLS_CERT / SIP_TLS_KEY
 * (PEM file paths; TLS is on when both are set and 'tls' is listed or SIP_TRANSPORTS is unset),
 * SIP_TLS_PORT (default 5061), SIP_ADVERTISED_HOST, SIP_ADVERTISED_PORT. Drachtio: DRACHTIO_ADDRESS
 * (host:port of drachtio-server's control socket), DRACHTIO_SECRET, SIP_ADVERTISED_HOST/PORT.
 * Throws an Error naming the variable when a value is invalid.
 */
export function signalingOptionsFromEnv(
  env: Record<string, string | undefined>,
  common: { logger?: BuiltinSignalingOptions['logger']; productName?: string } = {},
): SignalingOptions {
  const kind = env['SIGNALING'] ?? 'builtin';
  const advertisedHost = env['SIP_ADVERTISED_HOST'];
  const advertisedPort = optionalPort(env, 'SIP_ADVERTISED_PORT');
  if (kind === 'drachtio') {
    const address = env['DRACHTIO_ADDRESS'];
    const secret = env['DRACHTIO_SECRET'];
    if (!address) throw new Error('DRACHTIO_ADDRESS is required when SIGNALING=drachtio');
    if (!secret) throw new Error('DRACHTIO_SECRET is required when SIGNALING=drachtio');
    return {
      kind: 'drachtio',
      address,
      secret,
      ...(advertisedHost && advertisedPort ? { advertised: { host: advertisedHost, port: advertisedPort } } : {}),
      ...(common.logger ? { logger: common.logger } : {}),
    };
  }
  if (kind !== 'builtin') throw new Error(`SIGNALING must be builtin or drachtio, got ${kind}`);
  const transports = (env['SIP_TRANSPORTS'] ?? 'udp,tcp').split(',').map((t) => t.trim().toLowerCase());
  for (const t of transports)
    if (!['udp', 'tcp', 'tls'].includes(t)) throw new Error(`SIP_TRANSPORTS: unknown transport ${t}`);
  const cert = env['SIP_TLS_CERT'];
  const key = env['SIP_TLS_KEY'];
  const wantTls = transports.includes('tls') || (env['SIP_TRANSPORTS'] === undefined && cert !== undefined);
  if (wantTls && (!cert || !key)) throw new Error('TLS needs both SIP_TLS_CERT and SIP_TLS_KEY');
  const port = optionalPort(env, 'SIP_PORT');
  const tlsPort = optionalPort(env, 'SIP_TLS_PORT');
  return {
    kind: 'builtin',
    ...(env['SIP_HOST'] ? { bindHost: env['SIP_HOST'] } : {}),
    ...(port === undefined ? {} : { port }),
    transports: transports.filter((t): t is 'udp' | 'tcp' => t !== 'tls'),
    ...(wantTls && cert && key
      ? {
          tls: {
            cert: readFileSync(cert),
            key: readFileSync(key),
            ...(tlsPort === undefined ? {} : { port: tlsPort }),
          },
        }
      : {}),
    ...(advertisedHost ? { advertisedHost } : {}),
    ...(advertisedPort === undefined ? {} : { advertisedPort }),
    ...(common.logger ? { logger: common.logger } : {}),
    ...(common.productName ? { productName: common.productName } : {}),
  };
}

function optionalPort(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${name} must be a port number, got ${text}`);
  return port;
}
