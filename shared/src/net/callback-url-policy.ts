import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ValidationError } from '../errors.js';
import { AddressPolicy, nonPublicReason } from './address-policy.js';

export type CallbackUrlPolicy = 'public-https' | 'allow-loopback';

/** True for addresses that are not public (see AddressPolicy for every range and IPv6 form). */
export function isForbiddenAddress(ip: string): boolean {
  return nonPublicReason(ip) !== undefined;
}

/**
 * Checks a callback URL against the deployment's policy, resolving the host so that a public name
 * pointing at a private address is refused too. The dispatcher checks again at connect time.
 */
export async function checkCallbackUrl(
  raw: string,
  policy: CallbackUrlPolicy,
  field = 'callbackUrl',
  options: { resolve?: boolean; addresses?: AddressPolicy } = {},
): Promise<void> {
  const addressPolicy = options.addresses ?? AddressPolicy.fromSettings(policy);
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
    const refusal = addressPolicy.refusal(ip);
    if (refusal) throw new ValidationError(field, `host ${host} resolves to a non-public address: ${refusal}`);
  }
}
