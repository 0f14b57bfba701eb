import { CallOptionsError } from './errors.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * `10s`, `5.5s`, `500ms`, `2m`, `1h`; a bare number is seconds (what a person typing `--hangup-after 10`
 * means). Returns whole milliseconds; `field` names the option in the error.
 */
export function parseDuration(text: string, field: string, limits: { min?: number; max?: number } = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|min|h)?\s*$/i.exec(text);
  if (!m) throw new CallOptionsError(field, `"${text}" is not a duration (e.g. 10s, 5.5s, 500ms, 2m)`);
  const ms = Math.round(Number(m[1]) * UNITS[(m[2] ?? 's').toLowerCase()]!);
  checkRange(ms, field, limits);
  return ms;
}

/** A millisecond value given to the library directly (not parsed from text). */
export function checkMs(value: unknown, field: string, limits: { min?: number; max?: number } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new CallOptionsError(field, 'must be a number of ms');
  const ms = Math.round(value);
  checkRange(ms, field, limits);
  return ms;
}

function checkRange(
  ms: number,
  field: string,
  { min = 0, max = 24 * 3_600_000 }: { min?: number; max?: number },
): void {
  if (ms < min) throw new CallOptionsError(field, `must be at least ${formatMs(min)}`);
  if (ms > max) throw new CallOptionsError(field, `must be at most ${formatMs(max)}`);
}

/** 1500 → "1.5 s", 250 → "250 ms". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(2))} s`;
}
