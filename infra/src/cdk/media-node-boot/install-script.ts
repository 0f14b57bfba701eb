import { createHash } from 'node:crypto';
import { RUNTIME_PACKAGES } from '@sipms/shared/system-packages';
import { NODE_BIN } from './systemd-units.js';

/** What decides the software on a node; every other setting is written at boot. */
export interface InstallSettings {
  cpuArch: 'arm64' | 'amd64';
  nodeVersion: string;
  signaling: 'builtin' | 'drachtio';
  rtpengine: 'managed' | 'system';
  /** Where Node.js releases come from. A rehearsal points it at a local mirror (curl reads file:// URLs). */
  nodeDistUrl?: string;
}

export const NODE_DIST_URL = 'https://nodejs.org/dist';
/** Where Node.js goes: the directory of the units' NODE_BIN. */
export const NODE_DIR = NODE_BIN.replace(/\/bin\/node$/, '');
/** Where the image keeps the script it was built with, for whoever asks later what is in it. */
export const INSTALL_SCRIPT_PATH = '/opt/sipms/install.sh';
/** Written last by a successful install: installIdentity(settings), one line. */
export const INSTALL_MARKER = '/opt/sipms/installed';
/** The Amazon CloudWatch agent's package signing key (its published fingerprint; the boot script pins the same). */
export const CLOUDWATCH_AGENT_KEY_FINGERPRINT = '937616F3450B7D806CBD9725D58167303B789C72';
export const CLOUDWATCH_AGENT_CTL = '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl';

/**
 * The CloudWatch agent's download, its signature checked against the pinned key's fingerprint, and its
 * install (bash lines, indented for an `if` block; `$work` must be a scratch directory). The image's install
 * and the stock boot share it.
 */
export function cloudwatchAgentInstall(cpuArch: 'arm64' | 'amd64'): string {
  const base = 'https://amazoncloudwatch-agent.s3.amazonaws.com';
  const pkg = `${base}/ubuntu/${cpuArch}/latest/amazon-cloudwatch-agent.deb`;
  return [
    'export GNUPGHOME="$work/gnupg"',
    'mkdir -m 700 "$GNUPGHOME"',
    `curl -fsSL --retry 5 -o "$work/agent.deb" '${pkg}'`,
    `curl -fsSL --retry 5 -o "$work/agent.deb.sig" '${pkg}.sig'`,
    `curl -fsSL --retry 5 -o "$work/agent.gpg" '${base}/assets/amazon-cloudwatch-agent.gpg'`,
    'gpg --batch --quiet --import "$work/agent.gpg"',
    'status=$(gpg --batch --status-fd 1 --verify "$work/agent.deb.sig" "$work/agent.deb" 2>/dev/null)',
    `grep -q '^\\[GNUPG:\\] VALIDSIG .*${CLOUDWATCH_AGENT_KEY_FINGERPRINT}' <<<"$status"`,
    'dpkg -i -E "$work/agent.deb"',
  ]
    .map((line) => `  ${line}`)
    .join('\n');
}

/**
 * The Debian packages a node needs: what the boot script itself runs, then the runtime list of system-packages.json
 * (the list `npm start` installs too), then what the chosen signaling and rtpengine modes add.
 */
export function installPackages(s: Pick<InstallSettings, 'signaling' | 'rtpengine'>): string[] {
  return [
    'ca-certificates',
    'curl',
    'xz-utils',
    'unzip',
    'awscli',
    'gpg', // checks the CloudWatch agent's signature
    'gpg-agent', // gpg --import needs it; only a recommendation of gpg, which --no-install-recommends leaves out
    'logrotate',
    ...RUNTIME_PACKAGES.map((p) => p.package),
    ...(s.signaling === 'drachtio' ? ['docker.io'] : []),
    ...(s.rtpengine === 'system' ? ['iptables'] : []),
  ];
}

/**
 * One line naming what an install put on the machine (arch, Node.js version, modes, a digest of the package list).
 * The boot script on a baked image compares it with INSTALL_MARKER, so a fleet never boots an image built for other
 * settings (a new nodeVersion, a package added to system-packages.json) without the image being rebuilt.
 */
export function installIdentity(s: InstallSettings): string {
  const packages = createHash('sha256').update(installPackages(s).join(' ')).digest('hex').slice(0, 12);
  return `sipms-install arch=${s.cpuArch} node=${s.nodeVersion} signaling=${s.signaling} rtpengine=${s.rtpengine} packages=${packages}`;
}

/**
 * Installs what a media node runs, and nothing it is configured with: the Debian packages (installPackages), Node.js
 * (checksum-verified) and the CloudWatch agent (signature-verified, not configured: its log groups are the stack's).
 * The Image Builder pipeline bakes it into the node image; it is the install-only part of the boot script. Every step
 * is safe to repeat: apt installs what is missing, Node.js and the agent are skipped when already there. Any failure
 * fails the script (and the image build).
 */
export function installScript(s: InstallSettings): string {
  const nodeArch = s.cpuArch === 'arm64' ? 'arm64' : 'x64';
  const kernelForwarding =
    s.rtpengine === 'system'
      ? `# rtpengine's kernel module, built by DKMS for the cloud kernel the image boots (the headers metapackage tracks
# it). Best effort: where it does not build, the boot script retries, then rtpengine forwards in userspace.
if ! apt install -y rtpengine-kernel-dkms linux-headers-cloud-${s.cpuArch}; then
  echo "sipms install: WARNING rtpengine's kernel module did not build: nodes retry at boot"
fi
`
      : '';

  return `#!/bin/bash
# SIP Mediaserver media node: installs what the node runs (generated by infra/src/cdk/media-node-boot/install-script.ts).
# No configuration and no bundle: the boot script writes those on each node. Safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
echo "sipms install: start $(date -Is)"

# --- packages: apt's first-boot timers stopped (for this boot only), the dpkg lock waited for, never fought over
systemctl stop unattended-upgrades.service apt-daily.timer apt-daily-upgrade.timer \\
  apt-daily.service apt-daily-upgrade.service 2>/dev/null || echo "sipms install: no apt timers to stop"
apt() {
  apt-get -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
apt update
# An image is a snapshot: without the upgrade it keeps the parent image's package versions until Debian republishes it.
apt upgrade -y
apt install -y --no-install-recommends ${installPackages(s).join(' ')}
${kernelForwarding}
# --- Node.js, checksum-verified, unpacked beside the old copy and swapped in whole
NODE_VERSION=${s.nodeVersion}
NODE_DIST="node-v$NODE_VERSION-linux-${nodeArch}"
NODE_URL=${s.nodeDistUrl ?? NODE_DIST_URL}/v$NODE_VERSION
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$(${NODE_BIN} --version 2>/dev/null || true)" = "v$NODE_VERSION" ]; then
  echo "sipms install: Node.js v$NODE_VERSION is already installed"
else
  curl -fsSL --retry 5 -o "$work/$NODE_DIST.tar.xz" "$NODE_URL/$NODE_DIST.tar.xz"
  curl -fsSL --retry 5 -o "$work/SHASUMS256.txt" "$NODE_URL/SHASUMS256.txt"
  (cd "$work" && grep " $NODE_DIST.tar.xz\\$" SHASUMS256.txt | sha256sum -c -)
  rm -rf ${NODE_DIR}.new
  mkdir -p ${NODE_DIR}.new
  tar -xJf "$work/$NODE_DIST.tar.xz" -C ${NODE_DIR}.new --strip-components=1
  rm -rf ${NODE_DIR}
  mv ${NODE_DIR}.new ${NODE_DIR}
fi
${NODE_BIN} --version

# --- the Amazon CloudWatch agent, checked against its signing key's pinned fingerprint; configured at boot
if [ -x ${CLOUDWATCH_AGENT_CTL} ]; then
  echo "sipms install: the CloudWatch agent is already installed"
else
${cloudwatchAgentInstall(s.cpuArch)}
fi

echo '${installIdentity(s)}' > ${INSTALL_MARKER}
echo "sipms install: done $(date -Is)"
`;
}

/**
 * Fails unless the installed programs run: the image pipeline's validate phase (on the build instance) and test phase
 * (on an instance launched from the new image) run it.
 */
export function installCheckScript(s: InstallSettings): string {
  const commands = [
    ...RUNTIME_PACKAGES.map((p) => p.command),
    'aws',
    'amazon-ssm-agent',
    ...(s.signaling === 'drachtio' ? ['docker'] : []),
  ];
  return `#!/bin/bash
# Checks a media node image: every program the node runs is there and starts.
set -euo pipefail
for cmd in ${commands.join(' ')}; do
  command -v "$cmd" >/dev/null || { echo "sipms image check: $cmd is missing"; exit 1; }
done
${NODE_BIN} --version
[ "$(${NODE_BIN} --version)" = "v${s.nodeVersion}" ]
rtpengine --version
ffmpeg -hide_banner -version >/dev/null
espeak-ng --version
[ -x ${CLOUDWATCH_AGENT_CTL} ]
grep -qxF '${installIdentity(s)}' ${INSTALL_MARKER}
echo "sipms image check: ok"
`;
}
