import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** The dotted path of the field an issue is about; an unknown key names that key. */
function issueField(issue: z.core.$ZodIssue, root: string): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  return [root, ...path].filter(Boolean).join('.');
}

/** Parses `value` with `schema`, or throws a ValidationError naming the first offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ValidationError(issueField(issue, root), issue.message);
}

/** Like parseOrThrow but returns a reason instead of throwing (for webhook replies, which are journaled). */
export function parseOrReason<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.infer<S> } | { ok: false; reason: string } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const path = issueField(issue, '');
  return { ok: false, reason: path ? `${path}: ${issue.message}` : issue.message };
}
