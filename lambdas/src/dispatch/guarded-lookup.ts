import { type LookupAddress, lookup } from 'node:dns';
import { type CallbackUrlPolicy, isForbiddenAddress } from '@sipms/shared/net/callback-url-policy';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function allowed(ip: string, policy: CallbackUrlPolicy): boolean {
  if (!isForbiddenAddress(ip)) return true;
  return policy === 'allow-loopback' && (ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.'));
}

/**
 * A `lookup` for outgoing connections that refuses forbidden addresses at connect time, so a callback
 * host that passed the check at configuration time cannot be re-pointed at the metadata service or a
 * private network later (DNS rebinding): the address checked is the address connected to.
 */
export function guardedLookup(policy: CallbackUrlPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !allowed(a.address, policy));
      if (refused) {
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address (${refused.address})`);
        e.code = 'EADDRNOTALLOWED';
        return callback(e, []);
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
