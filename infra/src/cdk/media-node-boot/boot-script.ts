import {
  CLOUDWATCH_AGENT_CTL,
  CLOUDWATCH_AGENT_KEY_FINGERPRINT,
  cloudwatchAgentInstall,
  INSTALL_MARKER,
  installIdentity,
  installPackages,
} from './install-script.js';
import {
  BOOT_LOG,
  BUNDLE_DIR,
  DRACHTIO_UNIT,
  drachtioUnit,
  EMF_LOG_FILE,
  ENV_FILE,
  JOURNAL_LOG_DIR,
  JOURNAL_UNIT,
  journalCopyUnit,
  MEDIA_NODE_UNIT,
  mediaNodeUnit,
  UNHEALTHY_UNIT,
  unhealthyUnit,
} from './systemd-units.js';
import { type TlsCertificateSource, tlsFetchScript } from './tls-certificate.js';

export { CLOUDWATCH_AGENT_KEY_FINGERPRINT };

export interface BootSettings {
  cpuArch: 'arm64' | 'amd64';
  nodeVersion: string;
  signaling: 'builtin' | 'drachtio';
  rtpengine: 'managed' | 'system';
  rtpPortMin: number;
  rtpPortMax: number;
  sipPort: number;
  rtpengineNgPort: number;
  drachtioImage: string;
  drachtioPort: number;
  /** The media-node bundle (a zip asset); may be CloudFormation tokens. */
  bundle: { bucket: string; key: string };
  region: string;
  /** Settings the same on every node (table, bus, buckets, …); may contain tokens, never `$` or quotes. */
  environment: Record<string, string>;
  /** The log group the CloudWatch agent ships the node's EMF records (EMF_LOG_FILE) to; may be a token. */
  metricsLogGroup: string;
  /** The log group of the node's logs (its units' journals and the boot log); may be a token. */
  nodeLogGroup: string;
  /** The launch lifecycle hook the script completes: CONTINUE once the node is ready, ABANDON on any failure. */
  launchHookName: string;
  /** The Elastic IPs tagged `tagKey=tagValue` the node takes its address from; none: it keeps EC2's address. */
  elasticIpPool: { tagKey: string; tagValue: string } | undefined;
  /** `baked`: packages, Node.js and the agents are in the image (installScript); the script checks, installs nothing. */
  nodeImage: 'stock' | 'baked';
  /** With one, the node fetches it before its units start and serves SIP over TLS (tlsEnvironment). */
  tlsCertificate: TlsCertificateSource | undefined;
}

/** What the boot's static files depend on: no CloudFormation tokens (they go into an asset). */
export interface BootFileSettings {
  cpuArch: 'arm64' | 'amd64';
  signaling: 'builtin' | 'drachtio';
  /** systemd waits this long after SIGTERM (the node finishes its calls) before SIGKILL. */
  stopTimeoutSec: number;
}

/** Where the bundle's boot files are, relative to the bundle's root and once unpacked. */
export const BOOT_FILES_DIR = 'boot';
/** The conference relay's UDP port on each node (docs/conferences.md, "Across nodes"): open between the nodes only. */
export const CONFERENCE_RELAY_PORT = 5090;
export const BOOT_DIR = `${BUNDLE_DIR}/${BOOT_FILES_DIR}`;

/** The systemd units whose journals are copied to files the CloudWatch agent ships (JOURNAL_LOG_DIR). */
export function journaledUnits(s: Pick<BootSettings, 'signaling' | 'rtpengine'>): string[] {
  return [
    'sipms-media-node',
    ...(s.rtpengine === 'system' ? ['rtpengine-daemon'] : []),
    ...(s.signaling === 'drachtio' ? ['sipms-drachtio'] : []),
  ];
}

/** The SIP OPTIONS probe the script runs before it completes the launch hook (a boot file). */
export const SIP_PROBE = `${BOOT_DIR}/sip-probe.mjs`;
/** The CloudWatch agent's installer (a boot file). */
export const CLOUDWATCH_AGENT_SCRIPT = `${BOOT_DIR}/cloudwatch-agent.sh`;

/**
 * Sends one SIP OPTIONS over UDP to host:port and exits 0 only on a `SIP/2.0 200` answer within 2 s: the node is
 * taking requests. Plain Node (no bundle code), so it checks the node from outside as a carrier would.
 */
export const SIP_PROBE_SOURCE = `import { createSocket } from 'node:dgram';
const [host, port] = process.argv.slice(2);
const id = Math.random().toString(36).slice(2);
const s = createSocket('udp4');
setTimeout(() => process.exit(1), 2000);
s.on('message', (m) => {
  const status = m.toString().split('\\r\\n')[0];
  console.log(status);
  process.exit(/^SIP\\/2\\.0 200 /.test(status) ? 0 : 1);
});
s.bind(0, host, () => {
  const via = \`SIP/2.0/UDP \${host}:\${s.address().port};branch=z9hG4bK\${id};rport\`;
  const lines = [\`OPTIONS sip:\${host}:\${port} SIP/2.0\`, \`Via: \${via}\`, 'Max-Forwards: 70',
    \`From: <sip:boot@\${host}>;tag=\${id}\`, \`To: <sip:\${host}:\${port}>\`, \`Call-ID: \${id}@sipms-boot\`,
    'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''];
  s.send(lines.join('\\r\\n'), Number(port), host);
});
`;

/**
 * The files the boot script takes from the bundle (paths relative to the bundle's root): the systemd units, the SIP
 * probe, the CloudWatch agent's installer, the logrotate and sysctl configuration. Static text that would otherwise fill the
 * user data, which EC2 limits to 16 KB; they hold no tokens (an asset cannot), so everything deployment-specific
 * (names, addresses, the agent's log groups) stays in the user data.
 */
export function bootFiles(s: BootFileSettings): Record<string, string> {
  const unit = (name: string, text: string) => [`${BOOT_FILES_DIR}/units/${name}`, text] as const;
  return Object.fromEntries([
    unit(MEDIA_NODE_UNIT, mediaNodeUnit({ signaling: s.signaling, stopTimeoutSec: s.stopTimeoutSec })),
    unit(UNHEALTHY_UNIT, unhealthyUnit()),
    unit(JOURNAL_UNIT, journalCopyUnit()),
    ...(s.signaling === 'drachtio' ? [unit(DRACHTIO_UNIT, drachtioUnit())] : []),
    [`${BOOT_FILES_DIR}/sip-probe.mjs`, SIP_PROBE_SOURCE],
    [`${BOOT_FILES_DIR}/cloudwatch-agent.sh`, cloudwatchAgentInstaller(s.cpuArch)],
    [`${BOOT_FILES_DIR}/logrotate.conf`, LOGROTATE_CONFIG],
    [`${BOOT_FILES_DIR}/sysctl.conf`, SYSCTL_CONFIG],
  ]);
}

/**
 * The media node's user data: a bash script run once by cloud-init at first boot. It installs
 * Node.js and the runtime packages of system-packages.json (rtpengine, ffmpeg, …: the list
 * `npm start` installs too), or with nodeImage=baked checks that the image holds them, takes a fixed
 * address from the Elastic IP pool, fetches the media-node bundle (with the boot files: bootFiles),
 * fetches the SIP TLS certificate when one is configured, writes the environment file with this
 * node's addresses (from IMDSv2) and starts the systemd units. The instance stays out of service (the launch lifecycle hook) until the node answers SIP
 * OPTIONS and its heartbeat is in the registry; then the script completes the hook with CONTINUE. Any
 * failed step completes it with ABANDON (the ERR trap), and the group replaces the instance. Every step
 * logs to the console and /var/log/sipms-boot.log, which the CloudWatch agent ships.
 */
export function bootScript(s: BootSettings): string {
  const nodeArch = s.cpuArch === 'arm64' ? 'arm64' : 'x64';
  const drachtio = s.signaling === 'drachtio';
  const system = s.rtpengine === 'system';
  const table = s.environment.TABLE_NAME;
  if (!table) throw new Error('bootScript: environment.TABLE_NAME (the node registry) is required');
  // What this script itself uses, then what the media node runs (the list `npm start` installs too).
  const packages = installPackages(s);
  const baked = s.nodeImage === 'baked';
  const staticEnv = Object.entries(s.environment)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  const journals = journaledUnits(s).map((u) => JOURNAL_UNIT.replace('@.', `@${u}.`));

  return `#!/bin/bash
# SIP Mediaserver media node: first-boot setup (generated by infra/src/cdk/media-node-boot).
set -Eeuo pipefail
exec > >(tee -a ${BOOT_LOG}) 2>&1
echo "sipms boot: start $(date -Is)"
export DEBIAN_FRONTEND=noninteractive
REGION=${s.region}
GROUP=
INSTANCE_ID=

# --- the launch hook: CONTINUE once ready; ABANDON on any failed step (the group replaces the instance)
complete_launch() {
  if [ -z "$GROUP" ]; then
    echo "sipms boot: not in an Auto Scaling group, no launch hook to complete ($1)"
    return 0
  fi
  aws autoscaling complete-lifecycle-action --region "$REGION" --auto-scaling-group-name "$GROUP" \\
    --lifecycle-hook-name ${s.launchHookName} --instance-id "$INSTANCE_ID" --lifecycle-action-result "$1"
}
abandon() {
  trap - ERR
  echo "sipms boot: FAILED $(date -Is): $1"
  # Before awscli is installed, or without an instance id, the hook's timeout abandons (its default result).
  if [ -n "$INSTANCE_ID" ] && command -v aws >/dev/null; then
    complete_launch ABANDON || echo "sipms boot: could not abandon the launch: the hook's timeout will"
  fi
  exit 1
}
on_error() {
  local status=$?
  # A failure inside a command substitution is the caller's to handle.
  if [ "$BASHPID" != "$$" ]; then exit "$status"; fi
  abandon "line $1 exited $status: $2"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

# --- this node's identity and addresses, from IMDSv2
IMDS=http://169.254.169.254
imds_token() {
  curl -fsS --retry 10 --retry-connrefused -X PUT "$IMDS/latest/api/token" \\
    -H 'x-aws-ec2-metadata-token-ttl-seconds: 300'
}
imds() {
  curl -fsS --retry 5 -H "x-aws-ec2-metadata-token: $(imds_token)" "$IMDS/latest/meta-data/$1"
}
INSTANCE_ID=$(imds instance-id)
PRIVATE_IP=$(imds local-ipv4)
PUBLIC_IP=$(imds public-ipv4 || true)

${
  baked
    ? `# --- nodeImage=baked: the image holds the packages (checked below, once the group is known to abandon in)
apt() { apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }`
    : `# --- packages: apt's first-boot timers stopped, the dpkg lock waited for, never fought over
systemctl stop unattended-upgrades.service apt-daily.timer apt-daily-upgrade.timer \\
  apt-daily.service apt-daily-upgrade.service 2>/dev/null || echo "sipms boot: no apt timers to stop"
apt() { apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }
apt update
apt install -y --no-install-recommends ${packages.join(' ')}`
}
GROUP=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$INSTANCE_ID" \\
  --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text)
if [ "$GROUP" = None ]; then GROUP=; fi
${
  baked
    ? `grep -qxF '${installIdentity(s)}' ${INSTALL_MARKER} || abandon "image not baked for ${installIdentity(s)}: run the image pipeline, then deploy"`
    : ''
}
work=$(mktemp -d)
${
  baked
    ? '# nodeImage=baked: Node.js is in the image'
    : `NODE_VERSION=${s.nodeVersion}
NODE_DIST="node-v$NODE_VERSION-linux-${nodeArch}"
curl -fsSL --retry 5 -o "$work/$NODE_DIST.tar.xz" "https://nodejs.org/dist/v$NODE_VERSION/$NODE_DIST.tar.xz"
curl -fsSL --retry 5 -o "$work/SHASUMS256.txt" "https://nodejs.org/dist/v$NODE_VERSION/SHASUMS256.txt"
(cd "$work" && grep " $NODE_DIST.tar.xz\\$" SHASUMS256.txt | sha256sum -c -)
mkdir -p /opt/sipms/node
tar -xJf "$work/$NODE_DIST.tar.xz" -C /opt/sipms/node --strip-components=1`
}
/opt/sipms/node/bin/node --version

# --- the public address: a fixed one from the Elastic IP pool, before the node advertises any
${s.elasticIpPool ? takeElasticIp(s.elasticIpPool) : '# elasticIps=0: the node keeps the address EC2 gave it'}
if [ -z "$PUBLIC_IP" ]; then
  echo "sipms boot: WARNING no public IPv4: advertising the private address $PRIVATE_IP"
  PUBLIC_IP=$PRIVATE_IP
fi

# --- the media-node bundle (an S3 asset of the CDK app)
aws s3 cp --region "$REGION" "s3://${s.bundle.bucket}/${s.bundle.key}" "$work/media-node.zip"
rm -rf ${BUNDLE_DIR}
mkdir -p ${BUNDLE_DIR}
unzip -q "$work/media-node.zip" -d ${BUNDLE_DIR}
rm -rf "$work"
id sipms >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin sipms
${s.tlsCertificate ? tlsFetchScript(s.tlsCertificate) : '# no sipTlsCertificate: SIP over UDP and TCP only'}

# --- rtpengine
${system ? systemRtpengine(s) : managedRtpengine()}

# --- environment of the units
mkdir -p /etc/sipms
umask 027
cat > ${ENV_FILE} <<ENV
NODE_ID=$INSTANCE_ID
SIP_HOST=$PRIVATE_IP
SIP_PORT=${s.sipPort}
SIP_ADVERTISED_HOST=$PUBLIC_IP
RTP_HOST=$PRIVATE_IP
CONFERENCE_RELAY_PORT=${CONFERENCE_RELAY_PORT}
RTP_PORT_MIN=${s.rtpPortMin}
RTP_PORT_MAX=${s.rtpPortMax}
RTPENGINE_NG_PORT=${s.rtpengineNgPort}
RTPENGINE_MANAGED=$RTPENGINE_MANAGED
RTPENGINE_TABLE=$RTPENGINE_TABLE
DTMF_LOG_PORT=22299
SIGNALING=${s.signaling}
CACHE_DIR=/var/cache/sipms
RUN_DIR=/run/sipms
AWS_REGION=$REGION
$EXTRA_ENV
${staticEnv}
ENV
${
  drachtio
    ? `cat >> ${ENV_FILE} <<ENV
DRACHTIO_IMAGE=${s.drachtioImage}
DRACHTIO_HOST=127.0.0.1
DRACHTIO_PORT=${s.drachtioPort}
DRACHTIO_ADDRESS=127.0.0.1:${s.drachtioPort}
DRACHTIO_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')
ENV`
    : '# signaling=builtin: the media node speaks SIP itself'
}
chgrp sipms ${ENV_FILE}
umask 022

# --- socket buffers for the SIP, media and rtpengine control sockets (the node asks for 4 MiB; the kernel caps it at rmem_max)
install -m 0644 ${BOOT_DIR}/sysctl.conf /etc/sysctl.d/60-sipms.conf
sysctl -q -p /etc/sysctl.d/60-sipms.conf || echo "sipms boot: WARNING socket buffer limits not raised: bursts of packets may be dropped"

# --- systemd units (boot files of the bundle); each unit's journal is copied to ${JOURNAL_LOG_DIR} for the agent
install -m 0644 ${BOOT_DIR}/units/*.service /etc/systemd/system/
mkdir -p ${JOURNAL_LOG_DIR}
systemctl daemon-reload
systemctl enable --now ${journals.join(' ')}
${drachtio ? `systemctl enable --now docker.service ${DRACHTIO_UNIT}` : ''}
systemctl enable --now ${MEDIA_NODE_UNIT}

# --- logs, node metrics and shell access: best effort, they never keep a node from taking calls
${cloudwatchAgent(s)}
${baked ? 'systemctl enable --now amazon-ssm-agent || echo "sipms boot: WARNING the SSM Agent did not start"' : ssmAgent(s)}

# --- in service only once the node answers SIP OPTIONS and its heartbeat is in the registry
answered=
for _ in $(seq 1 90); do
  if /opt/sipms/node/bin/node ${SIP_PROBE} "$PRIVATE_IP" ${s.sipPort}; then answered=yes; break; fi
  sleep 2
done
[ -n "$answered" ] || abandon "the node did not answer SIP OPTIONS on $PRIVATE_IP:${s.sipPort} within 3 minutes"
registered=
for _ in $(seq 1 30); do
  beat=$(aws dynamodb get-item --region "$REGION" --table-name ${table} --consistent-read \\
    --key "{\\"pk\\":{\\"S\\":\\"NODE#$INSTANCE_ID\\"},\\"sk\\":{\\"S\\":\\"HEARTBEAT\\"}}" \\
    --query 'Item.pk.S' --output text) || beat=
  if [ "$beat" = "NODE#$INSTANCE_ID" ]; then registered=yes; break; fi
  sleep 2
done
[ -n "$registered" ] || abandon "no heartbeat of $INSTANCE_ID in the node registry within a minute"
complete_launch CONTINUE
echo "sipms boot: done $(date -Is) node=$INSTANCE_ID sip=$PUBLIC_IP:${s.sipPort} rtpengine_table=$RTPENGINE_TABLE"
`;
}

/**
 * Takes a free address of the pool: one with no association, picked at random so booting nodes rarely collide,
 * and associated without reassociation, so a node never takes an address another holds (a lost race fails and
 * the loop tries again). Waits up to about ten minutes for an address a draining node is about to release.
 */
function takeElasticIp(pool: { tagKey: string; tagValue: string }): string {
  return `take_address() {
  local free allocation ip
  for try in $(seq 1 60); do
    free=$(aws ec2 describe-addresses --region "$REGION" --filters "Name=tag:${pool.tagKey},Values=${pool.tagValue}" \\
      --query 'Addresses[?!AssociationId].[AllocationId,PublicIp]' --output text | shuf -n 1) || free=
    if [ -n "$free" ]; then
      read -r allocation ip <<<"$free"
      if aws ec2 associate-address --region "$REGION" --instance-id "$INSTANCE_ID" --allocation-id "$allocation" \\
        --no-allow-reassociation >/dev/null; then
        PUBLIC_IP=$ip
        echo "sipms boot: took Elastic IP $ip ($allocation)"
        return 0
      fi
      echo "sipms boot: $ip went to another node, trying again"
    else
      echo "sipms boot: no free Elastic IP in the pool (try $try), waiting for one"
    fi
    sleep $((RANDOM % 5 + 5))
  done
  return 1
}
take_address || abandon "no free Elastic IP in the pool ${pool.tagValue}: raise elasticIps"`;
}

function managedRtpengine(): string {
  return `# The media node starts and supervises its own userspace rtpengine; the packaged service stays off.
systemctl disable --now rtpengine-daemon.service || true
EXTRA_ENV=
RTPENGINE_MANAGED=true
RTPENGINE_TABLE=-1`;
}

function systemRtpengine(s: BootSettings): string {
  return `# The packaged rtpengine service, with in-kernel forwarding (table 0) where the module builds and loads.
systemctl stop rtpengine-daemon.service || true
RTPENGINE_MANAGED=false
RTPENGINE_TABLE=-1
if apt install -y rtpengine-kernel-dkms "linux-headers-$(uname -r)" && modprobe xt_RTPENGINE \\
  && iptables -I INPUT -p udp --dport ${s.rtpPortMin}:${s.rtpPortMax} -j RTPENGINE --id 0; then
  RTPENGINE_TABLE=0
else
  echo "sipms boot: kernel forwarding unavailable, rtpengine forwards in userspace"
fi
cat > /etc/rtpengine/rtpengine.conf <<CONF
[rtpengine]
table = $RTPENGINE_TABLE
interface = $PRIVATE_IP!$PUBLIC_IP
listen-ng = 127.0.0.1:${s.rtpengineNgPort}
port-min = ${s.rtpPortMin}
port-max = ${s.rtpPortMax}
delete-delay = 0
endpoint-learning = heuristic
dtmf-log-dest = 127.0.0.1:22299
recording-dir = /var/lib/sipms/recordings
recording-method = pcap
log-level = 5
# As the node's RTPENGINE_THREADS: the cores the node's event loop leaves (rtpengine's own default is at least four).
num-threads = $(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
CONF
mkdir -p /var/lib/sipms/recordings
EXTRA_ENV="RECORDING_DIR=/var/lib/sipms/recordings"
systemctl enable rtpengine-daemon.service
systemctl restart rtpengine-daemon.service`;
}

/** Written by the boot script (the log groups are the stack's tokens), read by the agent's installer. */
export const CLOUDWATCH_AGENT_CONFIG = '/etc/sipms/cloudwatch-agent.json';

/**
 * The agent's configuration: it tails EMF_LOG_FILE into the metrics log group (CloudWatch Logs extracts the
 * metrics from the EMF header), and the node's logs (its units' journals as copied to JOURNAL_LOG_DIR, and the boot
 * log) into the node log group, one stream per instance and source. It collects nothing else.
 */
export function cloudwatchAgentConfig(
  s: Pick<BootSettings, 'metricsLogGroup' | 'nodeLogGroup' | 'signaling' | 'rtpengine'>,
): string {
  const logs = (file: string, source: string) => ({
    file_path: file,
    log_group_name: s.nodeLogGroup,
    log_stream_name: `{instance_id}/${source}`,
  });
  const config = {
    agent: { run_as_user: 'cwagent' },
    logs: {
      logs_collected: {
        files: {
          collect_list: [
            { file_path: EMF_LOG_FILE, log_group_name: s.metricsLogGroup, log_stream_name: '{instance_id}' },
            ...journaledUnits(s).map((u) => logs(`${JOURNAL_LOG_DIR}/${u}.log`, u)),
            logs(BOOT_LOG, 'boot'),
          ],
        },
      },
    },
  };
  return `${JSON.stringify(config)}\n`;
}

/**
 * Rotates the node's log files: the EMF file as the node's user; the journal copies and the boot log, root's, by
 * copying then truncating, since their writers keep them open. A boot file.
 */
/**
 * Kernel limits the node's sockets need: the SIP and media sinks ask for 4 MiB buffers (a few hundred streams send
 * bursts of a packet each to one socket every 20 ms), and so does its rtpengine control socket (the replies to a
 * burst of call set-ups, several KiB each), which Debian's default rmem_max (208 KiB) would cap.
 */
export const SYSCTL_CONFIG = `net.core.rmem_max = 8388608
net.core.wmem_max = 8388608
`;

export const LOGROTATE_CONFIG = `${EMF_LOG_FILE} {
  daily
  maxsize 20M
  rotate 3
  missingok
  notifempty
  compress
  delaycompress
  su sipms sipms
}
${JOURNAL_LOG_DIR}/*.log ${BOOT_LOG} {
  daily
  maxsize 50M
  rotate 3
  missingok
  notifempty
  compress
  delaycompress
  copytruncate
}
`;

/**
 * Installs the CloudWatch agent from Amazon's package, checked against the signing key's pinned fingerprint (skipped
 * when a baked image has it), then starts it with CLOUDWATCH_AGENT_CONFIG. A boot file.
 */
export function cloudwatchAgentInstaller(cpuArch: 'arm64' | 'amd64'): string {
  return `#!/bin/bash
# Installs the Amazon CloudWatch agent (signature-checked) and has it ship the node's EMF records and logs.
set -euo pipefail
if [ ! -x ${CLOUDWATCH_AGENT_CTL} ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
${cloudwatchAgentInstall(cpuArch)}
fi
${CLOUDWATCH_AGENT_CTL} -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}
`;
}

/**
 * Installs the rotation, writes the agent's configuration and runs its installer (boot files), after the media
 * node has started: when it fails, the boot log says so and the node runs on (its records and logs stay in their
 * files), since logs and metrics must never keep a node from taking calls.
 */
function cloudwatchAgent(s: BootSettings): string {
  return `install -m 0644 ${BOOT_DIR}/logrotate.conf /etc/logrotate.d/sipms
cat > ${CLOUDWATCH_AGENT_CONFIG} <<'JSON'
${cloudwatchAgentConfig(s)}JSON
if bash ${CLOUDWATCH_AGENT_SCRIPT}; then
  echo "sipms boot: the CloudWatch agent ships ${EMF_LOG_FILE} (node metrics) and the node's logs"
else
  echo "sipms boot: WARNING the CloudWatch agent did not start: node metrics and logs stay on the node"
fi`;
}

/**
 * The SSM Agent (Session Manager instead of SSH: the nodes have no key pair and no port 22), from the region's own
 * SSM bucket over HTTPS; Debian's images do not carry it. A failure is a warning, as for the CloudWatch agent.
 */
function ssmAgent(s: BootSettings): string {
  const arch = s.cpuArch === 'arm64' ? 'arm64' : 'amd64';
  return `if curl -fsSL --retry 5 -o /tmp/amazon-ssm-agent.deb \\
  "https://s3.$REGION.amazonaws.com/amazon-ssm-$REGION/latest/debian_${arch}/amazon-ssm-agent.deb" \\
  && dpkg -i /tmp/amazon-ssm-agent.deb && systemctl enable --now amazon-ssm-agent; then
  echo "sipms boot: SSM Agent running (aws ssm start-session --target $INSTANCE_ID)"
else
  echo "sipms boot: WARNING the SSM Agent did not start: no Session Manager on this node"
fi
rm -f /tmp/amazon-ssm-agent.deb`;
}
