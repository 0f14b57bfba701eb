/**
 * EventBridge event-pattern matching, as documented for content filtering: every key of the pattern
 * must match; a leaf is an array of alternatives (OR); objects descend; `$or` takes a list of
 * sub-patterns. Array-valued event fields match when any element matches.
 */

export type PatternLeaf =
  | string
  | number
  | boolean
  | null
  | { prefix: string | { 'equals-ignore-case': string } }
  | { suffix: string | { 'equals-ignore-case': string } }
  | { 'equals-ignore-case': string }
  | { wildcard: string }
  | { 'anything-but': unknown }
  | { numeric: (string | number)[] }
  | { exists: boolean };

export interface EventPattern {
  [key: string]: PatternLeaf[] | EventPattern | EventPattern[];
}

export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  for (const [key, rule] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(rule) || !(rule as EventPattern[]).some((p) => matchesPattern(p, event))) return false;
      continue;
    }
    const obj = isObject(event) ? event : undefined;
    const present = obj !== undefined && Object.hasOwn(obj, key);
    const value = obj?.[key];
    if (Array.isArray(rule)) {
      if (!matchLeaves(rule as PatternLeaf[], value, present)) return false;
    } else if (isObject(rule)) {
      if (!isObject(value) || !matchesPattern(rule as EventPattern, value)) return false;
    } else {
      throw new Error(`invalid pattern at "${key}": a leaf must be an array`);
    }
  }
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function matchLeaves(leaves: PatternLeaf[], value: unknown, present: boolean): boolean {
  for (const leaf of leaves) {
    if (isObject(leaf) && 'exists' in leaf) {
      // exists:true matches any present leaf value (not an object); exists:false matches absence.
      if (leaf.exists ? present && !isObject(value) : !present) return true;
      continue;
    }
    if (!present) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => matchLeaf(leaf, v))) return true;
  }
  return false;
}

function matchLeaf(leaf: PatternLeaf, v: unknown): boolean {
  if (!isObject(leaf)) return leaf === v;
  if ('prefix' in leaf) return affix(leaf.prefix, v, (s, p) => s.startsWith(p));
  if ('suffix' in leaf) return affix(leaf.suffix, v, (s, p) => s.endsWith(p));
  if ('equals-ignore-case' in leaf)
    return typeof v === 'string' && v.toLowerCase() === leaf['equals-ignore-case'].toLowerCase();
  if ('wildcard' in leaf) return typeof v === 'string' && wildcardRegex(leaf.wildcard).test(v);
  if ('anything-but' in leaf) return anythingBut(leaf['anything-but'], v);
  if ('numeric' in leaf) return numeric(leaf.numeric, v);
  throw new Error(`unsupported pattern operator ${JSON.stringify(leaf)}`);
}

function affix(p: string | { 'equals-ignore-case': string }, v: unknown, test: (s: string, p: string) => boolean) {
  if (typeof v !== 'string') return false;
  return typeof p === 'string' ? test(v, p) : test(v.toLowerCase(), p['equals-ignore-case'].toLowerCase());
}

function anythingBut(spec: unknown, v: unknown): boolean {
  if (Array.isArray(spec)) return !spec.includes(v);
  if (isObject(spec)) return !matchLeaf(spec as PatternLeaf, v);
  return spec !== v;
}

function numeric(ops: (string | number)[], v: unknown): boolean {
  if (typeof v !== 'number') return false;
  for (let i = 0; i + 1 < ops.length; i += 2) {
    const op = ops[i];
    const x = Number(ops[i + 1]);
    const ok =
      op === '='
        ? v === x
        : op === '<'
          ? v < x
          : op === '<='
            ? v <= x
            : op === '>'
              ? v > x
              : op === '>='
                ? v >= x
                : false;
    if (!ok) return false;
  }
  return true;
}

const wildcardCache = new Map<string, RegExp>();
function wildcardRegex(w: string): RegExp {
  let re = wildcardCache.get(w);
  if (!re) {
    re = new RegExp(
      `^${w
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
      's',
    );
    wildcardCache.set(w, re);
  }
  return re;
}
