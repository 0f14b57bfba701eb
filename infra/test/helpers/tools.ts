import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the infra tests run on the host. `npm test` installs every program they use (system-packages.json,
 * "test"), so a missing one is a broken set-up: the test fails and names it, it never skips.
 */

/** A temporary directory removed when the test process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Fails the test at once when `command` does not run (exit 0 with `args`). */
export function requireCommand(command: string, args: string[] = ['--version']): void {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  assert.equal(
    r.status,
    0,
    `${command} ${args.join(' ')} did not run (${r.error?.message ?? `exit ${r.status}`}): npm test installs it (system-packages.json)`,
  );
}

export interface ShellcheckFinding {
  line: number;
  code: number;
  message: string;
}

/** shellcheck's findings on a bash script (its JSON format). */
export function shellcheck(script: string): ShellcheckFinding[] {
  requireCommand('shellcheck');
  const r = spawnSync('shellcheck', ['--shell=bash', '--format=json', '-'], { input: script, encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `shellcheck ran: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]');
}

/** A self-signed EC certificate and its key for `sip.example.com`, valid `days`, made by openssl in `dir`. */
export function selfSignedPem(dir: string, name: string, days: number): { cert: string; key: string } {
  requireCommand('openssl', ['version']);
  mkdirSync(dir, { recursive: true });
  const [cert, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    String(days),
    '-subj',
    '/CN=sip.example.com',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(r.status, 0, String(r.stderr));
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}
