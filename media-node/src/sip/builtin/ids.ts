/** Random identifiers: tags (§19.3, ≥32 bits of randomness), branches (§8.1.1.7) and Call-IDs. */

import { randomBytes } from 'node:crypto';

/** RFC 3261 magic cookie that marks a branch as globally unique (§8.1.1.7). */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

export function newTag(): string {
  return randomBytes(8).toString('hex');
}

export function newBranch(): string {
  return `${BRANCH_MAGIC_COOKIE}${randomBytes(10).toString('hex')}`;
}

export function newCallId(host: string): string {
  return `${randomBytes(12).toString('hex')}@${host}`;
}
