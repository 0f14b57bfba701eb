import list from '../../system-packages.json' with { type: 'json' };

/**
 * The Debian packages the product runs, from the one list at the repository root (system-packages.json):
 * the same list the preflight of `npm start` / `npm test` and the AWS boot script install.
 */
export interface SystemPackage {
  /** The program as it is run (looked up on PATH). */
  command: string;
  /** The Debian package that provides it. */
  package: string;
  usedBy: string;
}

/** What the product needs at run time: installed by `npm start` and on every AWS media node. */
export const RUNTIME_PACKAGES: readonly SystemPackage[] = list.runtime;
/** Test and benchmark tools: installed by `npm test` besides the runtime packages. */
export const TEST_PACKAGES: readonly SystemPackage[] = list.test;
/** Commands of Debian's Essential packages: on every Debian system, never installed by us. */
export const BASE_PACKAGES: readonly SystemPackage[] = list.base;

/** The Debian package that provides `command` (a name or a path to it), if the list has it. */
export function packageProviding(command: string): string | undefined {
  const name = command.slice(command.lastIndexOf('/') + 1);
  return [...RUNTIME_PACKAGES, ...TEST_PACKAGES, ...BASE_PACKAGES].find((p) => p.command === name)?.package;
}
