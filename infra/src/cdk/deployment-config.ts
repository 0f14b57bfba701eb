import { parseClaimableNumbers } from '@sipms/shared/domain/number-policy';
import { parseOutboundDestinations } from '@sipms/shared/domain/outbound-policy';
import type { NodeImageMode } from './constructs/node-image-pipeline.js';
import { parseTlsCertificateSource, type TlsCertificateSource } from './media-node-boot/tls-certificate.js';

/**
 * The deployment's settings, read once from CDK context (`cdk deploy -c key=value`, cdk.json or
 * `new App({ context })`) and validated: a bad value stops synthesis with the key's name.
 */
export type Signaling = 'builtin' | 'drachtio';
/** `managed`: the media node runs its own userspace rtpengine (today's default, DTMF events work).
 * `system`: the Debian rtpengine service with kernel forwarding where the module loads. */
export type RtpEngineMode = 'managed' | 'system';

export interface DeploymentConfig {
  stage: string;
  /** Tenant domains are `<slug>.<sipDomain>`; the SRV records for it point at the media nodes. */
  sipDomain: string;
  instanceType: string;
  /** From the instance type: Graviton (`…g.`) runs arm64, everything else x86_64. */
  cpuArch: 'arm64' | 'amd64';
  /** Overrides the Debian 12 SSM public parameter the AMI comes from. */
  amiSsmParameter: string | undefined;
  /** At least two by default: one per AZ, so losing a node or a zone leaves SIP answered. */
  minNodes: number;
  maxNodes: number;
  /**
   * Elastic IPs in the pool the nodes take their fixed SIP address from (0: no pool, nodes keep the address EC2
   * gives them). Default maxNodes + 1: a replacement boots while the node it replaces still drains on its address.
   */
  elasticIps: number;
  /** A node takes no more calls than this (MAX_CALLS). */
  maxCallsPerNode: number;
  /** The average of active calls per node in service that the group's target tracking keeps. */
  targetCallsPerNode: number;
  /** With both, the SIP domain's A and SRV records in this Route 53 zone follow the nodes in service. */
  hostedZone: { id: string; name: string } | undefined;
  signaling: Signaling;
  rtpengine: RtpEngineMode;
  rtpPortMin: number;
  rtpPortMax: number;
  sipPort: number;
  /** CIDRs that may send SIP (signaling only; RTP stays open, callers' media addresses are not known). */
  sipAllowedCidrs: string[];
  pollyVoiceId: string;
  pollyEngine: 'standard' | 'neural' | 'generative' | 'long-form';
  pollyLanguageCode: string;
  /** Upper bound on draining a node that is being removed. */
  drainMinutes: number;
  logRetentionDays: number;
  /**
   * Where the Lambdas' and nodes' spans go (TRACES_EXPORTER): `xray` (the default; needs CloudWatch Transaction
   * Search, docs/operations.md "Traces") or `none`.
   */
  traces: 'xray' | 'none';
  recordingRetentionDays: number;
  /** Keep the table and buckets when the stack is deleted. */
  retainData: boolean;
  alarmEmail: string | undefined;
  nodeVersion: string;
  drachtioImage: string;
  /**
   * Where tenants' calls may go (OUTBOUND_DESTINATIONS, docs/security.md): `*`, number prefixes, SIP domains.
   * Empty (the default): nowhere, until the operator allows destinations.
   */
  outboundDestinations: string;
  /** Numbers tenants may claim (CLAIMABLE_NUMBERS): `*`, `+4930*`, `1000-1999`, numbers. Empty (the default): none. */
  claimableNumbers: string;
  /** Numbers one tenant may hold unless the admin API sets its own maxNumbers (TENANT_MAX_NUMBERS). */
  tenantMaxNumbers: number;
  /**
   * Callbacks of one tenant that may wait on its slow webhook at once (TENANT_MAX_SLOW_CALLBACKS,
   * docs/callback-delivery.md "One tenant's slow webhook"): bounds the Lambda concurrency one tenant can hold.
   */
  tenantMaxSlowCallbacks: number;
  /** `stock`: nodes install their software at boot; `baked`: they boot the image pipeline's AMI (docs/deploy.md "Baked node images"). */
  nodeImage: NodeImageMode;
  /** Image Builder cron expression rebuilding the node image; undefined: built only when started. */
  nodeImageSchedule: string | undefined;
  /** Where the nodes' SIP TLS certificate comes from; undefined: no TLS, 5061 closed. */
  sipTlsCertificate: TlsCertificateSource | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Context = (key: string) => unknown;

function str(ctx: Context, key: string, def?: string): string {
  const v = ctx(key);
  if (v === undefined || v === null || v === '') {
    if (def === undefined) throw new ConfigError(`missing context "${key}": pass -c ${key}=… to cdk`);
    return def;
  }
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new ConfigError(`context "${key}" must be a string`);
  }
  return String(v);
}

function optional(ctx: Context, key: string): string | undefined {
  const v = ctx(key);
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

function int(ctx: Context, key: string, def: number, min: number, max: number): number {
  const raw = ctx(key);
  const v = raw === undefined ? def : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`context "${key}" must be an integer from ${min} to ${max} (got ${String(raw)})`);
  }
  return v;
}

function oneOf<T extends string>(ctx: Context, key: string, values: readonly T[], def: T): T {
  const v = str(ctx, key, def);
  if (!(values as readonly string[]).includes(v)) {
    throw new ConfigError(`context "${key}" must be one of ${values.join(', ')} (got ${v})`);
  }
  return v as T;
}

function bool(ctx: Context, key: string, def: boolean): boolean {
  const v = ctx(key);
  if (v === undefined) return def;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new ConfigError(`context "${key}" must be true or false`);
}

/** Settings that no longer exist: naming one stops synthesis with what replaced it. */
const REMOVED: Record<string, string> = {
  sshKeyName: 'nodes have no SSH key or port 22: use SSM Session Manager (docs/deploy.md "Logs and shell access")',
  sshCidr: 'nodes have no SSH key or port 22: use SSM Session Manager (docs/deploy.md "Logs and shell access")',
};

const DNS_NAME = /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/;

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

/** An allow-list (comma-separated), checked by the parser the API and the media nodes use. */
function allowList(ctx: Context, key: string, parse: (spec: string) => unknown): string {
  const v = optional(ctx, key) ?? '';
  try {
    parse(v);
  } catch (err) {
    throw new ConfigError(`context "${key}": ${(err as Error).message}`, { cause: err });
  }
  return v
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .join(',');
}

export function readDeploymentConfig(ctx: Context): DeploymentConfig {
  const stage = str(ctx, 'stage', 'dev');
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(stage)) throw new ConfigError('context "stage" must match [a-z][a-z0-9-]{0,15}');
  const sipDomain = str(ctx, 'sipDomain').toLowerCase();
  for (const [key, why] of Object.entries(REMOVED)) {
    if (optional(ctx, key) !== undefined) throw new ConfigError(`context "${key}" was removed: ${why}`);
  }
  if (!DNS_NAME.test(sipDomain)) {
    throw new ConfigError(`context "sipDomain" must be a DNS name such as sip.example.com (got ${sipDomain})`);
  }
  // Compute-optimised Graviton: media relay and prompt transcoding are CPU-bound, and a burstable type runs out of
  // credits under steady call load.
  const instanceType = str(ctx, 'instanceType', 'c7g.large');
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) {
    throw new ConfigError(`context "instanceType" is not an EC2 instance type (got ${instanceType})`);
  }
  const minNodes = int(ctx, 'minNodes', 2, 1, 100);
  const maxNodes = int(ctx, 'maxNodes', Math.max(4, minNodes), 1, 100);
  if (maxNodes < minNodes) throw new ConfigError('context "maxNodes" must not be below "minNodes"');
  const elasticIps = int(ctx, 'elasticIps', maxNodes + 1, 0, 101);
  if (elasticIps !== 0 && elasticIps < maxNodes) {
    throw new ConfigError(
      `context "elasticIps" must be 0 (no fixed addresses) or at least maxNodes (${maxNodes}): a node without a free address does not boot`,
    );
  }
  const maxCallsPerNode = int(ctx, 'maxCallsPerNode', 200, 1, 10_000);
  const targetCallsPerNode = int(
    ctx,
    'targetCallsPerNode',
    Math.max(1, Math.floor(maxCallsPerNode * 0.6)),
    1,
    maxCallsPerNode,
  );
  const hostedZone = readHostedZone(ctx, sipDomain);
  const rtpPortMin = int(ctx, 'rtpPortMin', 30000, 1024, 65534);
  const rtpPortMax = int(ctx, 'rtpPortMax', 39999, 1025, 65535);
  if (rtpPortMax - rtpPortMin < 100) throw new ConfigError('context "rtpPortMax" must be at least rtpPortMin + 100');
  const sipAllowedCidrs = str(ctx, 'sipAllowedCidrs', '0.0.0.0/0')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  for (const c of sipAllowedCidrs) if (!CIDR.test(c)) throw new ConfigError(`sipAllowedCidrs: "${c}" is not a CIDR`);
  const nodeVersion = str(ctx, 'nodeVersion', '22.23.3');
  // 22 (end of life 2027-04-30) or 24 (LTS until 2028-04-30); the bundle targets 22, so both run it.
  if (!/^(22|24)\.\d+\.\d+$/.test(nodeVersion))
    throw new ConfigError('context "nodeVersion" must be a Node.js 22 or 24 release');
  const signaling = oneOf(ctx, 'signaling', ['builtin', 'drachtio'] as const, 'builtin');
  let sipTlsCertificate: TlsCertificateSource | undefined;
  try {
    sipTlsCertificate = parseTlsCertificateSource(optional(ctx, 'sipTlsCertificate'), signaling);
  } catch (err) {
    // tls-certificate.ts cannot import ConfigError (deployment-config.ts imports it): its message names the key.
    throw new ConfigError((err as Error).message, { cause: err });
  }
  const nodeImageSchedule = optional(ctx, 'nodeImageSchedule');
  if (nodeImageSchedule !== undefined && !/^cron\(.+\)$/.test(nodeImageSchedule)) {
    throw new ConfigError(
      `context "nodeImageSchedule" must be an Image Builder cron(...) expression (got ${nodeImageSchedule})`,
    );
  }

  return {
    stage,
    sipDomain,
    instanceType,
    // Graviton families carry a "g" after the generation digit: t4g, c7g, m7gd, c6gn, r8g…
    cpuArch: /^[a-z]+\d+g[a-z]*\./.test(instanceType) ? 'arm64' : 'amd64',
    amiSsmParameter: optional(ctx, 'amiSsmParameter'),
    minNodes,
    maxNodes,
    elasticIps,
    maxCallsPerNode,
    targetCallsPerNode,
    hostedZone,
    signaling,
    rtpengine: oneOf(ctx, 'rtpengine', ['managed', 'system'] as const, 'managed'),
    rtpPortMin,
    rtpPortMax,
    sipPort: int(ctx, 'sipPort', 5060, 1, 65535),
    sipAllowedCidrs,
    pollyVoiceId: str(ctx, 'pollyVoiceId', 'Joanna'),
    pollyEngine: oneOf(ctx, 'pollyEngine', ['standard', 'neural', 'generative', 'long-form'] as const, 'neural'),
    pollyLanguageCode: str(ctx, 'pollyLanguageCode', 'en-US'),
    drainMinutes: int(ctx, 'drainMinutes', 15, 1, 110),
    logRetentionDays: int(ctx, 'logRetentionDays', 30, 1, 3653),
    traces: oneOf(ctx, 'traces', ['xray', 'none'] as const, 'xray'),
    recordingRetentionDays: int(ctx, 'recordingRetentionDays', 90, 1, 3650),
    retainData: bool(ctx, 'retainData', true),
    alarmEmail: optional(ctx, 'alarmEmail'),
    nodeVersion,
    drachtioImage: str(ctx, 'drachtioImage', 'drachtio/drachtio-server:latest'),
    outboundDestinations: allowList(ctx, 'outboundDestinations', parseOutboundDestinations),
    claimableNumbers: allowList(ctx, 'claimableNumbers', parseClaimableNumbers),
    tenantMaxNumbers: int(ctx, 'tenantMaxNumbers', 100, 0, 1_000_000),
    tenantMaxSlowCallbacks: int(ctx, 'tenantMaxSlowCallbacks', 20, 1, 10_000),
    nodeImage: oneOf(ctx, 'nodeImage', ['stock', 'baked'] as const, 'stock'),
    nodeImageSchedule,
    sipTlsCertificate,
  };
}

/** `hostedZoneId` and `hostedZoneName` together or not at all; the SIP domain must be in the zone. */
function readHostedZone(ctx: Context, sipDomain: string): { id: string; name: string } | undefined {
  const id = optional(ctx, 'hostedZoneId');
  const rawName = optional(ctx, 'hostedZoneName');
  if (id === undefined && rawName === undefined) return undefined;
  if (id === undefined || rawName === undefined) {
    throw new ConfigError('context "hostedZoneId" and "hostedZoneName" go together: pass both or neither');
  }
  if (!/^Z[A-Z0-9]{1,32}$/.test(id))
    throw new ConfigError(`context "hostedZoneId" is not a Route 53 zone id (got ${id})`);
  const name = rawName.toLowerCase().replace(/\.$/, '');
  if (!DNS_NAME.test(name)) throw new ConfigError(`context "hostedZoneName" must be a DNS name (got ${rawName})`);
  if (sipDomain !== name && !sipDomain.endsWith(`.${name}`)) {
    throw new ConfigError(`context "hostedZoneName" (${name}) must contain the sipDomain (${sipDomain})`);
  }
  return { id, name };
}
