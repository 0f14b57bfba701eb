/**
 * Boot rehearsal: runs the media node's user data, as the stack generates it, in a Debian 12 root file system with
 * IMDS, S3, the EC2 address API, Auto Scaling, DynamoDB and nodejs.org answered by local stubs (stubs.ts), then
 * checks what a booted node needs: the script exits 0, its units pass `systemd-analyze verify` and are enabled,
 * the environment file satisfies the media node's configuration schema, the bundle and the binaries the units run
 * are there and start. A second run with the S3 download failing must fail the boot (and abandon the launch
 * lifecycle action when the script has an ERR trap for it).
 *
 *   npm run test:boot        (root, Linux, network to deb.debian.org; exit 0 passed, 1 failed, 77 skipped)
 *
 * Environment: BOOT_REHEARSAL_ROOTFS (the cached debootstrap, default $TMPDIR/sipms-boot-rehearsal/rootfs-bookworm;
 * its parent holds the other caches and the run's scratch root), BOOT_REHEARSAL_KEEP=1 keeps the run's root file
 * system, BOOT_REHEARSAL_VERBOSE=1 streams the whole boot log, BOOT_REHEARSAL_TIMEOUT_MIN (default 40).
 *
 * Not PID 1 systemd: the units are verified and enabled, never started (the systemctl shim records start/restart).
 * The chroot shares the host's network: apt-get reaches the real Debian mirror; curl, aws and systemctl are shims
 * (shims/) first on the script's PATH; mounts and processes live in their own namespaces (in-chroot.sh).
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
import { type ElasticIp, RehearsalStubs, type StubCall } from './stubs.js';
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

// --- report -----------------------------------------------------------------------------------------------------

const steps: { name: string; ms: number; note: string }[] = [];
const checks: { name: string; ok: boolean; detail: string }[] = [];
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
  checks.push({ name, ok, detail });
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

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? `${r.error ?? ''}` };
}

function must(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
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
  const missing = ['unshare', 'chroot', 'mount', 'findmnt', 'zip', 'zipinfo', 'tar', 'xz', 'sha256sum'].filter(
    (c) => !has(c),
  );
  if (missing.length)
    throw new Skip(`missing host commands: ${missing.join(', ')} (apt-get install util-linux zip xz-utils)`);
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

function renderUserData(work: string, instanceType: string): { ud: RenderedUserData; bundleZip: string } {
  const out = join(work, 'user-data.json');
  const bundleZip = join(work, 'media-node.zip');
  const r = run(process.execPath, ['--import', 'tsx', join(HERE, 'user-data.ts'), out, bundleZip, instanceType], {
    cwd: REPO_ROOT,
  });
  if (r.status !== 0) throw new Error(`synthesizing the stack failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
  const ud = JSON.parse(readFileSync(out, 'utf8')) as RenderedUserData;
  writeFileSync(join(work, 'user-data.sh'), ud.script);
  return { ud, bundleZip };
}

/**
 * A Node.js release archive in nodejs.org's layout (node-vX-linux-ARCH/bin/node) holding this host's own node
 * binary, with its SHASUMS256.txt, so the script's download, checksum check and `node --version` run for real.
 * Cached by binary and name: xz takes a while.
 */
function nodeRelease(version: string, dist: string): Map<string, Buffer> {
  const bin = realpathSync(process.execPath);
  const id = createHash('sha256')
    .update(`${bin}:${statSync(bin).size}:${statSync(bin).mtimeMs}:${dist}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE, `node-release-${id}`);
  const tarball = join(dir, `${dist}.tar.xz`);
  if (!existsSync(tarball)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, dist, 'bin'), { recursive: true });
    copyFileSync(bin, join(dir, dist, 'bin', 'node'));
    chmodSync(join(dir, dist, 'bin', 'node'), 0o755);
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
function prepareRoot(root: string, script: string, stubUrl: string, debCache: string): string {
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
  writeFileSync(join(root, 'etc/sipms-rehearsal/stub-url'), `${stubUrl}\n`);
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
  mkdirSync(dirname(join(root, SCRIPT_PATH)), { recursive: true });
  writeFileSync(join(root, SCRIPT_PATH), script, { mode: 0o700 });
  return note;
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

function bootRun(root: string, log: string[]): Promise<number> {
  return inChroot(root, [SCRIPT_PATH], (line) => {
    log.push(line);
    if (VERBOSE || /^sipms boot:|^(E|W): |^rehearsal:|^in-chroot\.sh:|error|fatal/i.test(line))
      console.log(`  │ ${line}`);
  });
}

// --- main -------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const work = join(CACHE, `run-${process.pid}`);
  const root = join(work, 'rootfs');
  let stubs: RehearsalStubs | undefined;
  let keep = process.env.BOOT_REHEARSAL_KEEP === '1';
  try {
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
    const { ud, bundleZip } = await step(
      `user data: the stack synthesized (instanceType ${instanceType}), tokens given concrete values`,
      () => renderUserData(work, instanceType),
      ({ ud }) =>
        `${Buffer.byteLength(ud.script)} bytes, bundle s3://${ud.bundle.bucket}/${ud.bundle.key} (${ud.bundle.files} files), ${ud.elasticIps.length} Elastic IPs`,
    );
    const script = ud.script;
    const syntax = run('bash', ['-n'], { input: script });
    check('bash -n accepts the user data', syntax.status === 0, syntax.stderr.trim());
    if (has('shellcheck')) {
      const sc = run('shellcheck', ['-s', 'bash', '-f', 'gcc', '-'], { input: script });
      check('shellcheck accepts the user data', sc.status === 0, sc.stdout.trim().split('\n').slice(0, 5).join('; '));
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

    const resource = (type: string) => ud.resources.find((r) => r.type === type)?.value;
    const fixtures = {
      instanceId: 'i-0rehearsal1234567',
      instanceType,
      // A loopback alias: the chroot shares the host's network, and the script's SIP probe needs a local target
      // (the media node stand-in binds it). Any 127/8 address works without configuration.
      privateIp: '127.0.1.23',
      publicIp: '203.0.113.23',
      region: ud.region,
      availabilityZone: `${ud.region}a`,
      autoScalingGroupName: resource('AWS::AutoScaling::AutoScalingGroup') ?? 'sipms-rehearsal-asg',
      bundle: { bucket: ud.bundle.bucket, key: ud.bundle.key, body: readFileSync(bundleZip) },
      nodejsFiles: nodeFiles,
      // The CloudWatch and SSM agents' packages are Amazon's (one signed): not served, so their installs fail and
      // the script must carry on with a warning, as designed.
      refusedDownloads: [/^amazoncloudwatch-agent\.s3\.amazonaws\.com\//, /^s3\.[\w-]+\.amazonaws\.com\/amazon-ssm-/],
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
    stubs = new RehearsalStubs(fixtures);
    const stubUrl = await stubs.start();

    const packages = installedPackages(script);
    const pkgHash = createHash('sha256')
      .update(`${DEBOOTSTRAP_ARGS.join(' ')}\n${packages.join(' ')}`)
      .digest('hex')
      .slice(0, 16);
    const debCache = join(CACHE, `apt-archives-${pkgHash}`);
    await step(
      'scratch root: a copy of the cached root, shims first on PATH, stubs on ' + stubUrl,
      () => prepareRoot(root, script, stubUrl, debCache),
      (n) => n,
    );
    notes.push(`package list (${packages.length}, hash ${pkgHash}): ${packages.join(' ')}`);

    // --- the boot -------------------------------------------------------------------------------------------
    const bootLog: string[] = [];
    const status = await step(
      'boot: the user data, run as cloud-init would (root, in the chroot)',
      () => bootRun(root, bootLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'boot.log'), `${bootLog.join('\n')}\n`);
    const bootCalls = stubs.calls.splice(0);
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
      checkBoot(root, script, bootCalls, fixtures.instanceId, ud, fixtures),
    );
    reportCalls('boot', bootCalls);

    const dpkg = await inChrootOutput(root, [
      'dpkg-query',
      '-W',
      '-f',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format
      '${db:Status-Abbrev}${Package}\\n',
      ...packages,
    ]);
    const allInstalled =
      dpkg.status === 0 && dpkg.out.split('\n').filter((l) => l.startsWith('ii ')).length === packages.length;
    check(
      `apt-get installed all ${packages.length} packages of the list`,
      allInstalled,
      allInstalled ? '' : dpkg.out.slice(-500),
    );
    if (allInstalled) {
      // Only a boot that installed everything feeds the cache; the next run still installs each package.
      const archives = join(root, 'var/cache/apt/archives');
      const debs = readdirSync(archives).filter((f) => f.endsWith('.deb'));
      if (debs.length && !existsSync(debCache)) {
        mkdirSync(`${debCache}.tmp`, { recursive: true });
        for (const f of debs) copyFileSync(join(archives, f), join(`${debCache}.tmp`, f));
        renameSync(`${debCache}.tmp`, debCache);
        notes.push(
          `cached the ${debs.length} downloaded .deb files in ${debCache} for later runs with this package list`,
        );
      }
    }

    // --- the negative case: the bundle download fails --------------------------------------------------------
    stubs.setFailure('s3-download');
    const failLog: string[] = [];
    const failStatus = await step(
      'boot with the S3 bundle download failing (same root, run again)',
      () => bootRun(root, failLog),
      (s) => `exit ${s}`,
    );
    writeFileSync(join(work, 'boot-s3-failure.log'), `${failLog.join('\n')}\n`);
    const failCalls = stubs.calls.splice(0);
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
    await stubs?.close();
    const leaks = leakedMounts();
    if (leaks.length) console.error(`LEAKED MOUNTS under ${CACHE}:\n${leaks.join('\n')}`);
    check('no mounts left on the host under the cache (findmnt)', leaks.length === 0, leaks.join(', '));
    if (!keep) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) notes.push(`kept for inspection: ${work} (boot.log, rootfs/)`);
  }
}

async function checkBoot(
  root: string,
  script: string,
  calls: StubCall[],
  instanceId: string,
  ud: RenderedUserData,
  fx: { privateIp: string; publicIp: string; elasticIps: ElasticIp[] },
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
      const config = loadMediaNodeConfig(env);
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
      'echo "node $(/opt/sipms/node/bin/node --version)"',
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
  for (const service of [
    'imds',
    'nodejs',
    'external',
    'aws',
    's3',
    'ec2',
    'autoscaling',
    'dynamodb',
    'systemctl',
    'stub',
  ]) {
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
console.log(
  `  checks: ${checks.length - failed.length}/${checks.length} passed${failed.length ? `; FAILED: ${failed.map((c) => c.name).join('; ')}` : ''}`,
);
for (const n of notes) console.log(`  note: ${n}`);
process.exit(code === 0 && failed.length ? 1 : code);
