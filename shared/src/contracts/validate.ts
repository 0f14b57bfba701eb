import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** Parses `value` with `schema`, or throws a ValidationError naming the first offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new ValidationError(path, issue.message);
}

/** Like parseOrThrow but returns a reason instead of throwing (for webhook replies, which are journaled). */
export function parseOrReason<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.infer<S> } | { ok: false; reason: string } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  return { ok: false, reason: path ? `${path}: ${issue.message}` : issue.message };
}
