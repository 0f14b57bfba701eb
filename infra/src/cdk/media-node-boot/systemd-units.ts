/**
 * systemd units of a media node. Values that differ per node (addresses, instance id, secrets) come
 * from the environment file the boot script writes; the units themselves are the same on every node.
 */
export const ENV_FILE = '/etc/sipms/media-node.env';
export const NODE_BIN = '/opt/sipms/node/bin/node';
export const BUNDLE_DIR = '/opt/sipms/media-node';
export const MEDIA_NODE_UNIT = 'sipms-media-node.service';
export const DRACHTIO_UNIT = 'sipms-drachtio.service';
export const UNHEALTHY_UNIT = 'sipms-node-unhealthy.service';
/** The node's metrics as EMF records (METRICS_EMF), under the unit's LogsDirectory; the CloudWatch agent ships it. */
export const EMF_LOG_FILE = '/var/log/sipms/emf.log';
/** The boot script's own log (also on the console). */
export const BOOT_LOG = '/var/log/sipms-boot.log';
/** Copies of the units' journals, one `<unit>.log` each, for the CloudWatch agent (which cannot read journald). */
export const JOURNAL_LOG_DIR = '/var/log/sipms-journal';
/** The template unit copying one unit's journal: `sipms-journal@<unit>.service`. */
export const JOURNAL_UNIT = 'sipms-journal@.service';

export interface UnitSettings {
  signaling: 'builtin' | 'drachtio';
  /** systemd waits this long after SIGTERM (the node finishes its calls) before SIGKILL. */
  stopTimeoutSec: number;
}

export function mediaNodeUnit(s: UnitSettings): string {
  const drachtio = s.signaling === 'drachtio';
  return `[Unit]
Description=SIP Mediaserver media node
Wants=network-online.target
After=network-online.target${drachtio ? ` ${DRACHTIO_UNIT}\nRequires=${DRACHTIO_UNIT}` : ''}
# Five crashes in five minutes: give up and let the Auto Scaling group replace the instance.
StartLimitIntervalSec=300
StartLimitBurst=5
OnFailure=${UNHEALTHY_UNIT}

[Service]
Type=simple
User=sipms
Group=sipms
EnvironmentFile=${ENV_FILE}
WorkingDirectory=${BUNDLE_DIR}
ExecStart=${NODE_BIN} --enable-source-maps ${BUNDLE_DIR}/main.mjs
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec=${s.stopTimeoutSec}
RuntimeDirectory=sipms
CacheDirectory=sipms
# /var/log/sipms, writable by the node under ProtectSystem=strict: its EMF records (METRICS_EMF).
LogsDirectory=sipms
# SIP on 5060 as an unprivileged user; nothing else is elevated.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectKernelModules=true
ProtectControlGroups=true
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

export function unhealthyUnit(): string {
  return `[Unit]
Description=Mark this media node unhealthy so its Auto Scaling group replaces it

[Service]
Type=oneshot
EnvironmentFile=${ENV_FILE}
ExecStart=/usr/bin/aws autoscaling set-instance-health --region \${AWS_REGION} --instance-id \${NODE_ID} --health-status Unhealthy --no-should-respect-grace-period
`;
}

export function drachtioUnit(): string {
  return `[Unit]
Description=drachtio-server (SIP signaling for the media node, from its published container image)
Wants=network-online.target
After=network-online.target docker.service
Requires=docker.service

[Service]
Type=simple
EnvironmentFile=${ENV_FILE}
ExecStartPre=-/usr/bin/docker rm -f drachtio
ExecStartPre=/usr/bin/docker pull \${DRACHTIO_IMAGE}
ExecStart=/usr/bin/docker run --rm --name drachtio --net=host \${DRACHTIO_IMAGE} drachtio "--contact=sip:\${SIP_HOST}:\${SIP_PORT};transport=udp,tcp" --external-ip \${SIP_ADVERTISED_HOST} --address 127.0.0.1 --port \${DRACHTIO_PORT} --secret \${DRACHTIO_SECRET} --loglevel info
ExecStop=/usr/bin/docker stop --time 10 drachtio
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Follows the journal of the unit named by the instance (`sipms-journal@sipms-media-node.service`) into
 * JOURNAL_LOG_DIR/<unit>.log, message text only, so the media node's JSON lines stay JSON for CloudWatch Logs
 * Insights; `journalctl -u` keeps working. The cursor file makes a restarted copy resume where it stopped.
 */
export function journalCopyUnit(): string {
  return `[Unit]
Description=Copy the journal of %i to ${JOURNAL_LOG_DIR}/%i.log
After=systemd-journald.service

[Service]
Type=simple
ExecStart=/usr/bin/journalctl --follow --quiet --boot --lines=all --output=cat --unit=%i --cursor-file=/var/lib/sipms-journal/%i.cursor
StandardOutput=append:${JOURNAL_LOG_DIR}/%i.log
StateDirectory=sipms-journal
LogsDirectory=sipms-journal
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}
