// Set-up that `npm start` and `npm test` do for themselves on a fresh Debian/Ubuntu machine:
// npm dependencies when missing, Debian packages when missing (installed as root, otherwise named).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The one list of Debian packages (system-packages.json), read as data: npm dependencies may not be there yet. */
const systemPackages = JSON.parse(readFileSync(join(root, 'system-packages.json'), 'utf8'));
const byCommand = (entries) => Object.fromEntries(entries.map((p) => [p.command, p.package]));

/** Debian packages by the command they provide: what `npm start` needs. */
export const RUNTIME_PACKAGES = byCommand(systemPackages.runtime);
/** What `npm test` needs: the runtime packages and the test tools. */
export const TEST_PACKAGES = { ...RUNTIME_PACKAGES, ...byCommand(systemPackages.test) };

function say(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 11)) {
    say(`Node.js ${process.versions.node} is too old: Node.js 20.11 or newer is needed.`);
    process.exit(1);
  }
}

function ensureNpmDependencies() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (
    existsSync(marker) &&
    existsSync(join(root, 'node_modules', 'tsx')) &&
    statSync(marker).mtimeMs >= statSync(lock).mtimeMs
  )
    return;
  say('installing npm dependencies (npm ci)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    say('npm ci failed; see the output above.');
    process.exit(1);
  }
}

function ensureDebianPackages(packages) {
  const missing = [
    ...new Set(
      Object.entries(packages)
        .filter(([cmd]) => !has(cmd))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length === 0) return;
  const line = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !has('apt-get')) {
    say(`missing system packages: ${missing.join(', ')}.`);
    say(`install them with:  sudo apt-get update && sudo ${line}`);
    process.exit(1);
  }
  say(`installing system packages: ${missing.join(', ')} …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = Object.entries(packages).filter(([cmd]) => !has(cmd));
  if (still.length) {
    say(`still missing after install: ${still.map(([c]) => c).join(', ')}`);
    process.exit(1);
  }
}

export function preflight(packages) {
  checkNode();
  ensureNpmDependencies();
  ensureDebianPackages(packages);
}
