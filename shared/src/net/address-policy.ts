import { isIP } from 'node:net';

/**
 * The one outbound address policy: every address the platform connects or sends to on a tenant's
 * behalf (callback URLs, `url` phrases and each redirect hop, SIP targets and SDP media addresses)
 * must be public unless the operator allowed it. The check is made on the address actually used,
 * when the connection or packet is made, so DNS rebinding cannot slip past a check made earlier.
 */

type Bytes = number[];

/** An IPv4 or IPv6 address as bytes (4 or 16), or undefined when it is not an address. */
export function addressBytes(ip: string): Bytes | undefined {
  const text = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const kind = isIP(text);
  if (kind === 4) return text.split('.').map(Number);
  if (kind !== 6) return undefined;
  let head = text;
  let v4tail: Bytes = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    v4tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const groups = (s: string) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const all = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  const bytes = all.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
  if (v4tail.length === 4) bytes.splice(12, 4, ...v4tail);
  return bytes;
}

interface Cidr {
  bytes: Bytes;
  bits: number;
}

export function parseCidr(text: string): Cidr {
  const [addr = '', bitsText] = text.trim().split('/');
  const bytes = addressBytes(addr);
  if (!bytes) throw new Error(`not an address range: ${text}`);
  const bits = bitsText === undefined ? bytes.length * 8 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) throw new Error(`bad prefix length: ${text}`);
  return { bytes, bits };
}

function inCidr(bytes: Bytes, cidr: Cidr): boolean {
  if (bytes.length !== cidr.bytes.length) return false;
  let bits = cidr.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((cidr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

const V4_DENY: [string, string][] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];
const V6_DENY: [string, string][] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['100::/64', 'discard'],
  ['2001::/32', 'Teredo'],
  ['2001:db8::/32', 'documentation'],
  ['fc00::/7', 'unique local (private)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
];
const DENY = [...V4_DENY, ...V6_DENY].map(([c, why]) => ({ cidr: parseCidr(c), why }));

/** IPv6 forms that carry an IPv4 address, and where: such an address is judged by its IPv4 address. */
const EMBEDDED_V4: { cidr: Cidr; offset: number; name: string }[] = [
  { cidr: parseCidr('::ffff:0:0/96'), offset: 12, name: 'IPv4-mapped' },
  { cidr: parseCidr('::/96'), offset: 12, name: 'IPv4-compatible' },
  { cidr: parseCidr('64:ff9b::/96'), offset: 12, name: 'NAT64' },
  { cidr: parseCidr('64:ff9b:1::/48'), offset: 12, name: 'NAT64' },
  { cidr: parseCidr('2002::/16'), offset: 2, name: '6to4' },
];

/** Why an address is not public (e.g. "loopback", "IPv4-mapped private"), or undefined when it is. */
export function nonPublicReason(ip: string): string | undefined {
  const bytes = addressBytes(ip);
  if (!bytes) return 'not an IP address';
  if (bytes.length === 16) {
    for (const e of EMBEDDED_V4) {
      if (!inCidr(bytes, e.cidr)) continue;
      // ::/128 and ::1 are inside ::/96 but are IPv6's own unspecified and loopback addresses.
      if (e.name === 'IPv4-compatible' && bytes.slice(0, 15).every((b) => b === 0) && (bytes[15] ?? 0) <= 1) break;
      const inner = nonPublicReason(bytes.slice(e.offset, e.offset + 4).join('.'));
      // A public IPv4 address behind NAT64 or 6to4 is reachable as such; mapped forms are the address itself.
      return inner ? `${e.name} ${inner}` : undefined;
    }
  }
  return DENY.find((d) => inCidr(bytes, d.cidr))?.why;
}

export function isLoopbackAddress(ip: string): boolean {
  const bytes = addressBytes(ip);
  if (!bytes) return false;
  const v4 = bytes.length === 4 ? bytes : inCidr(bytes, parseCidr('::ffff:0:0/96')) ? bytes.slice(12) : undefined;
  if (v4) return v4[0] === 127;
  return inCidr(bytes, parseCidr('::1/128'));
}

export interface AddressPolicyOptions {
  /** The single-machine deployment's `allow-loopback`: loopback addresses are allowed too. */
  allowLoopback?: boolean;
  /** Ranges the operator allows although they are not public (a LAN PBX, a trunk over a VPN). */
  allowCidrs?: readonly string[];
}

export class AddressPolicy {
  private readonly allowed: Cidr[];

  constructor(private readonly options: AddressPolicyOptions = {}) {
    this.allowed = (options.allowCidrs ?? []).map(parseCidr);
  }

  /** From the settings: a mode (`allow-loopback` or a public-only mode) and a comma list of CIDRs. */
  static fromSettings(mode: string, allowCidrs = ''): AddressPolicy {
    return new AddressPolicy({
      allowLoopback: mode === 'allow-loopback',
      allowCidrs: allowCidrs
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    });
  }

  /** Undefined when the platform may reach `ip`; otherwise why not. */
  refusal(ip: string): string | undefined {
    const why = nonPublicReason(ip);
    if (!why) return undefined;
    if (this.options.allowLoopback && isLoopbackAddress(ip)) return undefined;
    const bytes = addressBytes(ip);
    if (bytes && this.allowed.some((c) => inCidr(bytes, c))) return undefined;
    return `${ip} is not a public address (${why}) and the operator has not allowed it`;
  }

  allows(ip: string): boolean {
    return this.refusal(ip) === undefined;
  }
}
