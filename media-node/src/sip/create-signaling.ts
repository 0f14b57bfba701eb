/**
 * The one place that picks the signaling adapter: SIP goes through one port, SignalingPort, with two
 * adapters, built-in and drachtio (docs/sip.md). The composition root calls it with typed options;
 * `signalingOptionsFromConfig` builds them from the media node's parsed configuration.
 */

import { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { MediaNodeConfig } from '../config.js';
import type { SignalingPort } from '../ports/signaling.js';
import { BuiltinSignaling, type BuiltinSignalingOptions } from './builtin/builtin-signaling.js';
import type { WsAuthorizer } from './builtin/ws-transport.js';
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

/** The settings the signaling is built from: the media node's configuration, parsed and checked once. */
export type SignalingConfig = Pick<
  MediaNodeConfig,
  | 'SIGNALING'
  | 'SIP_HOST'
  | 'SIP_PORT'
  | 'SIP_ADVERTISED_HOST'
  | 'SIP_ADVERTISED_PORT'
  | 'sipTransports'
  | 'sipTls'
  | 'DRACHTIO_ADDRESS'
  | 'DRACHTIO_SECRET'
  | 'sipInviteRateLimit'
  | 'SIP_MAX_CONNECTIONS_PER_ADDRESS'
  | 'SIP_WS_PORT'
  | 'SIP_WS_SECURE'
  | 'SESSION_EXPIRES_SEC'
  | 'SESSION_MIN_SE_SEC'
  | 'CALLBACK_URL_POLICY'
  | 'OUTBOUND_ALLOW_CIDRS'
>;

/**
 * Configuration → options (the variables are documented in docs/sip.md and checked by config.ts).
 * Builtin: SIP_HOST, SIP_PORT, the transports (TLS with the certificate and key config.ts read),
 * SIP_ADVERTISED_HOST/PORT, SIP_INVITE_RATE_PER_SOURCE (+ burst), SIP_MAX_CONNECTIONS_PER_ADDRESS,
 * SESSION_EXPIRES_SEC and SESSION_MIN_SE_SEC (RFC 4028 session timers), SIP_WS_PORT and SIP_WS_SECURE (SIP over
 * WebSocket for browsers). Drachtio: DRACHTIO_ADDRESS, DRACHTIO_SECRET, SIP_ADVERTISED_HOST/PORT, SIP_INVITE_RATE_PER_SOURCE
 * (drachtio-server owns the connections).
 */
export function signalingOptionsFromConfig(
  config: SignalingConfig,
  common: {
    logger?: BuiltinSignalingOptions['logger'];
    productName?: string;
    /** HEP capture (builtin only: config.ts refuses HEP_ADDRESS with drachtio, whose server captures itself). */
    capture?: BuiltinSignalingOptions['capture'];
    /** Admits browsers' WebSocket connections (their softphone credential); required when SIP_WS_PORT is set. */
    authorizeWebSocket?: WsAuthorizer;
  } = {},
): SignalingOptions {
  const advertisedHost = config.SIP_ADVERTISED_HOST;
  const advertisedPort = config.SIP_ADVERTISED_PORT;
  if (config.SIGNALING === 'drachtio') {
    const { DRACHTIO_ADDRESS: address, DRACHTIO_SECRET: secret } = config;
    // The schema requires both with SIGNALING=drachtio; this only narrows the types.
    if (!address || !secret) throw new Error('SIGNALING=drachtio needs DRACHTIO_ADDRESS and DRACHTIO_SECRET');
    return {
      kind: 'drachtio',
      address,
      secret,
      ...(advertisedHost && advertisedPort ? { advertised: { host: advertisedHost, port: advertisedPort } } : {}),
      ...(config.sipInviteRateLimit ? { inviteRateLimit: config.sipInviteRateLimit } : {}),
      ...(common.logger ? { logger: common.logger } : {}),
    };
  }
  let webSocket: BuiltinSignalingOptions['webSocket'];
  if (config.SIP_WS_PORT !== 'off') {
    if (!common.authorizeWebSocket) throw new Error('SIP_WS_PORT is set but nothing can check softphone credentials');
    webSocket = {
      port: config.SIP_WS_PORT,
      secure: config.SIP_WS_SECURE === 'true',
      authorize: common.authorizeWebSocket,
    };
  }
  return {
    kind: 'builtin',
    bindHost: config.SIP_HOST,
    port: config.SIP_PORT,
    transports: config.sipTransports.filter((t): t is 'udp' | 'tcp' => t !== 'tls'),
    ...(config.sipTls ? { tls: config.sipTls } : {}),
    ...(advertisedHost ? { advertisedHost } : {}),
    ...(advertisedPort === undefined ? {} : { advertisedPort }),
    ...(config.sipInviteRateLimit ? { inviteRateLimit: config.sipInviteRateLimit } : {}),
    maxConnectionsPerAddress: config.SIP_MAX_CONNECTIONS_PER_ADDRESS,
    sessionExpiresSec: config.SESSION_EXPIRES_SEC,
    sessionMinSeSec: config.SESSION_MIN_SE_SEC,
    // The one outbound address policy of the deployment (shared/src/net/address-policy.ts).
    destinationPolicy: destinationPolicyOf(config),
    ...(common.logger ? { logger: common.logger } : {}),
    ...(common.productName ? { productName: common.productName } : {}),
    ...(common.capture ? { capture: common.capture } : {}),
    ...(webSocket ? { webSocket } : {}),
  };
}

/** Where this node may send SIP on a tenant's behalf: public addresses, plus what the operator allowed. */
export function destinationPolicyOf(
  config: Pick<SignalingConfig, 'CALLBACK_URL_POLICY' | 'OUTBOUND_ALLOW_CIDRS'>,
): (address: string) => string | undefined {
  const policy = AddressPolicy.fromSettings(config.CALLBACK_URL_POLICY, config.OUTBOUND_ALLOW_CIDRS);
  return (address) => policy.refusal(address);
}
