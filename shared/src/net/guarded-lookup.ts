import { type LookupAddress, lookup } from 'node:dns';
import type { AddressPolicy } from './address-policy.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for outgoing connections that refuses addresses the policy does not allow, at connect
 * time: a host that passed a check earlier cannot be re-pointed at the metadata service or a private
 * network later (DNS rebinding), because the address checked is the address connected to. Refusals
 * fail with code EADDRNOTALLOWED. (IP-literal hosts skip lookup: callers check those themselves.)
 */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      for (const a of list) {
        const refusal = policy.refusal(a.address);
        if (!refusal) continue;
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolves to a forbidden address: ${refusal}`);
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
