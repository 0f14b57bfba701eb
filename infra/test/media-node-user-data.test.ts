import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { RUNTIME_PACKAGES } from '@sipms/shared/system-packages';
import {
  BOOT_DIR,
  CLOUDWATCH_AGENT_CONFIG,
  CLOUDWATCH_AGENT_KEY_FINGERPRINT,
  SIP_PROBE_SOURCE,
} from '../src/cdk/media-node-boot/boot-script.js';
import { EMF_LOG_FILE } from '../src/cdk/media-node-boot/systemd-units.js';
import { type Cfn, renderCfnString, resourcesOfType, scratchDir, synth } from './helpers/synth.js';
import { requireCommand, shellcheck } from './helpers/tools.js';

/**
 * The media node's user data, taken from the synthesized launch template for each signaling /
 * rtpengine combination, and the boot files its bundle carries (units, agent installer, probe): bash
 * parses the script, its systemd units pass `systemd-analyze verify` (or, where systemd-analyze is
 * missing, a key check), and its environment file satisfies the media node's own configuration schema.
 */
function bootOf(context: Record<string, unknown>): { script: string; files: Record<string, string> } {
  const { template, stack } = synth(context, { bundle: false });
  const [[, lt]] = resourcesOfType(template, 'AWS::EC2::LaunchTemplate') as [[string, Cfn]];
  return { script: renderCfnString(lt.LaunchTemplateData.UserData), files: stack.fleet.bootFiles };
}
function userDataOf(context: Record<string, unknown>): string {
  return bootOf(context).script;
}

/** The units the script installs: the bundle's boot/units/*.service. */
function unitsOf(files: Record<string, string>): Map<string, string> {
  const units = new Map<string, string>();
  for (const [path, text] of Object.entries(files)) {
    const m = /^boot\/units\/([^/]+\.service)$/.exec(path);
    if (m) units.set(m[1]!, text);
  }
  return units;
}

/** KEY=value lines of the environment file's here-documents, with boot-time shell values filled in. */
function envFileOf(script: string): Record<string, string> {
  const env: Record<string, string> = {};
  const shellValues: Record<string, string> = {
    INSTANCE_ID: 'i-0123456789abcdef0',
    PRIVATE_IP: '10.0.0.10',
    PUBLIC_IP: '203.0.113.10',
    RTPENGINE_MANAGED: 'true',
    RTPENGINE_TABLE: '-1',
  };
  for (const m of script.matchAll(/cat >>? \/etc\/sipms\/media-node\.env <<ENV\n([\s\S]*?)\nENV\n/g)) {
    for (const line of m[1]!.split('\n')) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      env[line.slice(0, eq)] = line.slice(eq + 1).replace(/\$([A-Z_]+)/g, (_, v: string) => shellValues[v] ?? `$${v}`);
    }
  }
  return env;
}

/** A throwaway root holding the host's unit library, our units and stand-ins for the binaries they run. */
function verifyUnits(units: Map<string, string>): { status: number | null; findings: string[] } {
  requireCommand('systemd-analyze');
  const root = scratchDir('sipms-units-');
  const hostUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(d))!;
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync(hostUnits, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  for (const [name, text] of units) writeFileSync(join(root, 'etc/systemd/system', name), text);
  // What the boot script installs before it starts the units.
  for (const bin of ['/opt/sipms/node/bin/node', '/usr/bin/aws', '/usr/bin/docker', '/usr/bin/journalctl']) {
    mkdirSync(dirname(join(root, bin)), { recursive: true });
    writeFileSync(join(root, bin), '#!/bin/sh\n');
    chmodSync(join(root, bin), 0o755);
  }
  if (!existsSync(join(root, 'usr/lib/systemd/system/docker.service'))) {
    writeFileSync(join(root, 'etc/systemd/system/docker.service'), '[Service]\nExecStart=/usr/bin/docker\n');
  }
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...units.keys()], { encoding: 'utf8' });
  const findings = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => [...units.keys()].some((u) => l.includes(u)));
  return { status: r.status, findings };
}

const REQUIRED_KEYS: Record<string, string[]> = {
  Unit: ['Description'],
  Service: ['ExecStart'],
};

function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `malformed unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const combinations = [
  { name: 'builtin signaling, managed userspace rtpengine (default)', context: {}, units: 3 },
  {
    name: 'drachtio signaling, system rtpengine with kernel forwarding, no Elastic IPs',
    context: { signaling: 'drachtio', rtpengine: 'system', elasticIps: 0 },
    units: 4,
  },
];

for (const combo of combinations) {
  describe(combo.name, () => {
    const { script, files } = bootOf(combo.context);
    const agent = files['boot/cloudwatch-agent.sh'];

    test('bash -n accepts the user data', () => {
      assert.ok(script.startsWith('#!/bin/bash\n'));
      assert.ok(Buffer.byteLength(script) < 16 * 1024, 'EC2 limits user data to 16 KB');
      const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });

    test('shellcheck finds nothing in the user data or the agent install script', () => {
      assert.deepEqual(shellcheck(script), []);
      assert.deepEqual(shellcheck(agent!), []);
    });

    test('the boot files the script uses are in the bundle, and the script installs them from there', () => {
      for (const path of Object.keys(files)) assert.match(path, /^boot\//);
      assert.match(script, new RegExp(`^install -m 0644 ${BOOT_DIR}/units/\\*\\.service /etc/systemd/system/$`, 'm'));
      assert.match(script, new RegExp(`^install -m 0644 ${BOOT_DIR}/logrotate\\.conf /etc/logrotate\\.d/sipms$`, 'm'));
      assert.match(script, new RegExp(`^if bash ${BOOT_DIR}/cloudwatch-agent\\.sh; then$`, 'm'));
      // Socket buffer limits are raised before the node starts (its SIP and media sockets ask for 4 MiB).
      assert.match(
        script,
        new RegExp(`^install -m 0644 ${BOOT_DIR}/sysctl\\.conf /etc/sysctl\\.d/60-sipms\\.conf$`, 'm'),
      );
      assert.ok(
        script.indexOf('sysctl -q -p /etc/sysctl.d/60-sipms.conf') <
          script.indexOf('systemctl enable --now sipms-media-node'),
      );
      assert.match(files['boot/sysctl.conf']!, /^net\.core\.rmem_max = 8388608$/m);
      assert.match(script, new RegExp(`node ${BOOT_DIR}/sip-probe\\.mjs "\\$PRIVATE_IP"`));
      assert.equal(files['boot/sip-probe.mjs'], SIP_PROBE_SOURCE);
      // The units are installed after the bundle is unpacked, before anything starts.
      assert.ok(script.indexOf('unzip -q') < script.indexOf(`install -m 0644 ${BOOT_DIR}/units`));
      assert.ok(script.indexOf(`install -m 0644 ${BOOT_DIR}/units`) < script.indexOf('systemctl daemon-reload'));
      // No unit text, agent installer or probe source left in the user data.
      assert.doesNotMatch(script, /\[Service\]|ExecStart=|gpg --batch|createSocket/);
    });

    test('the node advertises its public IP from IMDSv2 and gets the table, bus and buckets', () => {
      assert.match(script, /x-aws-ec2-metadata-token-ttl-seconds/);
      assert.match(script, /latest\/meta-data\/\$1|meta-data\/public-ipv4/);
      const env = envFileOf(script);
      assert.equal(env.SIP_ADVERTISED_HOST, '203.0.113.10');
      assert.equal(env.NODE_ID, 'i-0123456789abcdef0');
      assert.match(env.TABLE_NAME!, /^cfn-ref-/);
      assert.match(env.EVENT_BUS_NAME!, /^cfn-ref-/);
      assert.match(env.PROMPT_STORE!, /^s3:cfn-ref-/);
      assert.equal(env.RECORDINGS_BUCKET, undefined, 'recordings are prompt files: no bucket of their own');
      assert.equal(env.STAGE, 'dev', "the Stage dimension of the node's metrics");
      assert.equal(env.CALLBACK_URL_POLICY, 'public-https');
      assert.equal(env.ASG_LIFECYCLE_HOOK_NAME, 'sipms-drain');
      assert.equal(env.SIGNALING, combo.context.signaling ?? 'builtin');
      if (combo.context.signaling === 'drachtio') {
        assert.match(script, /^apt install[^\n]* docker\.io/m);
        assert.ok(env.DRACHTIO_SECRET && env.DRACHTIO_IMAGE);
      }
      if (combo.context.rtpengine === 'system') assert.match(script, /table = \$RTPENGINE_TABLE/);
      if (combo.context.rtpengine === 'system') assert.match(script, /num-threads = \$\(\( \$\(nproc\) > 1/);
      assert.match(script, /^apt install[^\n]* rtpengine-daemon/m);
      assert.match(script, /SHASUMS256\.txt/, 'Node.js download is checksum-verified');
      assert.match(script, /node-v\$NODE_VERSION-linux-arm64/);
    });

    test('every runtime package of system-packages.json is installed (the list `npm start` installs)', () => {
      const installLine = /^apt install -y --no-install-recommends (.+)$/m.exec(script);
      assert.ok(installLine, 'the user data installs packages with apt-get');
      const installed = installLine[1]!.trim().split(/\s+/);
      for (const p of RUNTIME_PACKAGES) assert.ok(installed.includes(p.package), `${p.package} (${p.command})`);
      for (const p of ['gpg', 'logrotate']) assert.ok(installed.includes(p), `${p}: the CloudWatch agent and its file`);
      assert.ok(installed.includes('ffmpeg'), 'ffmpeg: prompts are converted to AU, never played as WAV');
    });

    test('the environment file satisfies the media node configuration schema', async () => {
      const { loadMediaNodeConfig } = await import('@sipms/media-node/config');
      const config = loadMediaNodeConfig(envFileOf(script));
      assert.equal(config.SIP_ADVERTISED_HOST, '203.0.113.10');
      assert.equal(config.RTP_PORT_MIN, 30000);
      assert.deepEqual(config.METRICS_EMF, { kind: 'file', path: EMF_LOG_FILE }, 'EMF records go to the shipped file');
      assert.equal(config.METRICS_EMF_INTERVAL_MS, 60_000);
    });

    test('node metrics: the CloudWatch agent, signature-checked, ships the EMF file; its failure never stops the node', () => {
      assert.ok(agent, 'the agent install script is a boot file');
      const parsed = spawnSync('bash', ['-n'], { input: agent, encoding: 'utf8' });
      assert.equal(parsed.status, 0, parsed.stderr);
      assert.match(agent, /^set -euo pipefail$/m, 'any failed step stops the install');
      assert.match(
        agent,
        /amazoncloudwatch-agent\.s3\.amazonaws\.com\/ubuntu\/arm64\/latest\/amazon-cloudwatch-agent\.deb'/,
      );
      // The signature is checked against the pinned key before the package is installed.
      const verify = agent.indexOf(`VALIDSIG .*${CLOUDWATCH_AGENT_KEY_FINGERPRINT}`);
      assert.ok(verify > 0 && verify < agent.indexOf('dpkg -i'), 'verified, then installed');
      assert.match(agent, /gpg --batch --status-fd 1 --verify "\$work\/agent\.deb\.sig" "\$work\/agent\.deb"/);
      // The configuration names the stack's log groups (tokens): the user data writes it.
      const json = new RegExp(`cat > ${CLOUDWATCH_AGENT_CONFIG} <<'JSON'\\n([\\s\\S]*?)\\nJSON\\n`).exec(script)?.[1];
      const config = JSON.parse(json!) as Cfn;
      const [file, ...logFiles] = config.logs.logs_collected.files.collect_list as Cfn[];
      assert.equal(file.file_path, EMF_LOG_FILE);
      assert.match(file.log_group_name, /^cfn-ref-medianodesmetricsloggroup/, "the stack's EMF log group");
      assert.equal(file.log_stream_name, '{instance_id}');
      assert.equal(config.metrics, undefined, 'the agent collects no host metrics');
      // The node's logs: each unit's journal copy and the boot log, into the node log group.
      const expected = [
        ['/var/log/sipms-journal/sipms-media-node.log', '{instance_id}/sipms-media-node'],
        ...(combo.context.rtpengine === 'system'
          ? [['/var/log/sipms-journal/rtpengine-daemon.log', '{instance_id}/rtpengine-daemon']]
          : []),
        ...(combo.context.signaling === 'drachtio'
          ? [['/var/log/sipms-journal/sipms-drachtio.log', '{instance_id}/sipms-drachtio']]
          : []),
        ['/var/log/sipms-boot.log', '{instance_id}/boot'],
      ];
      assert.deepEqual(
        logFiles.map((f) => [f.file_path, f.log_stream_name]),
        expected,
      );
      for (const f of logFiles) assert.match(f.log_group_name, /^cfn-ref-medianodesnodeloggroup/);
      assert.match(
        agent,
        new RegExp(`amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}$`, 'm'),
      );
      // A baked image has the agent: the installer only configures it there.
      assert.match(
        agent,
        /^if \[ ! -x \/opt\/aws\/amazon-cloudwatch-agent\/bin\/amazon-cloudwatch-agent-ctl \]; then\n[\s\S]*dpkg -i[\s\S]*\nfi\n/m,
      );

      // Run after the media node started, and a failure is a warning in the boot log, never a failed boot.
      assert.ok(
        script.indexOf(`bash ${BOOT_DIR}/cloudwatch-agent.sh`) >
          script.indexOf('systemctl enable --now sipms-media-node'),
      );
      assert.match(script, /WARNING the CloudWatch agent did not start/);
      const rotate = files['boot/logrotate.conf']!;
      assert.match(rotate, /^\/var\/log\/sipms\/emf\.log \{[\s\S]*?su sipms sipms\n\}$/m, 'the EMF file is rotated');
      assert.match(
        rotate,
        /^\/var\/log\/sipms-journal\/\*\.log \/var\/log\/sipms-boot\.log \{[^}]*maxsize 50M[^}]*copytruncate\n\}$/m,
        'the journal copies and the boot log are rotated, copied then truncated (their writers keep them open)',
      );
      // Each shipped unit's journal is copied from the start, before the unit starts.
      const copies = /^systemctl enable --now (sipms-journal@.*)$/m.exec(script)?.[1]?.split(' ');
      assert.deepEqual(
        copies,
        expected.slice(0, -1).map(
          ([f]) =>
            `sipms-journal@${f!
              .split('/')
              .at(-1)!
              .replace(/\.log$/, '')}.service`,
        ),
      );
      assert.ok(
        script.indexOf('systemctl enable --now sipms-journal@') <
          script.indexOf('systemctl enable --now sipms-media-node'),
      );
    });

    test('the systemd units are valid', () => {
      const units = unitsOf(files);
      assert.equal(units.size, combo.units, [...units.keys()].join(', '));
      for (const [name, text] of units) {
        const parsed = parseUnit(text);
        for (const [section, keys] of Object.entries(REQUIRED_KEYS)) {
          for (const key of keys) assert.ok(parsed.get(section)?.get(key), `${name}: [${section}] ${key}`);
        }
        const exec = parsed.get('Service')!.get('ExecStart')![0]!;
        assert.match(exec, /^\//, `${name}: ExecStart is an absolute path`);
      }
      const journal = parseUnit(units.get('sipms-journal@.service')!);
      assert.match(journal.get('Service')!.get('ExecStart')![0]!, /journalctl --follow .*--output=cat --unit=%i /);
      assert.equal(journal.get('Service')!.get('StandardOutput')![0], 'append:/var/log/sipms-journal/%i.log');
      const node = parseUnit(units.get('sipms-media-node.service')!);
      assert.equal(node.get('Service')!.get('EnvironmentFile')![0], '/etc/sipms/media-node.env');
      assert.equal(node.get('Service')!.get('LogsDirectory')![0], 'sipms', 'the EMF file is writable: /var/log/sipms');
      assert.equal(node.get('Service')!.get('Restart')![0], 'always');
      assert.equal(node.get('Unit')!.get('OnFailure')![0], 'sipms-node-unhealthy.service');
      assert.ok(Number(node.get('Service')!.get('TimeoutStopSec')![0]) > 15 * 60, 'systemd waits for the drain');

      const result = verifyUnits(units);
      console.log(`systemd-analyze verify: exit ${result.status}, ${result.findings.length} findings`);
      assert.deepEqual(result.findings, []);
      assert.equal(result.status, 0);
    });
  });
}

test('an x86 node installs the amd64 CloudWatch agent', () => {
  const { script, files } = bootOf({ instanceType: 't3.small' });
  assert.match(script, /node-v\$NODE_VERSION-linux-x64/);
  assert.match(files['boot/cloudwatch-agent.sh']!, /\/ubuntu\/amd64\/latest\/amazon-cloudwatch-agent\.deb'/);
  assert.doesNotMatch(script + Object.values(files).join(''), /arm64/);
});

test('systemd-analyze verify catches a broken unit (the check is not vacuous)', () => {
  const broken = new Map([
    ['sipms-broken.service', '[Unit]\nDescription=x\n[Service]\nExecStartt=/opt/sipms/node/bin/node\n'],
  ]);
  const result = verifyUnits(broken);
  assert.ok(result.findings.length > 0 || result.status !== 0);
});

describe('checked boots, fixed addresses and shell access', () => {
  const script = userDataOf({});
  const at = (text: string | RegExp) => {
    const i = typeof text === 'string' ? script.indexOf(text) : script.search(text);
    assert.ok(i >= 0, `the script has ${text}`);
    return i;
  };

  test('any failed step abandons the launch through the ERR trap, with the failing line in the log', () => {
    const root = scratchDir('sipms-trap-');
    const calls = join(root, 'aws-calls');
    writeFileSync(join(root, 'aws'), `#!/bin/bash\necho "$*" >> ${calls}\n`);
    chmodSync(join(root, 'aws'), 0o755);
    // The script's own prelude (strict mode, the hook helpers, the trap), then a failing step.
    const prelude = script.slice(script.indexOf('set -Eeuo pipefail'), script.indexOf("# --- this node's identity"));
    const run = (steps: string) =>
      spawnSync('bash', ['-c', `${prelude.replace(/^exec > .*$/m, '')}\nINSTANCE_ID=i-1\nGROUP=nodes\n${steps}`], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${root}:${process.env.PATH}` },
      });
    const failed = run('echo step1\nfalse\necho never');
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /step1\nsipms boot: FAILED .*: line \d+ exited 1: false\n/);
    assert.doesNotMatch(failed.stdout, /never/);
    assert.match(
      readFileSync(calls, 'utf8'),
      /^autoscaling complete-lifecycle-action --region cfn-ref-awsregion --auto-scaling-group-name nodes --lifecycle-hook-name sipms-launch --instance-id i-1 --lifecycle-action-result ABANDON\n$/,
    );
    // A failure inside a command substitution that the script handles is no failed boot.
    rmSync(calls, { force: true });
    const handled = run('x=$(false) || x=fallback\necho "ok $x"');
    assert.equal(handled.status, 0, handled.stdout);
    assert.match(handled.stdout, /ok fallback/);
    assert.equal(existsSync(calls), false, 'no lifecycle call');
  });

  test('apt waits for the dpkg lock after stopping unattended-upgrades; the group is known before anything can fail late', () => {
    assert.ok(at('systemctl stop unattended-upgrades.service') < at(/^apt update$/m));
    assert.match(script, /^apt\(\) \{ apt-get -q -o DPkg::Lock::Timeout=300 "\$@"; \}$/m);
    assert.doesNotMatch(
      script.replace(/^apt\(\).*$/m, ''),
      /apt-get (install|update)/,
      'every apt call waits for the lock',
    );
    assert.ok(at('describe-auto-scaling-instances') > at(/^apt install/m), 'awscli comes from apt');
  });

  test('a free pool address is taken (never reassociated) before the node advertises an address', () => {
    const take = at('take_address ||');
    assert.match(
      script,
      /aws ec2 describe-addresses --region "\$REGION" --filters "Name=tag:sipms:eip-pool,Values=SipMediaserver-dev" \\\n\s+--query 'Addresses\[\?!AssociationId\]\.\[AllocationId,PublicIp\]'/,
    );
    assert.match(
      script,
      /aws ec2 associate-address [^\n]*--allocation-id "\$allocation" \\\n\s+--no-allow-reassociation/,
    );
    assert.doesNotMatch(script, /--allow-reassociation/);
    assert.match(script, /^\s+PUBLIC_IP=\$ip$/m);
    assert.ok(take < at('cat > /etc/sipms/media-node.env'), 'before the environment file');
    assert.ok(take < at('systemctl enable --now sipms-media-node'), 'before the node starts');
    const none = userDataOf({ elasticIps: 0 });
    assert.doesNotMatch(none, /associate-address|describe-addresses/);
  });

  test('the launch hook gets CONTINUE only after the node answered OPTIONS and its heartbeat is in the registry', () => {
    const started = at('systemctl enable --now sipms-media-node');
    const probe = at(`node ${BOOT_DIR}/sip-probe.mjs "$PRIVATE_IP" 5060`);
    const registry = at(
      /aws dynamodb get-item --region "\$REGION" --table-name cfn-ref-datatable\w+ --consistent-read \\\n\s+--key "\{\\"pk\\":\{\\"S\\":\\"NODE#\$INSTANCE_ID\\"\},\\"sk\\":\{\\"S\\":\\"HEARTBEAT\\"\}\}"/,
    );
    const proceed = at(/^complete_launch CONTINUE$/m);
    assert.ok(started < probe && probe < registry && registry < proceed);
    assert.match(script, /^\[ -n "\$answered" \] \|\| abandon /m);
    assert.match(script, /^\[ -n "\$registered" \] \|\| abandon /m);
    assert.equal(script.match(/complete_launch CONTINUE/g)?.length, 1);
  });

  test('the SSM Agent is installed (no SSH), and its failure is a warning', () => {
    assert.match(
      script,
      /https:\/\/s3\.\$REGION\.amazonaws\.com\/amazon-ssm-\$REGION\/latest\/debian_arm64\/amazon-ssm-agent\.deb/,
    );
    assert.match(script, /^if curl [\s\S]*?systemctl enable --now amazon-ssm-agent; then$/m);
    assert.match(script, /WARNING the SSM Agent did not start/);
    assert.doesNotMatch(script, /sshd|authorized_keys/);
  });
});

describe('the SIP OPTIONS probe', () => {
  const probe = join(scratchDir('sipms-probe-'), 'probe.mjs');
  writeFileSync(probe, SIP_PROBE_SOURCE);

  const answering = async (status: string | undefined) => {
    const { createSocket } = await import('node:dgram');
    const server = createSocket('udp4');
    const received: string[] = [];
    server.on('message', (m, from) => {
      received.push(m.toString());
      if (status) server.send(`SIP/2.0 ${status}\r\nContent-Length: 0\r\n\r\n`, from.port, from.address);
    });
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    const port = server.address().port;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [probe, '127.0.0.1', String(port)]);
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    server.close();
    return { code, received };
  };

  test('exits 0 on 200 OK to a well-formed OPTIONS, 1 on any other answer or none', async () => {
    const ok = await answering('200 OK');
    assert.equal(ok.code, 0);
    const [request] = ok.received;
    assert.match(request!, /^OPTIONS sip:127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
    for (const h of [
      'Via: SIP/2.0/UDP 127.0.0.1:',
      'Max-Forwards: 70',
      'From: ',
      'To: ',
      'Call-ID: ',
      'CSeq: 1 OPTIONS',
    ])
      assert.ok(request!.includes(`\r\n${h}`), h);
    assert.ok(request!.endsWith('\r\n\r\n'));
    assert.equal((await answering('503 Service Unavailable')).code, 1);
    assert.equal((await answering(undefined)).code, 1, 'no answer within 2 s');
  });
});

describe('baked images and SIP over TLS: the script still parses, passes shellcheck and configures the node', () => {
  const variants = [
    { name: 'baked image', context: { nodeImage: 'baked' } },
    { name: 'TLS from SSM', context: { sipTlsCertificate: 'ssm:/sipms/dev/tls' } },
    {
      name: 'baked image, system rtpengine, TLS from S3, no Elastic IPs',
      context: { nodeImage: 'baked', rtpengine: 'system', sipTlsCertificate: 's3://certs/tls/sip', elasticIps: 0 },
    },
  ];
  for (const v of variants) {
    test(v.name, async () => {
      const script = userDataOf(v.context);
      const parsed = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      assert.equal(parsed.status, 0, parsed.stderr);
      const { loadMediaNodeConfig } = await import('@sipms/media-node/config');
      const env = envFileOf(script);
      const tls = 'sipTlsCertificate' in v.context;
      assert.equal(env.SIP_TRANSPORTS, tls ? 'udp,tcp,tls' : undefined);
      assert.equal(env.SIP_TLS_KEY, tls ? '/etc/sipms/tls/sip.key' : undefined);
      assert.equal(env.SIP_WS_PORT, tls ? '8443' : undefined, 'the softphone WSS comes with the certificate');
      // The node reads the certificate files at start-up (tls-certificate.test.ts and softphone-stack.test.ts run
      // that with real files).
      const { SIP_TRANSPORTS, SIP_TLS_CERT, SIP_TLS_KEY, SIP_TLS_PORT, SIP_WS_PORT, SIP_WS_SECURE, ...rest } = env;
      assert.equal(loadMediaNodeConfig(rest).SIP_ADVERTISED_HOST, '203.0.113.10');
      if (tls) {
        // Fetched after the node's user exists (the files are its own), before any unit starts.
        const fetched = script.indexOf('tls_tmp=$(mktemp');
        assert.ok(script.indexOf('useradd --system') < fetched);
        assert.ok(fetched < script.indexOf('systemctl enable --now'));
      }
      assert.deepEqual(shellcheck(script), []);
    });
  }
});
