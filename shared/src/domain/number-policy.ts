/**
 * Which numbers tenants may claim (`PUT /v1/numbers/{number}`): the operator's patterns
 * (`CLAIMABLE_NUMBERS` locally, CDK context `claimableNumbers`). Pure, so the API and the tests share it.
 */

export type ClaimablePattern =
  | { kind: 'any' }
  /** `+4930*`: every number that starts with the text before the `*`. */
  | { kind: 'prefix'; prefix: string }
  /** `1000-1999`, `+4930100-+4930199`: numbers of that length between the two, inclusive. */
  | { kind: 'range'; from: string; to: string }
  /** `+4930123456`, `alice`: that number or user part only. */
  | { kind: 'exact'; value: string };

const TEXT = /^[A-Za-z0-9+][A-Za-z0-9._~+-]*$/;

function parseOne(entry: string): ClaimablePattern {
  if (entry === '*') return { kind: 'any' };
  if (entry.endsWith('*')) {
    const prefix = entry.slice(0, -1);
    if (!TEXT.test(prefix)) throw new Error(`"${entry}": a prefix pattern is characters of a number, then *`);
    return { kind: 'prefix', prefix };
  }
  const range = /^(\+?)([0-9]+)-(\+?)([0-9]+)$/.exec(entry);
  if (range) {
    const [, plusFrom, from, plusTo, to] = range as unknown as [string, string, string, string, string];
    if (plusFrom !== plusTo || from.length !== to.length || from > to) {
      throw new Error(`"${entry}": a range has two ends of the same length, the lower first (1000-1999)`);
    }
    return { kind: 'range', from: plusFrom + from, to: plusTo + to };
  }
  if (!TEXT.test(entry)) throw new Error(`"${entry}" is not a number, user part, prefix (+4930*) or range`);
  return { kind: 'exact', value: entry };
}

/**
 * Parses a comma-separated list of patterns: `*` (anything), `+4930*` (a prefix), `1000-1999` (a range
 * of numbers of one length), or a number or user part itself. Empty means nothing is claimable. Throws
 * naming the first entry it does not understand.
 */
export function parseClaimableNumbers(spec: string): ClaimablePattern[] {
  return spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map(parseOne);
}

/** The patterns as written (for display). */
export function formatClaimablePattern(p: ClaimablePattern): string {
  switch (p.kind) {
    case 'any':
      return '*';
    case 'prefix':
      return `${p.prefix}*`;
    case 'range':
      return `${p.from}-${p.to}`;
    case 'exact':
      return p.value;
  }
}

function matches(number: string, p: ClaimablePattern): boolean {
  if (p.kind === 'any') return true;
  if (p.kind === 'prefix') return number.startsWith(p.prefix);
  if (p.kind === 'exact') return number === p.value;
  // A range: same length and only digits after the same sign, so text order is number order.
  return (
    number.length === p.from.length &&
    /^\+?[0-9]+$/.test(number) &&
    number.startsWith('+') === p.from.startsWith('+') &&
    number >= p.from &&
    number <= p.to
  );
}

/** May a tenant claim `number`? True when any pattern matches it. */
export function isClaimable(number: string, patterns: readonly ClaimablePattern[]): boolean {
  return patterns.some((p) => matches(number, p));
}
