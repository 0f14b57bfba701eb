/**
 * Locating a SIP server (RFC 3263 §4): transport by NAPTR (or SRV probing), port by SRV, address
 * by A/AAAA. Numeric hosts and explicit ports skip the lookups that they make unnecessary. The DNS
 * client is injected so tests run without a resolver.
 */

import { lookup, Resolver } from 'node:dns/promises';
import type { RoutableTransport, SipTransport } from '../../ports/signaling.js';
import type { Destination } from './transport.js';
import { isIpAddress, parseSipUri, type SipUri } from './uri.js';

export interface DnsClient {
  resolveNaptr(
    name: string,
  ): Promise<
    { flags: string; service: string; regexp: string; replacement: string; order: number; preference: number }[]
  >;
  resolveSrv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
  /** Host name → one IP address (A or AAAA; /etc/hosts counts). */
  lookup(host: string, family: 4 | 6 | undefined): Promise<string>;
}

export function systemDns(): DnsClient {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  return {
    resolveNaptr: (name) => resolver.resolveNaptr(name),
    resolveSrv: (name) => resolver.resolveSrv(name),
    lookup: async (host, family) => (await lookup(host, family === undefined ? {} : { family })).address,
  };
}

export interface ResolveOptions {
  /** Transports we have listening; NAPTR/SRV choices outside this set are skipped. */
  enabled: ReadonlySet<SipTransport>;
  /** Forces the transport (OutboundCallRequest.transport). */
  transport?: SipTransport;
  family?: 4 | 6;
  dns: DnsClient;
  /**
   * A lookup that failed on the way (no NAPTR or SRV record, an SRV target that does not resolve): RFC 3263
   * moves on to the next step, and the failure is reported here.
   */
  onLookupFailure?: (err: unknown, name: string) => void;
}

const NAPTR_SERVICES: Readonly<Record<string, RoutableTransport>> = {
  'SIP+D2U': 'udp',
  'SIP+D2T': 'tcp',
  'SIPS+D2T': 'tls',
};
const SRV_PREFIX: Readonly<Record<RoutableTransport, string>> = {
  udp: '_sip._udp',
  tcp: '_sip._tcp',
  tls: '_sips._tcp',
};

export function defaultPort(transport: SipTransport): number {
  return transport === 'tls' ? 5061 : 5060;
}

/** `host[:port][;transport=x]` (an outbound proxy setting) or a URI → a SIP URI. */
export function asSipUri(text: string): SipUri {
  return parseSipUri(/^sips?:/i.test(text) ? text : `sip:${text}`);
}

function transportParam(uri: SipUri): SipTransport | undefined {
  const t = uri.params.get('transport')?.toLowerCase();
  return t === 'udp' || t === 'tcp' || t === 'tls' || t === 'ws' || t === 'wss' ? t : undefined;
}

/** WebSocket peers (browsers) cannot be connected to: they are reached over the connection they opened, or not at all. */
function routable(transport: SipTransport | undefined): RoutableTransport | undefined {
  if (transport === 'ws' || transport === 'wss') {
    throw new Error('a WebSocket peer is reached only over the connection it opened, and that one is closed');
  }
  return transport;
}

/** Resolves a SIP URI to the destination of its first server (RFC 3263 §4.1-4.2). */
export async function resolveSipUri(uriText: string, options: ResolveOptions): Promise<Destination> {
  const uri = asSipUri(uriText);
  const host = uri.params.get('maddr') ?? uri.host;
  const secure = uri.scheme === 'sips';
  const explicit = routable(options.transport ?? transportParam(uri)) ?? (secure ? 'tls' : undefined);
  if (isIpAddress(host) || uri.port !== undefined) {
    const transport = explicit ?? 'udp';
    const port = uri.port ?? defaultPort(transport);
    const address = isIpAddress(host) ? host : await options.dns.lookup(host, options.family);
    return { address, port, transport, hostname: host };
  }
  const viaSrv = await resolveByServiceRecords(host, explicit, secure, options);
  if (viaSrv) return viaSrv;
  const transport = explicit ?? 'udp';
  return {
    address: await options.dns.lookup(host, options.family),
    port: defaultPort(transport),
    transport,
    hostname: host,
  };
}

async function resolveByServiceRecords(
  host: string,
  explicit: RoutableTransport | undefined,
  secure: boolean,
  options: ResolveOptions,
): Promise<Destination | undefined> {
  const candidates: { srvName: string; transport: RoutableTransport }[] = [];
  if (explicit === undefined) {
    const naptr = await options.dns.resolveNaptr(host).catch((err: unknown) => {
      options.onLookupFailure?.(err, host);
      return [];
    });
    const usable = naptr
      .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICES[r.service.toUpperCase()] !== undefined)
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    for (const record of usable) {
      const transport = NAPTR_SERVICES[record.service.toUpperCase()]!;
      if (secure && transport !== 'tls') continue;
      if (options.enabled.has(transport)) candidates.push({ srvName: record.replacement, transport });
    }
  }
  if (candidates.length === 0) {
    const order: RoutableTransport[] = explicit ? [explicit] : secure ? ['tls'] : ['udp', 'tcp', 'tls'];
    for (const transport of order) {
      if (explicit || options.enabled.has(transport)) {
        candidates.push({ srvName: `${SRV_PREFIX[transport]}.${host}`, transport });
      }
    }
  }
  for (const { srvName, transport } of candidates) {
    const records = await options.dns.resolveSrv(srvName).catch((err: unknown) => {
      options.onLookupFailure?.(err, srvName);
      return [];
    });
    // Lowest priority first; within a priority, heavier weight first (RFC 2782 without the lottery).
    records.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    for (const record of records) {
      if (record.name === '' || record.name === '.') continue;
      try {
        const address = await options.dns.lookup(record.name, options.family);
        return { address, port: record.port, transport, hostname: host };
      } catch (err) {
        options.onLookupFailure?.(err, record.name); // try the next target
      }
    }
  }
  return undefined;
}
