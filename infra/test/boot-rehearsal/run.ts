/**
 * Boot rehearsal: runs the media node's user data, as the stack generates it, in a Debian 12 root file system with
 * IMDS, S3, the EC2 address API, Auto Scaling, DynamoDB and nodejs.org answered by local stubs (stubs.ts), then
 * checks what a booted node needs: the script exits 0, its units pass `systemd-analyze verify` and are enabled,
 * the environment file satisfies the media node's configuration schema, the bundle and the binaries the units run
 * are there and start. A second run with the S3 download failing must fail the boot (and abandon the launch
 * lifecycle action when the script has an ERR trap for it).
 *
 * Then the node image, as the stack's Image Builder pipeline bakes it: in a fresh copy of the cached root, the
 * recipe's build-instance user data (the SSM Agent) and the component's build phase (the install script) run as
 * the template holds them, with real apt and the downloads stubbed; a second build must skip what is there; the
 * validate and test phases must pass. In that root (the image), the user data of nodeImage=baked must boot
 * installing nothing; with sipTlsCertificate=ssm:… it must also install the certificate from Parameter Store; a
 * marker naming other settings must abandon the launch; the install's agent check must refuse a package not signed
 * with the pinned key.
 *
 *   npm run test:boot        (root, Linux, network to deb.debian.org; exit 0 passed, 1 failed, 77 skipped)
 *
 * Environment: BOOT_REHEARSAL_ROOTFS (the cached debootstrap, default $TMPDIR/sipms-boot-rehearsal/rootfs-bookworm;
 * its parent holds the other caches and the run's scratch root), BOOT_REHEARSAL_KEEP=1 keeps the run's root file
 * system, BOOT_REHEARSAL_VERBOSE=1 streams the whole boot log, BOOT_REHEARSAL_TIMEOUT_MIN (default 40),
 * BOOT_REHEARSAL_PARENT_PACKAGES="a b" installs packages in the image's parent root first (a parent image carrying
 * more than minbase, as the Debian AMI does; or to rehearse what follows an install that misses a package).
 *
 * Not PID 1 systemd: the units are verified and enabled, never started (the systemctl shim records start/restart).
 * The chroot shares the host's network: apt-get reaches the real Debian mirror; curl, aws, apt-get and systemctl are
 * shims (shims/) first on the script's PATH; mounts and processes live in their own namespaces (in-chroot.sh).
 * Amazon's agent packages are out of reach: stand-ins (stand-ins/) are packaged here, and the CloudWatch agent's
 * is signed with a key made here, so its first install runs with that key's fingerprint in place of the pinned one.
 *
 * Host programs beyond the boot's: dpkg-deb (dpkg), gpg and gpgconf (gpg, gpgconf), openssl (openssl).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNTIME_PACKAGES } from '@sipms/shared/system-packages';
import { selfSignedPem } from '../helpers/tools.js';
import { type ElasticIp, RehearsalStubs, type StubCall, type StubFixtures } from './stubs.js';
import type { RenderedUserData } from './user-data.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '../../..');
const MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
/**
 * What the Debian 12 AMI has and minbase lacks, and the script uses before its own apt-get: curl (IMDS) and
 * ca-certificates; systemd for systemctl's offline enable and systemd-analyze.
 */
const DEBOOTSTRAP_INCLUDE = ['ca-certificates', 'curl', 'systemd'];
const DEBOOTSTRAP_ARGS = ['--variant=minbase', `--include=${DEBOOTSTRAP_INCLUDE.join(',')}`, SUITE, '<dir>', MIRROR];
const SCRIPT_PATH = '/var/lib/cloud/instance/scripts/part-001';
const SHIM_DIR = '/opt/sipms-rehearsal/bin';
const BOOT_PATH = `${SHIM_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
const ENV_FILE = '/etc/sipms/media-node.env';
const EXIT_SKIPPED = 77;

const ROOTFS = process.env.BOOT_REHEARSAL_ROOTFS ?? join(tmpdir(), 'sipms-boot-rehearsal', 'rootfs-bookworm');
const CACHE = dirname(ROOTFS);
const VERBOSE = process.env.BOOT_REHEARSAL_VERBOSE === '1';
const TIMEOUT_MS = Number(process.env.BOOT_REHEARSAL_TIMEOUT_MIN ?? 40) * 60_000;
/** Packages the image's parent has beyond the cached minbase root (the Debian AMI carries more): none by default. */
const PARENT_PACKAGES = (process.env.BOOT_REHEARSAL_PARENT_PACKAGES ?? '')
  .split(/[\s,]+/)
  .filter((p) => /^[a-z0-9][a-z0-9.+-]+$/.test(p));

// --- report -----------------------------------------------------------------------------------------------------

const steps: { name: string; ms: number; note: string }[] = [];
const checks: { phase: string; name: string; ok: boolean; detail: string }[] = [];
/** The phase the next checks belong to, for the summary. */
let phase = '';
const notes: string[] = [];
const t0 = Date.now();

async function step<T>(name: string, fn: () => Promise<T> | T, note = (_: T) => ''): Promise<T> {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  const start = Date.now();
  console.log(`▶ ${name}`);
  const out = await fn();
  const ms = Date.now() - start;
  steps.push({ name, ms, note: note(out) });
  console.log(`  done in ${secs(ms)}${steps.at(-1)!.note ? `: ${steps.at(-1)!.note}` : ''}`);
  return out;
}

function check(name: string, ok: boolean, detail = ''): boolean {
  checks.push({ phase, name, ok, detail });
  console.log(`  ${ok ? '✔' : '✘'} ${name}${detail ? ` (${detail})` : ''}`);
  return ok;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

class Skip extends Error {}

/** The namespaces' `unshare` processes: killing one kills everything in its namespaces (--kill-child). */
const children = new Set<ReturnType<typeof spawn>>();
let interrupted: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Stop the boot, then let main() clean up (stubs, scratch root, the mount check) and report.
    interrupted = signal;
    for (const c of children) c.kill('SIGKILL');
  });
}

// --- host commands ----------------------------------------------------------------------------------------------

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? `${r.error ?? ''}` };
}

function must(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().slice(-2000)}`);
  return r.stdout;
}

const has = (cmd: string) => run('sh', ['-c', `command -v ${cmd}`]).status === 0;

/**
 * Runs a command chrooted into `root` (in-chroot.sh) in private mount and PID namespaces, streaming its output
 * through `onLine`; resolves with its exit status. A timeout kills the namespace's init and with it everything.
 */
function inChroot(root: string, command: string[], onLine: (line: string) => void = () => {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--', join(HERE, 'in-chroot.sh')]
        .concat([root, '/usr/bin/env', '-i', `PATH=${BOOT_PATH}`, 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb'])
        .concat(command),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(child);
    const timer = setTimeout(() => {
      onLine(`rehearsal: timed out after ${TIMEOUT_MS / 60_000} min, killing the namespace`);
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) onLine(l);
      });
      stream.on('end', () => buf && onLine(buf));
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : -1));
    });
  });
}

async function inChrootOutput(root: string, command: string[]): Promise<{ status: number; out: string }> {
  const lines: string[] = [];
  const status = await inChroot(root, command, (l) => lines.push(l));
  return { status, out: lines.join('\n') };
}

/** Mounts under the cache left on the host: none may exist, since all of ours live in private namespaces. */
function leakedMounts(): string[] {
  return run('findmnt', ['-rn', '-o', 'TARGET'])
    .stdout.split('\n')
    .filter((t) => t.startsWith(CACHE));
}

// --- the steps --------------------------------------------------------------------------------------------------

async function preflight(): Promise<void> {
  if (process.platform !== 'linux') throw new Skip(`needs Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) throw new Skip('needs root: debootstrap, chroot, mount and unshare (run it with sudo)');
  const missing = [
    'unshare',
    'chroot',
    'mount',
    'findmnt',
    'zip',
    'zipinfo',
    'tar',
    'xz',
    'sha256sum',
    'dpkg-deb',
    'gpg',
    'gpgconf',
    'openssl',
  ].filter((c) => !has(c));
  if (missing.length)
    throw new Skip(
      `missing host commands: ${missing.join(', ')} (apt-get install util-linux zip xz-utils dpkg gpg gpgconf openssl)`,
    );
  try {
    const r = await fetch(`${MIRROR}/dists/${SUITE}/Release`, { method: 'HEAD', signal: AbortSignal.timeout(15_000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    throw new Skip(
      `no network to the Debian mirror ${MIRROR} (${String(e)}): debootstrap and the script's apt-get need it`,
    );
  }
  if (!has('debootstrap')) {
    console.log('  debootstrap is missing: apt-get install -y debootstrap');
    const r = run('apt-get', ['install', '-y', '-q', 'debootstrap']);
    if (r.status !== 0 || !has('debootstrap'))
      throw new Skip(`debootstrap is missing and apt-get could not install it: ${r.stderr.slice(-500)}`);
  }
}

/** The cached debootstrap, made when missing or made by other arguments; a partial one is never reused. */
function ensureRootfs(): string {
  const marker = join(ROOTFS, '.sipms-rehearsal-debootstrap');
  const wanted = `debootstrap ${DEBOOTSTRAP_ARGS.join(' ')}\n`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return `reused ${ROOTFS}`;
  if (existsSync(ROOTFS)) rmSync(ROOTFS, { recursive: true, force: true });
  const partial = `${ROOTFS}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  must(
    'debootstrap',
    DEBOOTSTRAP_ARGS.map((a) => (a === '<dir>' ? partial : a)),
  );
  writeFileSync(join(partial, '.sipms-rehearsal-debootstrap'), wanted);
  renameSync(partial, ROOTFS);
  return `created ${ROOTFS} (${wanted.trim()})`;
}

/** The stack's variants the rehearsal boots: stock (installs at boot), baked (the image's), baked with TLS. */
const TLS_PARAMETER = '/sipms/test/tls';
const VARIANTS = {
  stock: {},
  baked: { nodeImage: 'baked' },
  tls: { nodeImage: 'baked', sipTlsCertificate: `ssm:${TLS_PARAMETER}` },
} as const;
type Variant = keyof typeof VARIANTS;
type Rendered = { ud: RenderedUserData; bundleZip: string };

function renderUserData(work: string, instanceType: string): Record<Variant, Rendered> {
  const r = run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(HERE, 'user-data.ts'),
      work,
      instanceType,
      ...Object.entries(VARIANTS).map(([name, ctx]) => `${name}=${JSON.stringify(ctx)}`),
    ],
    { cwd: REPO_ROOT },
  );
  if (r.status !== 0) throw new Error(`synthesizing the stack failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
  const out = {} as Record<Variant, Rendered>;
  for (const name of Object.keys(VARIANTS) as Variant[]) {
    const ud = JSON.parse(readFileSync(join(work, `${name}.json`), 'utf8')) as RenderedUserData;
    writeFileSync(join(work, `user-data-${name}.sh`), ud.script);
    out[name] = { ud, bundleZip: join(work, `${name}.zip`) };
  }
  return out;
}

/**
 * A Node.js release archive in nodejs.org's layout (node-vX-linux-ARCH/bin/node) holding this host's own node
 * binary, with its SHASUMS256.txt, so the script's download, checksum check and unpacking run for real. bin/node is a
 * wrapper answering `--version` as the release (the install script skips a matching Node.js, the image check
 * demands it) and running the host's binary (bin/node-host) for everything else. Cached by binary and name: xz takes
 * a while.
 */
function nodeRelease(version: string, dist: string): Map<string, Buffer> {
  const bin = realpathSync(process.execPath);
  const id = createHash('sha256')
    .update(`${bin}:${statSync(bin).size}:${statSync(bin).mtimeMs}:${dist}:wrapper-1`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE, `node-release-${id}`);
  const tarball = join(dir, `${dist}.tar.xz`);
  if (!existsSync(tarball)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, dist, 'bin'), { recursive: true });
    copyFileSync(bin, join(dir, dist, 'bin', 'node-host'));
    chmodSync(join(dir, dist, 'bin', 'node-host'), 0o755);
    writeFileSync(
      join(dir, dist, 'bin', 'node'),
      [
        '#!/bin/sh',
        `# The boot rehearsal's stand-in for Node.js v${version}: the host's node (node-host), answering --version as v${version}.`,
        `if [ "$#" -eq 1 ] && [ "$1" = --version ]; then echo v${version}; exit 0; fi`,
        'exec "$(dirname "$0")/node-host" "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    must('tar', ['-C', dir, '-I', 'xz -1 -T0', '-cf', `${tarball}.tmp`, dist]);
    renameSync(`${tarball}.tmp`, tarball);
    rmSync(join(dir, dist), { recursive: true });
  }
  const body = readFileSync(tarball);
  const sha = createHash('sha256').update(body).digest('hex');
  const shasums = `${'0'.repeat(64)}  node-v${version}-darwin-arm64.tar.gz\n${sha}  ${dist}.tar.xz\n`;
  return new Map([
    [`dist/v${version}/${dist}.tar.xz`, body],
    [`dist/v${version}/SHASUMS256.txt`, Buffer.from(shasums)],
  ]);
}

/** The packages the script's apt-get installs: the key of the downloaded-packages cache. */
function installedPackages(script: string): string[] {
  return [...script.matchAll(/^\s*(?:apt-get|apt) install ([^\n]+)$/gm)]
    .flatMap((m) => m[1]!.split(/\s+/))
    .filter((p) => p && !p.startsWith('-') && !p.includes('$') && !p.includes('"'))
    .sort();
}

/** A fresh copy of the cached root, set up as an instance cloud-init is about to run the user data on. */
function prepareRoot(root: string, debCache: string): string {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(dirname(root), { recursive: true });
  must('cp', ['-a', '--reflink=auto', ROOTFS, root]);
  let note = 'no cached packages: the script downloads them all from the mirror';
  if (existsSync(debCache)) {
    const debs = readdirSync(debCache).filter((f) => f.endsWith('.deb'));
    for (const f of debs) copyFileSync(join(debCache, f), join(root, 'var/cache/apt/archives', f));
    note = `${debs.length} cached .deb files for this package list (apt-get still runs update and installs every package)`;
  }
  mkdirSync(join(root, 'etc/sipms-rehearsal'), { recursive: true });
  mkdirSync(join(root, SHIM_DIR), { recursive: true });
  copyFileSync(join(HERE, 'media-node-stand-in.mjs'), join(root, dirname(SHIM_DIR), 'media-node-stand-in.mjs'));
  for (const shim of readdirSync(join(HERE, 'shims'))) {
    copyFileSync(join(HERE, 'shims', shim), join(root, SHIM_DIR, shim));
    chmodSync(join(root, SHIM_DIR, shim), 0o755);
  }
  // Packages must not start daemons in a chroot sharing the host's network (the standard chroot policy). On EC2
  // they do, and the script stops what it does not want (rtpengine-daemon): the systemctl shim records that.
  writeFileSync(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  chmodSync(join(root, 'usr/sbin/policy-rc.d'), 0o755);
  copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
  return note;
}

/** Points the root's shims at a phase's stubs and puts the user data where cloud-init keeps it. */
function armRoot(root: string, stubUrl: string, script?: string): void {
  writeFileSync(join(root, 'etc/sipms-rehearsal/stub-url'), `${stubUrl}\n`);
  if (script === undefined) return;
  mkdirSync(dirname(join(root, SCRIPT_PATH)), { recursive: true });
  writeFileSync(join(root, SCRIPT_PATH), script, { mode: 0o700 });
}

/** Adds the root's downloaded packages to the cache, each file atomically (a cache only ever holds whole files). */
function feedDebCache(root: string, debCache: string): number {
  const archives = join(root, 'var/cache/apt/archives');
  mkdirSync(debCache, { recursive: true });
  let added = 0;
  for (const f of readdirSync(archives).filter((f) => f.endsWith('.deb'))) {
    if (existsSync(join(debCache, f))) continue;
    copyFileSync(join(archives, f), join(debCache, `.${f}.tmp`));
    renameSync(join(debCache, `.${f}.tmp`), join(debCache, f));
    added++;
  }
  return added;
}

/** Where the agents' packages come from (URL without the scheme), as the scripts download them. */
const agentUrls = (region: string, debArch: string) => ({
  ssmDeb: `s3.${region}.amazonaws.com/amazon-ssm-${region}/latest/debian_${debArch}/amazon-ssm-agent.deb`,
  cwDeb: `amazoncloudwatch-agent.s3.amazonaws.com/ubuntu/${debArch}/latest/amazon-cloudwatch-agent.deb`,
  cwKey: 'amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg',
});

/**
 * Stand-ins for Amazon's SSM Agent and CloudWatch agent packages (stand-ins/), built with dpkg-deb; the CloudWatch
 * one signed, as Amazon's is, by a detached signature, here of a key made for the rehearsal (its fingerprint is
 * returned: the install script pins Amazon's). Cached by content and architecture.
 */
function agentPackages(debArch: string, region: string): { files: Map<string, Buffer>; fingerprint: string } {
  const sources = readdirSync(join(HERE, 'stand-ins')).sort();
  const id = createHash('sha256')
    .update(`${debArch}\0${sources.map((f) => `${f}\0${readFileSync(join(HERE, 'stand-ins', f), 'utf8')}`).join('\0')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE, `agents-${id}`);
  if (!existsSync(join(dir, 'fingerprint'))) {
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    const pkg = (name: string, files: Record<string, string>) => {
      const tree = join(tmp, name);
      mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
      writeFileSync(
        join(tree, 'DEBIAN/control'),
        `Package: ${name}\nVersion: 0.0.0-rehearsal\nArchitecture: ${debArch}\nMaintainer: SIP Mediaserver boot rehearsal <boot-rehearsal@invalid>\nDescription: stand-in for Amazon's ${name}, made by the boot rehearsal\n`,
      );
      for (const [path, source] of Object.entries(files)) {
        mkdirSync(dirname(join(tree, path)), { recursive: true });
        copyFileSync(join(HERE, 'stand-ins', source), join(tree, path));
        chmodSync(join(tree, path), source.endsWith('.service') ? 0o644 : 0o755);
      }
      must('dpkg-deb', ['--root-owner-group', '--build', tree, join(tmp, `${name}.deb`)]);
      rmSync(tree, { recursive: true });
    };
    pkg('amazon-ssm-agent', {
      'usr/bin/amazon-ssm-agent': 'amazon-ssm-agent',
      'lib/systemd/system/amazon-ssm-agent.service': 'amazon-ssm-agent.service',
    });
    pkg('amazon-cloudwatch-agent', {
      'opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl': 'amazon-cloudwatch-agent-ctl',
    });
    const env = { ...process.env, GNUPGHOME: join(tmp, 'gnupg') };
    mkdirSync(env.GNUPGHOME, { mode: 0o700 });
    try {
      const gpg = (...args: string[]) => must('gpg', ['--batch', '--quiet', ...args], { env });
      gpg(
        '--passphrase',
        '',
        '--quick-gen-key',
        'SIP Mediaserver boot rehearsal (not Amazon) <boot-rehearsal@invalid>',
      );
      const deb = join(tmp, 'amazon-cloudwatch-agent.deb');
      gpg('--detach-sign', '--output', `${deb}.sig`, deb);
      gpg('--export', '--output', join(tmp, 'amazon-cloudwatch-agent.gpg'));
      const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(gpg('--with-colons', '--list-keys'))?.[1];
      if (!fpr) throw new Error('gpg made no key fingerprint');
      writeFileSync(join(tmp, 'fingerprint'), fpr);
    } finally {
      // gpg started an agent for this home: it must not outlive the rehearsal.
      run('gpgconf', ['--kill', 'all'], { env });
      rmSync(env.GNUPGHOME, { recursive: true, force: true });
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  const u = agentUrls(region, debArch);
  const file = (f: string) => readFileSync(join(dir, f));
  return {
    fingerprint: readFileSync(join(dir, 'fingerprint'), 'utf8').trim(),
    files: new Map([
      [u.ssmDeb, file('amazon-ssm-agent.deb')],
      [u.cwDeb, file('amazon-cloudwatch-agent.deb')],
      [`${u.cwDeb}.sig`, file('amazon-cloudwatch-agent.deb.sig')],
      [u.cwKey, file('amazon-cloudwatch-agent.gpg')],
    ]),
  };
}

/** A self-signed certificate and its key (EC, valid 30 days: past the script's 14-day warning), made by openssl. */
function tlsBundle(dir: string): { cert: string; key: string } {
  return selfSignedPem(dir, 'sip', 30);
}

/**
 * The commands of each phase of an Image Builder component document, as componentDocument writes it: per phase one
 * ExecuteBash step whose commands are one YAML literal block (`- |`), read with YAML's rules for it (indentation of
 * its first line, empty lines kept, one final newline). Anything else in the document is an error.
 */
function componentCommands(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = doc.split('\n');
  let current: string | undefined;
  let action: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const name = /^ {2}- name: (\S+)$/.exec(line)?.[1];
    if (name) {
      current = name;
      action = undefined;
      continue;
    }
    action = /^\s+action: (\S+)$/.exec(line)?.[1] ?? action;
    if (!current || !/^\s+- \|$/.test(line)) continue;
    if (action !== 'ExecuteBash') throw new Error(`component phase ${current}: action ${action}, not ExecuteBash`);
    if (out.has(current)) throw new Error(`component phase ${current}: more than one command block`);
    const body: string[] = [];
    let indent: number | undefined;
    for (i++; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.trim() === '') {
        body.push('');
        continue;
      }
      const n = l.length - l.trimStart().length;
      indent ??= n;
      if (n < indent) {
        i--;
        break;
      }
      body.push(l.slice(indent));
    }
    out.set(current, `${body.join('\n').replace(/\n+$/, '')}\n`);
  }
  return out;
}

/** KEY=value lines of an environment file. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

function unitSection(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
}

/** Runs a script in the chroot, keeping its output in `log` and showing the lines that tell the story. */
function scriptRun(root: string, command: string[], log: string[]): Promise<number> {
  return inChroot(root, command, (line) => {
    log.push(line);
    if (
      VERBOSE ||
      /^sipms (boot|install|image check):|^(E|W): |^rehearsal:|^in-chroot\.sh:|error|fatal|^\d+ upgraded/i.test(line)
    )
      console.log(`  │ ${line}`);
  });
}

const bootRun = (root: string, log: string[]) => scriptRun(root, [SCRIPT_PATH], log);

// --- main -------------------------------------------------------------------------------------------------------

/** The stubs' fixtures for one phase: the same made-up instance in each, fresh state (addresses, heartbeats). */
function fixturesFor(
  ud: RenderedUserData,
  instanceType: string,
  o: {
    nodeFiles?: Map<string, Buffer>;
    bundleZip: string;
    externalFiles?: Map<string, Buffer>;
    ssmParameters?: Map<string, string>;
    /** The stock boot's agent downloads are refused (404, not flagged); anywhere else a download must be served. */
    refuseAgents?: boolean;
  },
): StubFixtures {
  const resource = (type: string) => ud.resources.find((r) => r.type === type)?.value;
  return {
    instanceId: 'i-0rehearsal1234567',
    instanceType,
    // A loopback alias: the chroot shares the host's network, and the script's SIP probe needs a local target
    // (the media node stand-in binds it). Any 127/8 address works without configuration; one per run, so two
    // rehearsals at once never answer each other's probes.
    privateIp: `127.1.${(process.pid >> 8) & 255}.${process.pid & 255 || 1}`,
    publicIp: '203.0.113.23',
    region: ud.region,
    availabilityZone: `${ud.region}a`,
    autoScalingGroupName: resource('AWS::AutoScaling::AutoScalingGroup') ?? 'sipms-rehearsal-asg',
    bundle: { bucket: ud.bundle.bucket, key: ud.bundle.key, body: readFileSync(o.bundleZip) },
    nodejsFiles: o.nodeFiles ?? new Map(),
    // The CloudWatch and SSM agents' packages are Amazon's (one signed): in the stock boot they are not served, so
    // their installs fail and the script must carry on with a warning, as designed.
    refusedDownloads: o.refuseAgents
      ? [/^amazoncloudwatch-agent\.s3\.amazonaws\.com\//, /^s3\.[\w-]+\.amazonaws\.com\/amazon-ssm-/]
      : [],
    ...(o.externalFiles ? { externalFiles: o.externalFiles } : {}),
    ...(o.ssmParameters ? { ssmParameters: o.ssmParameters } : {}),
    // One pool address already held by another node, the rest free.
    elasticIps: ud.elasticIps.map(
      (e, i): ElasticIp => ({
        allocationId: e.allocationId,
        publicIp: e.publicIp,
        tags: e.tags,
        ...(i === 0 && ud.elasticIps.length > 1
          ? { instanceId: 'i-0othernode000000', associationId: 'eipassoc-0other' }
          : {}),
      }),
    ),
    dynamoItems: new Map<string, Record<string, unknown>[]>(),
    registryTable: resource('AWS::DynamoDB::Table') ?? 'sipms-rehearsal-table',
  };
}

function phaseHeader(name: string): void {
  phase = name;
  console.log(`\n══ ${name} ${'═'.repeat(Math.max(0, 100 - name.length))}`);
}

/** What a boot left on the node that the image does not hold: a baked boot starts from the image as built. */
function resetToImage(root: string): void {
  for (const p of ['etc/sipms', 'opt/sipms/media-node', 'var/log/sipms-boot.log', SCRIPT_PATH.slice(1)])
    rmSync(join(root, p), { recursive: true, force: true });
  for (const dir of ['etc/systemd/system', 'etc/systemd/system/multi-user.target.wants']) {
    for (const f of readdirSync(join(root, dir)).filter((f) => f.startsWith('sipms-')))
      rmSync(join(root, dir, f), { recursive: true, force: true });
  }
}

const countOf = (calls: StubCall[], service: string, match: (c: StubCall) => boolean = () => true) =>
  calls.filter((c) => c.service === service && match(c)).length;
const aptInstalls = (calls: StubCall[]) =>
  calls.filter((c) => c.service === 'apt-get' && c.args?.some((a) => a === 'install' || a === 'upgrade'));

/** Whether every named package is installed in the root (dpkg-query's status), with dpkg-query's answer. */
async function allInstalledIn(inRoot: string, names: string[]): Promise<{ ok: boolean; out: string }> {
  const dpkg = await inChrootOutput(inRoot, [
    'dpkg-query',
    '-W',
    '-f',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format
    '${db:Status-Abbrev}${Package}\\n',
    ...names,
  ]);
  const ok = dpkg.status === 0 && dpkg.out.split('\n').filter((l) => l.startsWith('ii ')).length === names.length;
  return { ok, out: dpkg.out };
}

async function main(): Promise<number> {
  const work = join(CACHE, `run-${process.pid}`);
  const root = join(work, 'rootfs');
  const imageRoot = join(work, 'image-rootfs');
  let stubs: RehearsalStubs | undefined;
  let keep = process.env.BOOT_REHEARSAL_KEEP === '1';
  /** Each phase's stubs: a fresh server, its URL given to the root's shims. */
  const startStubs = async (fx: StubFixtures, inRoot: string, script?: string) => {
    await stubs?.close();
    stubs = new RehearsalStubs(fx);
    const url = await stubs.start();
    armRoot(inRoot, url, script);
    return stubs;
  };
  try {
    phaseHeader('setup');
    await step('preflight: root, host commands, the Debian mirror', preflight);
    for (const d of existsSync(CACHE) ? readdirSync(CACHE) : []) {
      // Scratch roots of earlier runs whose process is gone.
      const pid = /^run-(\d+)$/.exec(d)?.[1];
      if (pid && !existsSync(`/proc/${pid}`)) rmSync(join(CACHE, d), { recursive: true, force: true });
    }
    mkdirSync(work, { recursive: true });
    await step(
      `Debian 12 root file system (debootstrap ${DEBOOTSTRAP_ARGS[0]} ${SUITE} from ${MIRROR})`,
      ensureRootfs,
      (n) => n,
    );

    const hostArch = arch() === 'arm64' ? 'arm64' : 'amd64';
    // An instance type of the host's architecture, so the packages and the Node.js build run in the chroot.
    const instanceType = hostArch === 'arm64' ? 'c7g.large' : 'c7i.large';
    const variants = await step(
      `user data: the stack synthesized (instanceType ${instanceType}) as ${Object.entries(VARIANTS)
        .map(([n, c]) => `${n} ${JSON.stringify(c)}`)
        .join(', ')}; tokens given concrete values`,
      () => renderUserData(work, instanceType),
      (v) =>
        `${Object.entries(v)
          .map(([n, { ud }]) => `${n} ${Buffer.byteLength(ud.script)} bytes`)
          .join(
            ', ',
          )}; bundle s3://${v.stock.ud.bundle.bucket}/${v.stock.ud.bundle.key} (${v.stock.ud.bundle.files} files), ${v.stock.ud.elasticIps.length} Elastic IPs`,
    );
    const { ud, bundleZip } = variants.stock;
    const script = ud.script;
    for (const [name, v] of Object.entries(variants)) {
      const syntax = run('bash', ['-n'], { input: v.ud.script });
      check(`bash -n accepts the ${name} user data`, syntax.status === 0, syntax.stderr.trim());
      if (has('shellcheck')) {
        const sc = run('shellcheck', ['-s', 'bash', '-f', 'gcc', '-'], { input: v.ud.script });
        check(
          `shellcheck accepts the ${name} user data`,
          sc.status === 0,
          sc.stdout.trim().split('\n').slice(0, 5).join('; '),
        );
      }
    }
    const nodeVersion = /^NODE_VERSION=(\S+)$/m.exec(script)?.[1];
    const nodeArch = /^NODE_DIST="node-v\$NODE_VERSION-linux-(\w+)"$/m.exec(script)?.[1];
    const wantArch = hostArch === 'arm64' ? 'arm64' : 'x64';
    const nodeFiles = new Map<string, Buffer>();
    if (nodeVersion && nodeArch) {
      if (nodeArch !== wantArch)
        throw new Error(`the script downloads Node.js for ${nodeArch}; this host is ${wantArch}`);
      const files = await step(
        `Node.js release stand-in: node-v${nodeVersion}-linux-${nodeArch}.tar.xz from this host's node ${process.version}`,
        () => nodeRelease(nodeVersion, `node-v${nodeVersion}-linux-${nodeArch}`),
      );
      for (const [k, v] of files) nodeFiles.set(k, v);
    } else {
      notes.push('the script downloads no Node.js release (NODE_VERSION / NODE_DIST not found): a baked image?');
    }

    const packages = installedPackages(script);
    const pkgHash = createHash('sha256')
      .update(`${DEBOOTSTRAP_ARGS.join(' ')}\n${packages.join(' ')}`)
      .digest('hex')
      .slice(0, 16);
    const debCache = join(CACHE, `apt-archives-${pkgHash}`);
    notes.push(`package list (${packages.length}, hash ${pkgHash}): ${packages.join(' ')}`);

    // --- the stock boot ---------------------------------------------------------------------------------------
    phaseHeader('stock boot (nodeImage=stock: installs at boot)');
    const stockFx = fixturesFor(ud, instanceType, { nodeFiles, bundleZip, refuseAgents: true });
    const rootNote = await step('scratch root: a copy of the cached root, shims first on PATH', () =>
      prepareRoot(root, debCache),
    );
    console.log(`  ${rootNote}`);
    await startStubs(stockFx, root, script);
    const bootLog: string[] = [];
    const status = await step(
      'boot: the user data, run as cloud-init would (root, in the chroot)',
      () => bootRun(root, bootLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'boot.log'), `${bootLog.join('\n')}\n`);
    const bootCalls = stubs!.calls.splice(0);
    if (!check('the boot script exits 0', status === 0, `exit ${status}`)) {
      keep = true;
      console.log(
        bootLog
          .slice(-40)
          .map((l) => `  │ ${l}`)
          .join('\n'),
      );
    }

    await step('checks: units, environment file, bundle, binaries, AWS calls', () =>
      checkBoot(root, script, bootCalls, stockFx.instanceId, ud, stockFx),
    );
    reportCalls('boot', bootCalls);

    const stockInstalled = await allInstalledIn(root, packages);
    check(
      `apt-get installed all ${packages.length} packages of the list`,
      stockInstalled.ok,
      stockInstalled.ok ? '' : stockInstalled.out.slice(-500),
    );
    // Only a boot that installed everything feeds the cache; the next run still installs each package.
    if (stockInstalled.ok) {
      const added = feedDebCache(root, debCache);
      if (added) notes.push(`cached ${added} downloaded .deb files in ${debCache} for later runs`);
    }

    // The negative case: the bundle download fails.
    stubs!.setFailure('s3-download');
    const failLog: string[] = [];
    const failStatus = await step(
      'boot with the S3 bundle download failing (same root, run again)',
      () => bootRun(root, failLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'boot-s3-failure.log'), `${failLog.join('\n')}\n`);
    const failCalls = stubs!.calls.splice(0);
    check('a failed S3 download fails the boot', failStatus !== 0, `exit ${failStatus}`);
    check(
      'the S3 download was attempted and refused by the stub',
      failCalls.some((c) => c.service === 's3' && c.injected),
    );
    check(
      'the failed boot does not reach the units or report done',
      !failCalls.some((c) => c.service === 'systemctl' && c.summary.includes('sipms-media-node')) &&
        !failLog.some((l) => l.startsWith('sipms boot: done')),
    );
    const errTrap = /^trap [^\n]*ERR/m.test(script);
    const abandons = /complete-lifecycle-action[^\n]*ABANDON|ABANDON[^\n]*complete-lifecycle-action/.test(script);
    if (errTrap && /complete-lifecycle-action/.test(script)) {
      check(
        'the ERR trap abandons the launch lifecycle action',
        failCalls.some((c) => c.service === 'autoscaling' && c.params?.LifecycleActionResult === 'ABANDON'),
      );
    } else {
      notes.push(
        `the script has ${errTrap ? 'an ERR trap' : 'no ERR trap'} and ${abandons ? 'an' : 'no'} ABANDON of a lifecycle action: the abandon on failure is not checked`,
      );
    }
    check(
      'no unknown requests in the failing boot either',
      failCalls.every((c) => !c.unknown),
      failCalls
        .filter((c) => c.unknown)
        .map((c) => c.summary)
        .join('; '),
    );
    reportCalls('failing boot', failCalls);
    // The stock root has served its purpose: the image gets its own, and the disk is better spent there.
    if (!keep) rmSync(root, { recursive: true, force: true });

    // --- the node image: the pipeline's build instance, its component's build, validate and test phases -------
    phaseHeader('image build (the Image Builder component, as the template holds it)');
    const image = ud.image;
    if (
      !check(
        'the template has the image pipeline: a component and the build instance user data',
        !!image?.buildInstanceUserData,
      )
    )
      throw new Error('no AWS::ImageBuilder::Component / ImageRecipe user data in the template: nothing to rehearse');
    writeFileSync(join(work, 'component.yaml'), image!.componentData);
    const commands = componentCommands(image!.componentData);
    check(
      `the component has build, validate and test phases (${[...commands.keys()].join(', ')})`,
      ['build', 'validate', 'test'].every((p) => commands.has(p)),
    );
    const build = commands.get('build') ?? '';
    const installText = /<<'SIPMS_INSTALL'\n([\s\S]*?)^SIPMS_INSTALL$/m.exec(build)?.[1] ?? '';
    const installPath = /^bash (\/\S+)$/m.exec(build)?.[1] ?? '';
    check('the build phase writes the install script and runs it', !!installText && !!installPath, installPath);
    const pinned = /VALIDSIG \.\*([0-9A-F]{40})/.exec(installText)?.[1];
    const identity = /^echo '(sipms-install [^']+)' > (\/\S+)$/m.exec(installText);
    const markerPath = identity?.[2] ?? '/opt/sipms/installed';
    // The contract between image and boot: the identity the baked user data insists on.
    const bakedScript = variants.baked.ud.script;
    const expected = new RegExp(`grep -qxF '([^']+)' ${markerPath.replace(/\//g, '\\/')}`).exec(bakedScript)?.[1];
    check(
      'the install script writes the identity the baked user data checks',
      !!identity && identity[1] === expected,
      `${identity?.[1]} → ${markerPath}; baked boot expects ${expected}`,
    );
    const installPackagesList = installedPackages(installText);
    check(
      'the image installs the same package list as the stock boot',
      installPackagesList.join(' ') === packages.join(' '),
      installPackagesList.join(' '),
    );

    const agents = await step(
      "the agents' stand-in packages (dpkg-deb; the CloudWatch one signed by a rehearsal key)",
      () => agentPackages(hostArch, ud.region),
    );
    const imageNote = await step(
      'image root: a fresh copy of the cached root (the parent image), shims first on PATH',
      () => prepareRoot(imageRoot, debCache),
    );
    console.log(`  ${imageNote}`);
    const buildFx = {
      ...fixturesFor(ud, instanceType, { nodeFiles, bundleZip, externalFiles: agents.files }),
      instanceId: 'i-0imagebuilder00000',
    };
    const RUN_DIR = '/var/lib/sipms-rehearsal';
    mkdirSync(join(imageRoot, RUN_DIR.slice(1)), { recursive: true });
    const writeIn = (name: string, text: string) => {
      writeFileSync(join(imageRoot, RUN_DIR.slice(1), name), text, { mode: 0o700 });
      return `${RUN_DIR}/${name}`;
    };
    // AWSTOE's ExecuteBash runs a step's commands as one bash script, as root.
    const userDataPath = writeIn('build-instance-user-data.sh', image!.buildInstanceUserData);
    // Amazon's key is out of reach: the first build pins the rehearsal key instead, all else as deployed.
    const buildRehearsalKey = pinned ? build.replaceAll(pinned, agents.fingerprint) : build;
    const buildPath = writeIn('component-build-rehearsal-key.sh', buildRehearsalKey);
    const buildDeployedPath = writeIn('component-build.sh', build);
    const validatePath = writeIn('component-validate.sh', commands.get('validate') ?? 'exit 99\n');
    const testPath = writeIn('component-test.sh', commands.get('test') ?? 'exit 99\n');
    check(
      "the agent check pins one key fingerprint, swapped for the rehearsal key's in the first build only",
      !!pinned && build.split(pinned).length === 2 && buildRehearsalKey !== build,
      `pinned ${pinned}, rehearsal ${agents.fingerprint}`,
    );

    await startStubs(buildFx, imageRoot);
    if (PARENT_PACKAGES.length) {
      const extra = await step(
        `parent image: ${PARENT_PACKAGES.join(' ')} added (BOOT_REHEARSAL_PARENT_PACKAGES)`,
        () =>
          inChrootOutput(imageRoot, [
            '/bin/sh',
            '-c',
            `apt-get -q update && apt-get -q install -y --no-install-recommends ${PARENT_PACKAGES.join(' ')}`,
          ]),
        (r) => `exit ${r.status}`,
      );
      if (extra.status !== 0)
        throw new Error(`installing ${PARENT_PACKAGES.join(' ')} failed: ${extra.out.slice(-800)}`);
      notes.push(
        `the parent image had ${PARENT_PACKAGES.join(' ')} beyond debootstrap's (BOOT_REHEARSAL_PARENT_PACKAGES): the image build did not have to install them`,
      );
      stubs!.calls.splice(0);
    }
    const udLog: string[] = [];
    const udStatus = await step(
      "build instance: the recipe's user data override (the SSM Agent)",
      () => scriptRun(imageRoot, ['/bin/bash', userDataPath], udLog),
      (s) => `exit ${s}`,
    );
    const udCalls = stubs!.calls.splice(0);
    check('the build instance user data exits 0', udStatus === 0, `exit ${udStatus}; ${udLog.slice(-3).join(' | ')}`);
    const ssmAgent = await allInstalledIn(imageRoot, ['amazon-ssm-agent']);
    check('the SSM Agent package is installed', ssmAgent.ok, ssmAgent.out);
    // lstat: the link is absolute, meaningful inside the root only.
    const ssmLink = join(imageRoot, 'etc/systemd/system/multi-user.target.wants/amazon-ssm-agent.service');
    check(
      'the SSM Agent is enabled (multi-user.target.wants)',
      existsSync(dirname(ssmLink)) &&
        readdirSync(dirname(ssmLink)).includes('amazon-ssm-agent.service') &&
        existsSync(join(imageRoot, readlinkSync(ssmLink))),
    );
    check(
      'the user data found the region in IMDS and fetched the agent from its bucket',
      countOf(udCalls, 'external', (c) => c.status === 200 && c.summary.includes(`amazon-ssm-${ud.region}/`)) === 1,
    );
    check(
      'no unknown requests in the build instance user data',
      udCalls.every((c) => !c.unknown),
    );
    reportCalls('build instance user data', udCalls);

    const installLog: string[] = [];
    const installStatus = await step(
      'component build phase (install script), the CloudWatch agent pinned to the rehearsal key',
      () => scriptRun(imageRoot, ['/bin/bash', buildPath], installLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'install.log'), `${installLog.join('\n')}\n`);
    const installCalls = stubs!.calls.splice(0);
    if (!check('the build phase exits 0', installStatus === 0, `exit ${installStatus}`)) {
      keep = true;
      console.log(
        installLog
          .slice(-40)
          .map((l) => `  │ ${l}`)
          .join('\n'),
      );
    }
    check(
      'the install script says done',
      installLog.some((l) => l.startsWith('sipms install: done ')),
    );
    const keptScript = () =>
      existsSync(join(imageRoot, installPath)) ? readFileSync(join(imageRoot, installPath), 'utf8') : '';
    check(
      `the install script kept in the image (${installPath}) is the component's (with the rehearsal key)`,
      keptScript() === (pinned ? installText.replaceAll(pinned, agents.fingerprint) : installText),
    );
    check(
      'apt-get ran update, upgrade and install',
      ['update', 'upgrade', 'install'].every(
        (verb) => countOf(installCalls, 'apt-get', (c) => !!c.args?.includes(verb)) > 0,
      ),
    );
    const imageInstalled = await allInstalledIn(imageRoot, packages);
    check(
      `all ${packages.length} packages of the list are installed`,
      imageInstalled.ok,
      imageInstalled.ok ? '' : imageInstalled.out.slice(-500),
    );
    check(
      'Node.js was downloaded from nodejs.org (stubbed) and checksum-checked',
      countOf(installCalls, 'nodejs', (c) => c.status === 200) === 2 &&
        installLog.some((l) => /node-v[\d.]+-linux-\w+\.tar\.xz: OK$/.test(l)),
    );
    const probe = await inChrootOutput(imageRoot, [
      '/bin/bash',
      '-c',
      [
        'set -e',
        'echo "node $(/opt/sipms/node/bin/node --version), runs: $(/opt/sipms/node/bin/node -e "console.log(process.version)")"',
        'echo "rtpengine $(rtpengine --version 2>&1 | head -n1)"',
        'echo "ffmpeg $(ffmpeg -hide_banner -version | head -n1)"',
        'echo "espeak-ng $(espeak-ng --version | head -n1)"',
        'echo "cloudwatch agent ctl $(test -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl && echo present)"',
      ].join('\n'),
    ]);
    check(
      `Node.js v${nodeVersion} is installed and runs; rtpengine, ffmpeg, espeak-ng run; the CloudWatch agent is installed`,
      probe.status === 0 && probe.out.includes(`node v${nodeVersion}, runs: v`) && probe.out.includes('ctl present'),
      probe.out.replace(/\n/g, '; '),
    );
    check(
      'the CloudWatch agent package passed the signature check and was installed',
      (await allInstalledIn(imageRoot, ['amazon-cloudwatch-agent'])).ok &&
        countOf(installCalls, 'external', (c) => c.status === 200 && c.summary.includes('amazoncloudwatch-agent')) ===
          3,
    );
    const marker = existsSync(join(imageRoot, markerPath)) ? readFileSync(join(imageRoot, markerPath), 'utf8') : '';
    check(`the install marker ${markerPath} holds the expected identity`, marker === `${expected}\n`, marker.trim());
    check(
      'no unknown requests in the install',
      installCalls.every((c) => !c.unknown),
    );
    reportCalls('install', installCalls);

    const againLog: string[] = [];
    const againStatus = await step(
      'component build phase again, as deployed (Amazon key pinned): idempotent',
      () => scriptRun(imageRoot, ['/bin/bash', buildDeployedPath], againLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'install-again.log'), `${againLog.join('\n')}\n`);
    const againCalls = stubs!.calls.splice(0);
    check('the second build exits 0', againStatus === 0, `exit ${againStatus}; ${againLog.slice(-3).join(' | ')}`);
    check(
      'it skips Node.js and the CloudWatch agent (already installed) and downloads nothing',
      againLog.some((l) => /Node\.js v[\d.]+ is already installed/.test(l)) &&
        againLog.some((l) => /CloudWatch agent is already installed/.test(l)) &&
        countOf(againCalls, 'nodejs') === 0 &&
        countOf(againCalls, 'external') === 0,
    );
    check(
      'apt installs and upgrades nothing the second time',
      againLog.filter((l) => /^0 upgraded, 0 newly installed/.test(l)).length === 2,
      againLog.filter((l) => /upgraded, .* newly installed/.test(l)).join(' | '),
    );
    check(`the install script kept in the image is now the component's as deployed`, keptScript() === installText);
    const markerAgain = existsSync(join(imageRoot, markerPath))
      ? readFileSync(join(imageRoot, markerPath), 'utf8')
      : '';
    check('the marker is unchanged', !!marker && markerAgain === marker);
    reportCalls('second install', againCalls);

    for (const [p, path] of [
      ['validate', validatePath],
      ['test', testPath],
    ] as const) {
      const log: string[] = [];
      const st = await step(
        `component ${p} phase (installCheckScript)`,
        () => scriptRun(imageRoot, ['/bin/bash', path], log),
        (s) => `exit ${s}`,
      );
      check(
        `the ${p} phase passes`,
        st === 0 && log.includes('sipms image check: ok'),
        `exit ${st}; ${log.slice(-4).join(' | ')}`,
      );
    }
    stubs!.calls.splice(0);
    if (imageInstalled.ok) {
      const added = feedDebCache(imageRoot, debCache);
      if (added) notes.push(`cached ${added} more .deb files (the image's upgrades) in ${debCache}`);
    }
    const imageOk = installStatus === 0 && marker === `${expected}\n`;

    // --- boots of the image ------------------------------------------------------------------------------------
    phaseHeader('baked boot (nodeImage=baked, in the image root)');
    if (!imageOk) {
      console.log(
        '  the image build failed: the baked, TLS and stale-image boots need its image and are not rehearsed (see the failed checks above)',
      );
      return 1;
    }
    const bakedBoot = async (variant: Variant, label: string, extra: { ssmParameters?: Map<string, string> } = {}) => {
      const v = variants[variant];
      resetToImage(imageRoot);
      const fx = fixturesFor(v.ud, instanceType, { bundleZip: v.bundleZip, ...extra });
      await startStubs(fx, imageRoot, v.ud.script);
      const log: string[] = [];
      const st = await step(
        label,
        () => bootRun(imageRoot, log),
        (s) => `exit ${s}`,
      );
      writeFileSync(join(work, `boot-${variant}.log`), `${log.join('\n')}\n`);
      return { status: st, log, calls: stubs!.calls.splice(0), fx, ud: v.ud };
    };
    const baked = await bakedBoot('baked', 'boot: the nodeImage=baked user data in the image');
    if (!check('the baked boot exits 0', baked.status === 0, `exit ${baked.status}`)) {
      keep = true;
      console.log(
        baked.log
          .slice(-40)
          .map((l) => `  │ ${l}`)
          .join('\n'),
      );
    }
    check(
      'nothing installed: no apt-get install or upgrade, no Node.js or agent download',
      aptInstalls(baked.calls).length === 0 &&
        countOf(baked.calls, 'nodejs') === 0 &&
        countOf(baked.calls, 'external') === 0,
      [...aptInstalls(baked.calls), ...baked.calls.filter((c) => c.service === 'nodejs' || c.service === 'external')]
        .map((c) => c.summary)
        .join('; '),
    );
    check(
      "the CloudWatch agent from the image is configured (ctl fetch-config), the image's SSM Agent enabled",
      countOf(baked.calls, 'amazon-cloudwatch-agent-ctl', (c) => !!c.args?.includes('fetch-config')) === 1 &&
        countOf(baked.calls, 'systemctl', (c) => c.summary === 'systemctl enable --now amazon-ssm-agent') === 1 &&
        !baked.log.some((l) => /WARNING the (CloudWatch|SSM) agent did not start/i.test(l)),
    );
    await step('checks: units, environment file, bundle, binaries, AWS calls (as in the stock boot)', () =>
      checkBoot(imageRoot, baked.ud.script, baked.calls, baked.fx.instanceId, baked.ud, baked.fx),
    );
    reportCalls('baked boot', baked.calls);

    // With a certificate in Parameter Store.
    phaseHeader(`TLS boot (nodeImage=baked, sipTlsCertificate=ssm:${TLS_PARAMETER})`);
    const pem = await step('a certificate and key (openssl, self-signed EC)', () => tlsBundle(join(work, 'tls')));
    const tls = await bakedBoot('tls', 'boot: the TLS user data in the image', {
      ssmParameters: new Map([[TLS_PARAMETER, `${pem.cert}${pem.key}`]]),
    });
    check('the TLS boot exits 0', tls.status === 0, `exit ${tls.status}; ${tls.log.slice(-3).join(' | ')}`);
    check(
      'the bundle was read from SSM GetParameter with decryption',
      countOf(
        tls.calls,
        'ssm',
        (c) => c.status === 200 && c.params?.WithDecryption === true && c.params?.Name === TLS_PARAMETER,
      ) === 1,
    );
    const passwd = readFileSync(join(imageRoot, 'etc/passwd'), 'utf8');
    const sipms = /^sipms:[^:]*:(\d+):(\d+):/m.exec(passwd);
    const tlsFile = (p: string, mode: number, content?: string) => {
      const f = join(imageRoot, p);
      if (!existsSync(f)) return `${p} missing`;
      const st = statSync(f);
      const owner = `${st.uid}:${st.gid}`;
      const problems = [
        (st.mode & 0o777) !== mode ? `mode ${(st.mode & 0o777).toString(8)}` : '',
        owner !== `${sipms?.[1]}:${sipms?.[2]}` ? `owner ${owner}, sipms is ${sipms?.[1]}:${sipms?.[2]}` : '',
        content !== undefined && readFileSync(f, 'utf8').trim() !== content.trim() ? 'content differs' : '',
      ].filter(Boolean);
      return problems.length ? `${p}: ${problems.join(', ')}` : '';
    };
    const tlsProblems = [
      tlsFile('etc/sipms/tls', 0o700),
      tlsFile('etc/sipms/tls/sip.crt', 0o600, pem.cert),
      tlsFile('etc/sipms/tls/sip.key', 0o600, pem.key),
    ].filter(Boolean);
    check(
      'the certificate and key are in /etc/sipms/tls (0700), each 0600 owned by the service user, as sent',
      !!sipms && tlsProblems.length === 0,
      tlsProblems.join('; '),
    );
    const tlsEnv = existsSync(join(imageRoot, ENV_FILE))
      ? parseEnvFile(readFileSync(join(imageRoot, ENV_FILE), 'utf8'))
      : {};
    check(
      'the environment file turns TLS on with those paths',
      (tlsEnv.SIP_TRANSPORTS ?? '').split(',').includes('tls') &&
        tlsEnv.SIP_TLS_CERT === '/etc/sipms/tls/sip.crt' &&
        tlsEnv.SIP_TLS_KEY === '/etc/sipms/tls/sip.key',
      `SIP_TRANSPORTS=${tlsEnv.SIP_TRANSPORTS} SIP_TLS_CERT=${tlsEnv.SIP_TLS_CERT} SIP_TLS_KEY=${tlsEnv.SIP_TLS_KEY} SIP_TLS_PORT=${tlsEnv.SIP_TLS_PORT}`,
    );
    const bootLogFile = join(imageRoot, 'var/log/sipms-boot.log');
    const logged = `${tls.log.join('\n')}\n${existsSync(bootLogFile) ? readFileSync(bootLogFile, 'utf8') : ''}`;
    check('the private key never reaches the boot log', !logged.includes('PRIVATE KEY'));
    await step('checks: units, environment file (schema with TLS), AWS calls', () =>
      checkBoot(imageRoot, tls.ud.script, tls.calls, tls.fx.instanceId, tls.ud, tls.fx),
    );
    reportCalls('TLS boot', tls.calls);

    // An image built for other settings.
    phaseHeader('baked boot of an image built for other settings (marker mismatch)');
    const otherIdentity = expected!.replace(/ node=\S+/, ' node=0.0.0-other');
    writeFileSync(join(imageRoot, markerPath), `${otherIdentity}\n`);
    const stale = await bakedBoot('baked', `boot: the baked user data with the marker "${otherIdentity}"`);
    check('the boot fails', stale.status !== 0, `exit ${stale.status}`);
    check(
      'it says the image is not baked for these settings',
      stale.log.some((l) => /sipms boot: FAILED .*image not baked for/.test(l)),
      stale.log.filter((l) => l.includes('FAILED')).join(' | '),
    );
    check(
      'the launch lifecycle action is abandoned (Auto Scaling stub)',
      stale.calls.some((c) => c.service === 'autoscaling' && c.params?.LifecycleActionResult === 'ABANDON') &&
        !stale.calls.some((c) => c.service === 'autoscaling' && c.params?.LifecycleActionResult === 'CONTINUE'),
    );
    check(
      'it stops before the bundle and the units',
      countOf(stale.calls, 's3') === 0 &&
        !stale.calls.some((c) => c.service === 'systemctl' && c.summary.includes('sipms-media-node')),
    );
    check(
      'no unknown requests',
      stale.calls.every((c) => !c.unknown),
    );
    reportCalls('stale-image boot', stale.calls);

    // The pin: the deployed install refuses an agent package signed by any other key.
    phaseHeader('image build with an agent package not signed by the pinned key');
    rmSync(join(imageRoot, markerPath), { force: true });
    const removed = await inChrootOutput(imageRoot, ['dpkg', '--purge', 'amazon-cloudwatch-agent']);
    check('the stand-in agent is removed first (dpkg --purge)', removed.status === 0, removed.out.slice(-300));
    await startStubs(buildFx, imageRoot);
    const pinLog: string[] = [];
    const pinStatus = await step(
      'component build phase as deployed, the agent signed by the rehearsal key',
      () => scriptRun(imageRoot, ['/bin/bash', buildDeployedPath], pinLog),
      (s) => `exit ${s}`,
    );
    const pinCalls = stubs!.calls.splice(0);
    check('the build fails', pinStatus !== 0, `exit ${pinStatus}`);
    check(
      'after downloading the agent, its signature and key (it failed at the check, not before)',
      countOf(pinCalls, 'external', (c) => c.status === 200 && c.summary.includes('amazoncloudwatch-agent')) === 3,
    );
    check(
      'the agent is not installed and no marker is written',
      !(await allInstalledIn(imageRoot, ['amazon-cloudwatch-agent'])).ok && !existsSync(join(imageRoot, markerPath)),
    );
    reportCalls('build with a foreign signature', pinCalls);
    return checks.every((c) => c.ok) ? 0 : 1;
  } catch (e) {
    if (e instanceof Skip) {
      console.log(`\nBOOT REHEARSAL SKIPPED (not passed): ${e.message}`);
      return EXIT_SKIPPED;
    }
    keep = true;
    console.error(`\nBOOT REHEARSAL ERROR: ${e instanceof Error ? e.stack : String(e)}`);
    return 1;
  } finally {
    phaseHeader('cleanup');
    await stubs?.close();
    const leaks = leakedMounts();
    if (leaks.length) console.error(`LEAKED MOUNTS under ${CACHE}:\n${leaks.join('\n')}`);
    check('no mounts left on the host under the cache (findmnt)', leaks.length === 0, leaks.join(', '));
    if (!keep) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) notes.push(`kept for inspection: ${work} (logs, rootfs/, image-rootfs/)`);
  }
}

async function checkBoot(
  root: string,
  script: string,
  calls: StubCall[],
  instanceId: string,
  ud: RenderedUserData,
  fx: { privateIp: string; publicIp: string | undefined; elasticIps: ElasticIp[] },
): Promise<void> {
  const at = (p: string) => join(root, p);
  check(
    'no unknown requests: every IMDS path, download and AWS call had a fixture',
    calls.every((c) => !c.unknown),
    calls
      .filter((c) => c.unknown)
      .map((c) => c.summary)
      .join('; '),
  );
  const bootLog = existsSync(at('var/log/sipms-boot.log')) ? readFileSync(at('var/log/sipms-boot.log'), 'utf8') : '';
  check('the boot log /var/log/sipms-boot.log says done', /^sipms boot: done /m.test(bootLog));

  // Units: the ones the script wrote, verified by the chroot's own systemd-analyze (binaries must exist there).
  const unitDir = at('etc/systemd/system');
  const units = readdirSync(unitDir).filter((f) => f.startsWith('sipms-') && lstatSync(join(unitDir, f)).isFile());
  check('the script wrote its systemd units', units.length >= 2, units.join(', '));
  const verify = await inChrootOutput(root, [
    'systemd-analyze',
    'verify',
    ...units.map((u) => `/etc/systemd/system/${u}`),
  ]);
  check(
    'systemd-analyze verify (in the chroot) passes the units',
    verify.status === 0 && verify.out.trim() === '',
    verify.out.trim().split('\n').slice(0, 8).join(' | '),
  );
  const nodeUnit = units.find((u) => u === 'sipms-media-node.service');
  if (check('the media node unit exists', nodeUnit !== undefined)) {
    const text = readFileSync(join(unitDir, nodeUnit!), 'utf8');
    const wants = at(`etc/systemd/system/multi-user.target.wants/${nodeUnit}`);
    // An absolute symlink into the root: resolved there, not on the host.
    const link =
      existsSync(dirname(wants)) && readdirSync(dirname(wants)).includes(nodeUnit!) ? readlinkSync(wants) : '';
    check('the media node unit is enabled (multi-user.target.wants)', !!link && existsSync(at(link)), link);
    const exec = unitSection(text, 'ExecStart')[0] ?? '';
    const paths = exec.split(/\s+/).filter((t) => t.startsWith('/'));
    const missing = paths.filter((p) => !existsSync(at(p)));
    check(
      `everything ExecStart names exists: ${paths.join(', ')}`,
      paths.length > 0 && missing.length === 0,
      missing.join(', '),
    );
    const workdir = unitSection(text, 'WorkingDirectory')[0];
    check(`WorkingDirectory ${workdir} exists`, !!workdir && existsSync(at(workdir)));
    const user = unitSection(text, 'User')[0];
    const passwd = readFileSync(at('etc/passwd'), 'utf8');
    check(`the unit's user ${user} exists`, !!user && new RegExp(`^${user}:`, 'm').test(passwd));
    const envFile = unitSection(text, 'EnvironmentFile')[0]?.replace(/^-/, '');
    check(`the unit reads the environment file ${ENV_FILE}`, envFile === ENV_FILE, envFile);
  }
  const managed = /RTPENGINE_MANAGED=true/.test(script);
  if (managed) {
    const wants = at('etc/systemd/system/multi-user.target.wants');
    check(
      'rtpengine-daemon.service is not enabled (the node runs its own rtpengine)',
      !readdirSync(wants).includes('rtpengine-daemon.service'),
    );
  }

  // The environment file: its keys, its permissions and the media node's own configuration schema.
  if (check(`the environment file ${ENV_FILE} is written`, existsSync(at(ENV_FILE)))) {
    const env = parseEnvFile(readFileSync(at(ENV_FILE), 'utf8'));
    const st = statSync(at(ENV_FILE));
    const group = readFileSync(at('etc/group'), 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(st.gid))
      ?.split(':')[0];
    check(
      'the environment file is 0640 root:sipms (secrets stay from other users)',
      (st.mode & 0o777) === 0o640 && st.uid === 0 && group === 'sipms',
      `${(st.mode & 0o777).toString(8)} uid ${st.uid} group ${group}`,
    );
    const eip = fx.elasticIps.find((a) => a.instanceId === instanceId);
    const advertised = eip?.publicIp ?? fx.publicIp;
    check('NODE_ID is the instance id from IMDS', env.NODE_ID === instanceId, env.NODE_ID);
    check(
      'SIP_HOST and RTP_HOST are the private address',
      env.SIP_HOST === fx.privateIp && env.RTP_HOST === fx.privateIp,
    );
    check(
      `SIP_ADVERTISED_HOST is the ${eip ? 'Elastic IP' : 'public address'} ${advertised}`,
      env.SIP_ADVERTISED_HOST === advertised,
      env.SIP_ADVERTISED_HOST,
    );
    const byType = (t: string) => ud.resources.filter((r) => r.type === t).map((r) => r.value);
    const table = byType('AWS::DynamoDB::Table')[0];
    check('TABLE_NAME is the stack table', !!table && env.TABLE_NAME === table, env.TABLE_NAME);
    try {
      const { loadMediaNodeConfig } = await import('@sipms/media-node/config');
      // The schema reads the TLS files it names: those are in the root, not on the host.
      const tlsPaths = Object.fromEntries(
        (['SIP_TLS_CERT', 'SIP_TLS_KEY'] as const).filter((k) => env[k]?.startsWith('/')).map((k) => [k, at(env[k]!)]),
      );
      const config = loadMediaNodeConfig({ ...env, ...tlsPaths });
      check(
        'the media node configuration schema accepts the environment file',
        true,
        `${Object.keys(env).length} keys, NODE_ID ${config.NODE_ID}, SIGNALING ${config.SIGNALING}`,
      );
    } catch (e) {
      check('the media node configuration schema accepts the environment file', false, String(e).slice(0, 600));
    }
  }

  // The bundle and the binaries the node runs, run in the chroot.
  check('the bundle is unpacked: /opt/sipms/media-node/main.mjs', existsSync(at('opt/sipms/media-node/main.mjs')));
  const commands = RUNTIME_PACKAGES.map((p) => p.command);
  const probe = await inChrootOutput(root, [
    '/bin/bash',
    '-c',
    [
      'set -e',
      'echo "node $(/opt/sipms/node/bin/node --version) (engine $(/opt/sipms/node/bin/node -p process.version))"',
      '/opt/sipms/node/bin/node --check /opt/sipms/media-node/main.mjs && echo "main.mjs parses"',
      ...commands.map((c) => `command -v ${c} >/dev/null && echo "${c} at $(command -v ${c})"`),
      'echo "rtpengine $(rtpengine --version 2>&1 | head -n1)"',
      'echo "ffmpeg $(ffmpeg -hide_banner -version | head -n1)"',
    ].join('\n'),
  ]);
  check(
    `node runs the bundle's syntax check; ${commands.join(', ')} are installed and run`,
    probe.status === 0,
    probe.out.replace(/\n/g, '; '),
  );

  // The calls the script made.
  const systemctl = calls.filter((c) => c.service === 'systemctl').map((c) => c.args!.join(' '));
  check(
    'systemctl daemon-reload, then enable --now the media node',
    (() => {
      const reload = systemctl.indexOf('daemon-reload');
      const enable = systemctl.findIndex((a) => /^enable --now sipms-media-node\.service$/.test(a));
      return reload >= 0 && enable > reload;
    })(),
    systemctl.join('; '),
  );
  check(
    'the bundle came from the stack asset in S3',
    calls.some(
      (c) => c.service === 's3' && c.summary.includes(`s3://${ud.bundle.bucket}/${ud.bundle.key}`) && c.status < 300,
    ),
  );
  check(
    'IMDSv2: a token was fetched before metadata',
    calls.findIndex((c) => c.service === 'imds' && c.summary.startsWith('PUT')) === 0 ||
      !calls.some((c) => c.service === 'imds'),
  );
  if (/associate-address/.test(script)) {
    const assoc = calls.find(
      (c) => c.service === 'ec2' && c.summary.startsWith('ec2 AssociateAddress') && c.status === 200,
    );
    check(
      'an Elastic IP of the pool is associated with this node',
      !!assoc && assoc.params?.InstanceId === instanceId,
      assoc?.summary,
    );
  } else {
    notes.push('the script associates no Elastic IP (no associate-address): not checked');
  }
  if (/sip-probe|OPTIONS/.test(script)) {
    check(
      'the media node stand-in was started (systemctl shim) and answered the SIP probe',
      calls.some((c) => c.service === 'media-node-stand-in'),
    );
  }
  if (/dynamodb get-item/.test(script)) {
    const reads = calls.filter((c) => c.service === 'dynamodb' && c.summary.startsWith('dynamodb GetItem'));
    check(
      "the script read this node's heartbeat from the registry table",
      reads.some((c) => c.summary.endsWith('→ item') && c.summary.includes(`NODE#${instanceId}`)),
      `${reads.length} reads`,
    );
  }
  if (/complete-lifecycle-action/.test(script)) {
    check(
      'the launch lifecycle action is completed with CONTINUE',
      calls.some((c) => c.service === 'autoscaling' && c.params?.LifecycleActionResult === 'CONTINUE'),
    );
  } else {
    notes.push('the script completes no launch lifecycle action: not checked');
  }
}

function reportCalls(title: string, calls: StubCall[]): void {
  const lines = (service: string) => calls.filter((c) => c.service === service);
  const fmt = (c: StubCall) =>
    `    ${c.status} ${c.summary}${c.unknown ? '   ← UNKNOWN' : ''}${c.injected ? '   ← injected failure' : ''}`;
  const count = new Map<string, { c: StubCall; n: number }>();
  for (const c of calls) {
    const k = `${c.service}\0${c.summary}\0${c.status}`;
    const e = count.get(k);
    if (e) e.n++;
    else count.set(k, { c, n: 1 });
  }
  console.log(`\n  Calls answered by the stubs during the ${title} (${calls.length}):`);
  const order = ['imds', 'nodejs', 'external', 'apt-get', 'aws', 's3', 'ssm', 'ec2', 'autoscaling', 'dynamodb'];
  const services = [...new Set([...order, ...calls.map((c) => c.service)])];
  for (const service of services) {
    if (!lines(service).length) continue;
    console.log(`  ${service}:`);
    for (const { c, n } of count.values())
      if (c.service === service) console.log(`${fmt(c)}${n > 1 ? `   ×${n}` : ''}`);
  }
}

const code = await main();
console.log(
  `\n=== boot rehearsal: ${code === 0 ? 'PASSED' : code === EXIT_SKIPPED ? 'SKIPPED' : 'FAILED'} in ${secs(Date.now() - t0)} ===`,
);
for (const s of steps) console.log(`  ${secs(s.ms).padStart(8)}  ${s.name}${s.note ? ` — ${s.note}` : ''}`);
const failed = checks.filter((c) => !c.ok);
for (const p of [...new Set(checks.map((c) => c.phase))]) {
  const of = checks.filter((c) => c.phase === p);
  console.log(`  ${p}: ${of.filter((c) => c.ok).length}/${of.length} checks passed`);
}
console.log(
  `  checks: ${checks.length - failed.length}/${checks.length} passed${failed.length ? `; FAILED: ${failed.map((c) => c.name).join('; ')}` : ''}`,
);
for (const n of notes) console.log(`  note: ${n}`);
process.exit(code === 0 && failed.length ? 1 : code);
