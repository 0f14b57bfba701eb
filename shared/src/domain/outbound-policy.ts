/**
 * Where a tenant's calls may go: the operator's allow-list of number prefixes and SIP domains for the
 * whole deployment, narrowed (never widened) per tenant by the admin API (docs/security.md, "Operator
 * controls"). Pure: no I/O, so the API (placeivrcall) and the media node (`newCall` replies with
 * `{action:"call"}`) apply the very same rule.
 */

/** An allow-list. `'*'` in a list allows anything of its kind; an empty list allows nothing of it. */
export interface OutboundDestinations {
  /** E.164 prefixes with or without `+` (`+49`, `4930`), or `'*'`. Compared on digits only. */
  numberPrefixes: readonly string[];
  /** SIP URI hosts: `pbx.example.com` (that host only), `*.example.com` (its subdomains only), or `'*'`. */
  sipDomains: readonly string[];
}

export type DestinationCheck =
  | { ok: true }
  | {
      ok: false;
      /** Which list refused it: the deployment's, or the tenant's narrower one. */
      by: 'deployment' | 'tenant';
      /** For the caller: names the destination and what would allow it. */
      reason: string;
    };

/** Anything allowed (the local deployment's default). */
export const ALLOW_ALL: OutboundDestinations = Object.freeze({ numberPrefixes: ['*'], sipDomains: ['*'] });
/** Nothing allowed (the AWS deployment's default until the operator allows destinations). */
export const ALLOW_NONE: OutboundDestinations = Object.freeze({ numberPrefixes: [], sipDomains: [] });

const PREFIX = /^\+?[0-9]{1,15}$/;
const DOMAIN = /^(\*\.)?(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/;

/** True for an entry `numberPrefixes` accepts: `'*'`, or 1-15 digits with an optional leading `+`. */
export function isNumberPrefix(entry: string): boolean {
  return entry === '*' || PREFIX.test(entry);
}

/** True for an entry `sipDomains` accepts: `'*'`, a host name, `*.` and a domain, or an IP literal. */
export function isSipDomainPattern(entry: string): boolean {
  const e = entry.toLowerCase();
  return e === '*' || DOMAIN.test(e) || IP_LITERAL.test(e);
}

/**
 * Parses the deployment setting (`OUTBOUND_DESTINATIONS` locally, CDK context `outboundDestinations`): a
 * comma-separated list of `*` (anything), number prefixes (`+49`, `4930`, or `tel:+49`; `tel:*` any
 * number) and SIP domains (`pbx.example.com`, `*.example.com`, or `sip:example.com`; `sip:*` any
 * domain). Empty means nothing. Throws naming the first entry it does not understand.
 */
export function parseOutboundDestinations(spec: string): OutboundDestinations {
  const numberPrefixes: string[] = [];
  const sipDomains: string[] = [];
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    if (entry === '*') {
      numberPrefixes.push('*');
      sipDomains.push('*');
    } else if (/^tel:/i.test(entry) || /^\+/.test(entry) || /^[0-9*#-]+$/.test(entry)) {
      // A number: `tel:`, a leading +, or digits without dots (an IPv4 address is a SIP host).
      const prefix = entry.replace(/^tel:/i, '');
      if (!isNumberPrefix(prefix)) throw new Error(`"${entry}" is not a number prefix (+49, 4930, tel:*)`);
      numberPrefixes.push(prefix);
    } else {
      const domain = entry.replace(/^sips?:/i, '').toLowerCase();
      if (!isSipDomainPattern(domain)) {
        throw new Error(`"${entry}" is not a SIP domain (pbx.example.com, *.example.com, sip:*)`);
      }
      sipDomains.push(domain);
    }
  }
  return { numberPrefixes: dedupe(numberPrefixes), sipDomains: dedupe(sipDomains) };
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** What a destination is, for matching: a number (digits, `*`, `#`) or the host of a SIP URI. */
type Target = { kind: 'number'; digits: string } | { kind: 'sip'; host: string };

function targetOf(destination: string): Target | undefined {
  const d = destination.trim();
  const tel = /^(?:tel:)?\+?([0-9*#]{1,32})$/i.exec(d);
  if (tel) return { kind: 'number', digits: tel[1]! };
  const sip = /^sips?:(.+)$/i.exec(d);
  if (!sip) return undefined;
  // The host follows the last "@" (user parts and parameters of an accepted URI never contain one).
  const rest = sip[1]!;
  const hostPart = rest.slice(rest.lastIndexOf('@') + 1);
  const host = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)/.exec(hostPart)?.[1];
  if (!host) return undefined;
  return { kind: 'sip', host: host.toLowerCase().replace(/\.$/, '') };
}

function numberAllowed(digits: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => p === '*' || (PREFIX.test(p) && digits.startsWith(p.replace(/^\+/, ''))));
}

function domainAllowed(host: string, patterns: readonly string[]): boolean {
  return patterns.some((raw) => {
    const p = raw.toLowerCase().replace(/\.$/, '');
    if (p === '*') return true;
    // `*.example.com` is every subdomain of example.com, not example.com itself.
    if (p.startsWith('*.')) return host.endsWith(p.slice(1));
    return host === p;
  });
}

function allowedBy(target: Target, list: OutboundDestinations): boolean {
  return target.kind === 'number'
    ? numberAllowed(target.digits, list.numberPrefixes)
    : domainAllowed(target.host, list.sipDomains);
}

/**
 * May a call go to `destination` (a SIP URI or a number)? Allowed only when the deployment's list
 * allows it and, where the tenant has its own list, that list allows it too: a tenant's list narrows the
 * deployment's, never widens it.
 *
 * - Numbers (`+4930123`, `4930123`, `tel:+4930123`) match a prefix on their digits, so `+49` and `49`
 *   are the same prefix and match `+4930…` and `4930…` alike.
 * - SIP URIs match on their host (port, user and parameters aside): `example.com` matches that host only;
 *   `*.example.com` matches `a.example.com` and `b.a.example.com` but not `example.com`.
 * - `'*'` allows anything of its kind; an empty list allows nothing of it.
 * - Anything that is neither a SIP URI nor a number is refused.
 */
export function checkDestination(
  destination: string,
  deployment: OutboundDestinations,
  tenant?: OutboundDestinations | null,
): DestinationCheck {
  const target = targetOf(destination);
  if (!target) {
    return { ok: false, by: 'deployment', reason: `${destination} is neither a SIP URI nor a number` };
  }
  const what = target.kind === 'number' ? 'number' : `SIP domain ${target.host}`;
  if (!allowedBy(target, deployment)) {
    return {
      ok: false,
      by: 'deployment',
      reason: `calls to ${destination} are not allowed: this deployment does not allow the ${what}`,
    };
  }
  if (tenant && !allowedBy(target, tenant)) {
    return {
      ok: false,
      by: 'tenant',
      reason: `calls to ${destination} are not allowed: this tenant's outbound destinations do not include the ${what}`,
    };
  }
  return { ok: true };
}
