import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Paths into the repository, computed from this file so they hold whether the app runs from
 * `infra/` (the CLI), the repository root (tests) or anywhere else.
 */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const LOCK_FILE = join(REPO_ROOT, 'package-lock.json');

/** The Lambda entry of an API route group or an event target: `lambdas/src/handlers/<name>.ts`. */
export function handlerEntry(name: string): string {
  const entry = join(REPO_ROOT, 'lambdas', 'src', 'handlers', `${name}.ts`);
  if (!existsSync(entry)) {
    throw new Error(`no Lambda entry for "${name}": expected ${entry} exporting \`handler\``);
  }
  return entry;
}

export const MEDIA_NODE_ENTRY = join(REPO_ROOT, 'media-node', 'src', 'main.ts');
