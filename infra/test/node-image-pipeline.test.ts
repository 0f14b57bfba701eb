import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RUNTIME_PACKAGES } from '@sipms/shared/system-packages';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import {
  buildInstanceUserData,
  NodeImagePipeline,
  type NodeImagePipelineProps,
  nodeAmiParameterName,
  nodeMachineImage,
} from '../src/cdk/constructs/node-image-pipeline.js';
import { CLOUDWATCH_AGENT_KEY_FINGERPRINT as BOOT_AGENT_FINGERPRINT } from '../src/cdk/media-node-boot/boot-script.js';
import {
  CLOUDWATCH_AGENT_KEY_FINGERPRINT,
  INSTALL_MARKER,
  type InstallSettings,
  installCheckScript,
  installIdentity,
  installPackages,
  installScript,
} from '../src/cdk/media-node-boot/install-script.js';
import type { Cfn } from './helpers/synth.js';
import { requireCommand, scratchDir as scratch, shellcheck } from './helpers/tools.js';

const DEBIAN = '/aws/service/debian/release/bookworm/latest/arm64';
const SETTINGS: InstallSettings = {
  cpuArch: 'arm64',
  nodeVersion: '22.23.3',
  signaling: 'builtin',
  rtpengine: 'managed',
};

type Resources = Record<string, { Type: string; Properties: Cfn; DependsOn?: unknown }>;
function pipelineTemplate(extra: Partial<NodeImagePipelineProps> = {}, withVpc = false): Resources {
  const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Images', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  const vpc = withVpc
    ? new ec2.Vpc(stack, 'Vpc', {
        maxAzs: 1,
        natGateways: 0,
        subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
      })
    : undefined;
  new NodeImagePipeline(stack, 'NodeImage', {
    stage: 'dev',
    cpuArch: 'arm64',
    parentImageSsmParameter: DEBIAN,
    install: { nodeVersion: SETTINGS.nodeVersion, signaling: 'builtin', rtpengine: 'managed' },
    ...(vpc ? { vpc } : {}),
    ...extra,
  });
  return (Template.fromStack(stack).toJSON() as { Resources: Resources }).Resources;
}
const only = (r: Resources, type: string): Cfn => {
  const found = Object.values(r).filter((x) => x.Type === type);
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]!.Properties;
};
const idOf = (r: Resources, type: string) => Object.entries(r).find(([, x]) => x.Type === type)![0];

/** The text of a YAML literal block (`- |`) that starts on the line after `marker`, de-indented. */
function literalBlockAfter(yaml: string, marker: RegExp): string {
  const lines = yaml.split('\n');
  const start = lines.findIndex((l) => marker.test(l)) + 1;
  assert.ok(start > 0, `the document has ${marker}`);
  const indent = /^ */.exec(lines[start]!)![0].length;
  const out: string[] = [];
  for (const line of lines.slice(start)) {
    if (line.trim() !== '' && !line.startsWith(' '.repeat(indent))) break;
    out.push(line.slice(indent));
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

describe('the image pipeline', () => {
  const r = pipelineTemplate();
  const component = only(r, 'AWS::ImageBuilder::Component');
  const phases = (component.Data as string).split(/^ {2}- name: /m).slice(1);
  const phaseNamed = (name: string) => phases.find((p) => p.startsWith(`${name}\n`))!;

  test('a component whose build phase runs exactly installScript(...), written to the image and run', () => {
    assert.equal(component.Platform, 'Linux');
    assert.match(component.Version, /^1\.0\.\d+$/);
    assert.ok((component.Data as string).length < 16_000, 'Image Builder caps inline component data');
    assert.doesNotMatch(component.Data, /\{\{/, 'no Image Builder variables (AWSTOE would substitute them)');
    const build = literalBlockAfter(phaseNamed('build'), /^ {12}- \|$/);
    const script =
      /cat > \/opt\/sipms\/install\.sh <<'SIPMS_INSTALL'\n([\s\S]*?)SIPMS_INSTALL\nbash \/opt\/sipms\/install\.sh\n$/.exec(
        build,
      );
    assert.ok(script, build);
    assert.equal(script[1], installScript(SETTINGS));
    assert.match(phaseNamed('build'), /action: ExecuteBash/);
  });

  test('validate and test phases run installCheckScript(...)', () => {
    for (const phase of ['validate', 'test']) {
      const block = literalBlockAfter(phaseNamed(phase), /^ {12}- \|$/);
      assert.equal(block, `bash <<'SIPMS_CHECK'\n${installCheckScript(SETTINGS)}SIPMS_CHECK\n`, phase);
    }
  });

  test('a recipe from the fleet Debian parameter (ssm:), with the SSM Agent installed by user data and kept', () => {
    const recipe = only(r, 'AWS::ImageBuilder::ImageRecipe');
    assert.equal(recipe.ParentImage, `ssm:${DEBIAN}`);
    assert.deepEqual(recipe.Components, [
      { ComponentArn: { 'Fn::GetAtt': [idOf(r, 'AWS::ImageBuilder::Component'), 'Arn'] } },
    ]);
    assert.equal(recipe.AdditionalInstanceConfiguration.SystemsManagerAgent.UninstallAfterBuild, false);
    const userData = Buffer.from(recipe.AdditionalInstanceConfiguration.UserDataOverride, 'base64').toString();
    assert.equal(userData, buildInstanceUserData('arm64'));
    assert.match(userData, /amazon-ssm-\$region\/latest\/debian_arm64\/amazon-ssm-agent\.deb/);
  });

  test('an infrastructure configuration: an instance profile with SSM core and the Image Builder policy, an arm64 type', () => {
    const infra = only(r, 'AWS::ImageBuilder::InfrastructureConfiguration');
    assert.deepEqual(infra.InstanceTypes, ['c7g.large']);
    assert.equal(infra.TerminateInstanceOnFailure, true);
    assert.equal(infra.InstanceMetadataOptions.HttpTokens, 'required');
    assert.deepEqual(infra.InstanceProfileName, { Ref: idOf(r, 'AWS::IAM::InstanceProfile') });
    const profile = only(r, 'AWS::IAM::InstanceProfile');
    const role = r[profile.Roles[0].Ref]!.Properties;
    assert.match(JSON.stringify(role.AssumeRolePolicyDocument), /ec2\.amazonaws\.com/);
    const policies = JSON.stringify(role.ManagedPolicyArns);
    assert.match(policies, /:iam::aws:policy\/AmazonSSMManagedInstanceCore"/);
    assert.match(policies, /:iam::aws:policy\/EC2InstanceProfileForImageBuilder"/);
    assert.equal(role.ManagedPolicyArns.length, 2);
    assert.equal(infra.SubnetId, undefined, 'no VPC given: the default VPC');
    const amd = only(pipelineTemplate({ cpuArch: 'amd64' }), 'AWS::ImageBuilder::InfrastructureConfiguration');
    assert.deepEqual(amd.InstanceTypes, ['c7i.large']);
  });

  test('a distribution that writes the image id to the stage parameter the fleet reads', () => {
    const dist = only(r, 'AWS::ImageBuilder::DistributionConfiguration');
    assert.equal(dist.Distributions.length, 1);
    const [d] = dist.Distributions;
    assert.deepEqual(d.Region, { Ref: 'AWS::Region' });
    assert.deepEqual(d.SsmParameterConfigurations, [
      { ParameterName: '/imagebuilder/sip-mediaserver/dev/node-ami/arm64', DataType: 'aws:ec2:image' },
    ]);
    // aws-cdk-lib types AmiDistributionConfiguration as `any` and passes its keys through: they must be CloudFormation's.
    assert.deepEqual(Object.keys(d.AmiDistributionConfiguration).sort(), ['AmiTags', 'Description', 'Name']);
    assert.match(d.AmiDistributionConfiguration.Name, /^sipms-dev-media-node-arm64-\{\{ imagebuilder:buildDate \}\}$/);
  });

  test('a pipeline with image tests on and no schedule by default; a schedule when given', () => {
    const p = only(r, 'AWS::ImageBuilder::ImagePipeline');
    assert.deepEqual(p.ImageTestsConfiguration, { ImageTestsEnabled: true, TimeoutMinutes: 60 });
    assert.equal(p.Schedule, undefined);
    assert.equal(p.Status, 'ENABLED');
    assert.deepEqual(p.ImageRecipeArn, { 'Fn::GetAtt': [idOf(r, 'AWS::ImageBuilder::ImageRecipe'), 'Arn'] });
    assert.deepEqual(p.DistributionConfigurationArn, {
      'Fn::GetAtt': [idOf(r, 'AWS::ImageBuilder::DistributionConfiguration'), 'Arn'],
    });
    const scheduled = only(pipelineTemplate({ schedule: 'cron(0 3 ? * SUN *)' }), 'AWS::ImageBuilder::ImagePipeline');
    assert.deepEqual(scheduled.Schedule, {
      ScheduleExpression: 'cron(0 3 ? * SUN *)',
      PipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY',
    });
  });

  test('versions follow the content: a new Node.js version makes a new component and recipe version', () => {
    const other = pipelineTemplate({ install: { nodeVersion: '24.1.0', signaling: 'builtin', rtpengine: 'managed' } });
    const again = pipelineTemplate();
    const v = (t: Resources, type: string) => only(t, type).Version;
    assert.equal(v(again, 'AWS::ImageBuilder::Component'), v(r, 'AWS::ImageBuilder::Component'), 'deterministic');
    assert.notEqual(v(other, 'AWS::ImageBuilder::Component'), v(r, 'AWS::ImageBuilder::Component'));
    assert.notEqual(v(other, 'AWS::ImageBuilder::ImageRecipe'), v(r, 'AWS::ImageBuilder::ImageRecipe'));
  });

  test('with a VPC: a public subnet and an outbound-only security group', () => {
    const t = pipelineTemplate({}, true);
    const infra = only(t, 'AWS::ImageBuilder::InfrastructureConfiguration');
    const subnet = t[infra.SubnetId.Ref]!;
    assert.equal(subnet.Type, 'AWS::EC2::Subnet');
    assert.equal(subnet.Properties.MapPublicIpOnLaunch, true);
    const [sg] = infra.SecurityGroupIds;
    const group = t[sg['Fn::GetAtt'][0]]!.Properties;
    assert.equal(group.SecurityGroupIngress, undefined);
  });
});

describe("CloudFormation's schema validation (aws-cdk-lib's built-in plugin)", () => {
  /** The plugin's findings for a stack built by `build`, from the validation report it writes to the cloud assembly. */
  const findings = (build: (stack: Stack) => void): unknown[] => {
    const outdir = scratch('sipms-images-cdk-');
    // Another test file's synth helper turns the plugin off for speed (CDK_VALIDATION=false): this one needs it.
    const saved = process.env.CDK_VALIDATION;
    delete process.env.CDK_VALIDATION;
    try {
      const app = new App({ outdir, builtinCloudFormationValidation: true });
      build(new Stack(app, 'Images', { env: { account: '111111111111', region: 'us-east-1' } }));
      app.synth();
    } finally {
      if (saved !== undefined) process.env.CDK_VALIDATION = saved;
    }
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    return report.pluginReports.flatMap((p) => p.violations ?? []);
  };

  test('the pipeline passes it (nested properties typed `any` in aws-cdk-lib are checked only here)', () => {
    const pipeline = (stack: Stack) =>
      new NodeImagePipeline(stack, 'NodeImage', {
        stage: 'dev',
        cpuArch: 'arm64',
        parentImageSsmParameter: DEBIAN,
        install: { nodeVersion: '22.23.3', signaling: 'builtin', rtpengine: 'managed' },
        schedule: 'cron(0 3 ? * SUN *)',
      });
    assert.deepEqual(findings(pipeline), []);
    // Not vacuous: camelCase keys where CloudFormation wants PascalCase are found.
    const broken = (stack: Stack) =>
      new imagebuilder.CfnDistributionConfiguration(stack, 'Broken', {
        name: 'broken',
        distributions: [
          { region: 'us-east-1', amiDistributionConfiguration: { name: 'x-{{ imagebuilder:buildDate }}' } },
        ],
      });
    assert.ok(findings(broken).length > 0);
  });
});

describe('nodeMachineImage', () => {
  const imageParameter = (mode: 'stock' | 'baked') => {
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Fleet');
    const image = nodeMachineImage(mode, { stage: 'prod', cpuArch: 'amd64', stockAmiSsmParameter: DEBIAN });
    image.getImage(stack);
    const params = Template.fromStack(stack).toJSON().Parameters as Record<string, { Type: string; Default: string }>;
    const found = Object.values(params).filter((p) => p.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    assert.equal(found.length, 1);
    return found[0]!.Default;
  };

  test('stock reads the Debian parameter, baked the one the pipeline writes; both resolved by CloudFormation', () => {
    assert.equal(imageParameter('stock'), DEBIAN);
    assert.equal(imageParameter('baked'), '/imagebuilder/sip-mediaserver/prod/node-ami/amd64');
    assert.equal(nodeAmiParameterName('prod', 'amd64'), '/imagebuilder/sip-mediaserver/prod/node-ami/amd64');
  });
});

describe('the install script', () => {
  const script = installScript(SETTINGS);

  test('bash parses it and shellcheck finds nothing (install, check and build user data)', () => {
    for (const s of [script, installCheckScript(SETTINGS), buildInstanceUserData('arm64')]) {
      const r = spawnSync('bash', ['-n'], { input: s, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    for (const s of [
      script,
      installScript({ ...SETTINGS, cpuArch: 'amd64', signaling: 'drachtio', rtpengine: 'system' }),
      installCheckScript({ ...SETTINGS, signaling: 'drachtio' }),
      buildInstanceUserData('amd64'),
    ]) {
      assert.deepEqual(shellcheck(s), []);
    }
  });

  test('install only: packages, Node.js and the agent; no configuration, no bundle, no units', () => {
    assert.match(script, /^set -euo pipefail$/m);
    const install = /^apt install -y --no-install-recommends (.+)$/m.exec(script);
    assert.ok(install);
    const packages = install[1]!.split(' ');
    for (const p of RUNTIME_PACKAGES) assert.ok(packages.includes(p.package), p.package);
    assert.deepEqual(packages, installPackages(SETTINGS));
    assert.doesNotMatch(script, /media-node\.env|s3 cp|\/etc\/systemd\/system|amazon-cloudwatch-agent-ctl -a|useradd/);
    const drachtio = installScript({ ...SETTINGS, signaling: 'drachtio', rtpengine: 'system' });
    assert.match(drachtio, /^apt install -y --no-install-recommends .* docker\.io iptables$/m);
    assert.match(drachtio, /apt install -y rtpengine-kernel-dkms linux-headers-cloud-arm64/);
  });

  test('apt waits for the dpkg lock after stopping unattended-upgrades; every apt call goes through it', () => {
    assert.ok(script.indexOf('systemctl stop unattended-upgrades.service') < script.indexOf('\napt update'));
    assert.match(script, /apt-get -q -o DPkg::Lock::Timeout=300 /);
    assert.equal(script.match(/apt-get/g)?.length, 1, 'only the wrapper calls apt-get');
  });

  test('the CloudWatch agent key is the one the boot script pins', () => {
    assert.equal(CLOUDWATCH_AGENT_KEY_FINGERPRINT, BOOT_AGENT_FINGERPRINT);
    const verify = script.indexOf(`VALIDSIG .*${CLOUDWATCH_AGENT_KEY_FINGERPRINT}`);
    assert.ok(verify > 0 && verify < script.indexOf('dpkg -i -E'), 'verified, then installed');
  });

  test('the identity changes with what is installed', () => {
    assert.notEqual(installIdentity(SETTINGS), installIdentity({ ...SETTINGS, nodeVersion: '24.1.0' }));
    assert.notEqual(installIdentity(SETTINGS), installIdentity({ ...SETTINGS, signaling: 'drachtio' }));
    assert.notEqual(installIdentity(SETTINGS), installIdentity({ ...SETTINGS, cpuArch: 'amd64' }));
  });
});

/**
 * Runs the install script for real, /opt bind-mounted onto a scratch directory in a private mount namespace, with
 * apt-get, systemctl, dpkg, gpg and curl replaced by recorders; curl serves a fixture Node.js release. Then runs the
 * image check against the result.
 */
describe('the install script, run', () => {
  const NODE = '22.23.3';
  const dist = `node-v${NODE}-linux-arm64`;

  function fixture(opts: { badChecksum?: boolean } = {}) {
    const root = scratch('sipms-install-');
    const opt = join(root, 'opt');
    const bin = join(root, 'bin');
    const files = join(root, 'files');
    const log = join(root, 'calls.log');
    for (const d of [opt, bin, files]) mkdirSync(d, { recursive: true });
    mkdirSync(join(root, dist, 'bin'), { recursive: true });
    writeFileSync(join(root, dist, 'bin', 'node'), `#!/bin/sh\necho v${NODE}\n`);
    chmodSync(join(root, dist, 'bin', 'node'), 0o755);
    const tar = spawnSync('tar', ['-cJf', join(files, `${dist}.tar.xz`), '-C', root, dist]);
    assert.equal(tar.status, 0, String(tar.stderr));
    const sum = createHash('sha256')
      .update(readFileSync(join(files, `${dist}.tar.xz`)))
      .digest('hex');
    writeFileSync(
      join(files, 'SHASUMS256.txt'),
      `${opts.badChecksum ? '0'.repeat(64) : sum}  ${dist}.tar.xz\n${'1'.repeat(64)}  node-v${NODE}-linux-x64.tar.xz\n`,
    );
    for (const f of ['agent.deb', 'agent.deb.sig', 'agent.gpg']) writeFileSync(join(files, f), f);
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    stub('apt-get', 'exit 0');
    stub('systemctl', 'exit 0');
    // dpkg -i of the agent: what its package would put where the script looks for it.
    stub(
      'dpkg',
      `mkdir -p /opt/aws/amazon-cloudwatch-agent/bin && printf '#!/bin/sh\\n' > /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl && chmod +x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl`,
    );
    stub(
      'gpg',
      `if [[ " $* " == *" --verify "* ]]; then echo "[GNUPG:] VALIDSIG XXXX ${CLOUDWATCH_AGENT_KEY_FINGERPRINT}"; fi`,
    );
    stub(
      'curl',
      `out=; url=; while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift 2;; -*) shift;; *) url=$1; shift;; esac; done
case "$url" in
  */SHASUMS256.txt) cp '${files}/SHASUMS256.txt' "$out";;
  */${dist}.tar.xz) cp '${files}/${dist}.tar.xz' "$out";;
  *.deb) cp '${files}/agent.deb' "$out";;
  *.deb.sig) cp '${files}/agent.deb.sig' "$out";;
  *.gpg) cp '${files}/agent.gpg' "$out";;
  *) echo "unexpected $url" >&2; exit 22;;
esac`,
    );
    // The programs the image check looks for (apt-get is a recorder, so nothing installed them).
    for (const cmd of ['rtpengine', 'ffmpeg', 'espeak-ng', 'aws', 'amazon-ssm-agent']) stub(cmd, 'exit 0');
    const scriptFile = join(root, 'install.sh');
    writeFileSync(scriptFile, installScript({ ...SETTINGS, nodeVersion: NODE }));
    const checkFile = join(root, 'check.sh');
    writeFileSync(checkFile, installCheckScript({ ...SETTINGS, nodeVersion: NODE }));
    const run = (file: string) =>
      spawnSync('unshare', ['-r', '-m', 'bash', '-c', 'mount --bind "$1" /opt && exec bash "$2"', '_', opt, file], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
    const calls = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
    return { opt, bin, log, calls, install: () => run(scriptFile), check: () => run(checkFile) };
  }

  test('installs Node.js (checksum-verified) and the agent, marks the image; a second run downloads nothing', () => {
    requireCommand('unshare', ['-r', '-m', 'true']);
    const f = fixture();
    const first = f.install();
    assert.equal(first.status, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, new RegExp(`^v${NODE}$`, 'm'));
    assert.equal(readFileSync(join(f.opt, 'sipms/node/bin/node'), 'utf8'), `#!/bin/sh\necho v${NODE}\n`);
    assert.equal(
      readFileSync(join(f.opt, 'sipms/installed'), 'utf8'),
      `${installIdentity({ ...SETTINGS, nodeVersion: NODE })}\n`,
    );
    const calls = f.calls();
    assert.match(
      calls,
      /^apt-get -q -o DPkg::Lock::Timeout=300 .* install -y --no-install-recommends .*rtpengine-daemon/m,
    );
    assert.match(calls, new RegExp(`^curl .*https://nodejs\\.org/dist/v${NODE}/${dist}\\.tar\\.xz$`, 'm'));
    assert.match(calls, /^dpkg -i -E .*agent\.deb$/m);
    assert.equal(f.check().status, 0, 'the image check passes on the result');

    rmSync(f.log);
    const second = f.install();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /Node\.js v22\.23\.3 is already installed/);
    assert.match(second.stdout, /the CloudWatch agent is already installed/);
    assert.doesNotMatch(f.calls(), /^curl /m, 'nothing downloaded again');
    assert.match(f.calls(), /^apt-get .* install /m, 'apt still makes sure of the packages');
  });

  test('a wrong checksum fails the install before anything is unpacked; the check fails on an incomplete image', () => {
    requireCommand('unshare', ['-r', '-m', 'true']);
    const f = fixture({ badChecksum: true });
    const r = f.install();
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /FAILED/);
    assert.equal(existsSync(join(f.opt, 'sipms/node/bin/node')), false);
    assert.equal(existsSync(join(f.opt, INSTALL_MARKER.replace('/opt/', ''))), false, 'no marker');

    const good = fixture();
    assert.equal(good.install().status, 0);
    assert.equal(good.check().status, 0);
    rmSync(join(good.opt, 'sipms/installed'));
    assert.notEqual(good.check().status, 0, 'an image without the install marker (an install that did not finish)');
    rmSync(join(good.opt, 'sipms/node'), { recursive: true });
    const check = good.check();
    assert.notEqual(check.status, 0);
    assert.match(check.stdout + check.stderr, /sipms\/node\/bin\/node: No such file/);
  });
});
