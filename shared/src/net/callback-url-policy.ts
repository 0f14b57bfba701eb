import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ValidationError } from '../errors.js';

export type CallbackUrlPolicy = 'public-https' | 'allow-loopback';

/**
 * True for addresses a callback must never reach on AWS: private, loopback, link-local (incl. the
 * 169.254.169.254 metadata service), CGNAT, unspecified, multicast/reserved, and their IPv6 forms.
 */
export function isForbiddenAddress(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 192 && b === 0) ||
      (a === 198 && (b === 18 || b === 19)) ||
      a >= 224
    );
  }
  const s = ip.toLowerCase();
  return (
    s === '::' ||
    s === '::1' ||
    s.startsWith('fc') ||
    s.startsWith('fd') ||
    s.startsWith('fe8') ||
    s.startsWith('fe9') ||
    s.startsWith('fea') ||
    s.startsWith('feb') ||
    s.startsWith('ff') ||
    s.startsWith('fd00:ec2')
  );
}

function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') || ip === '::1';
}

/**
 * Checks a callback URL against the deployment's policy, resolving the host so that a public name
 * pointing at a private address is refused too. The dispatcher checks again at connect time.
 */
export async function checkCallbackUrl(
  raw: string,
  policy: CallbackUrlPolicy,
  field = 'callbackUrl',
  options: { resolve?: boolean } = {},
): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new ValidationError(field, 'not a valid URL', { cause: err });
  }
  if (url.username || url.password) throw new ValidationError(field, 'must not carry credentials');
  if (policy === 'public-https' && url.protocol !== 'https:') throw new ValidationError(field, 'must use https');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // Without `resolve`, only an IP-literal host is checked here; names are checked at connect time.
  if (options.resolve === false && !isIP(host)) return;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch (err) {
    throw new ValidationError(field, `host ${host} does not resolve`, { cause: err });
  }
  for (const ip of addresses) {
    if (!isForbiddenAddress(ip)) continue;
    if (policy === 'allow-loopback' && isLoopback(ip)) continue;
    throw new ValidationError(field, `host ${host} resolves to a non-public address (${ip})`);
  }
}
