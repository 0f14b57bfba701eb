import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { mediaNodeUnit } from '../src/cdk/media-node-boot/systemd-units.js';
import {
  allowSipTls,
  grantTlsCertificate,
  parseTlsCertificateSource,
  SERVICE_USER,
  TLS_PATHS,
  type TlsCertificateSource,
  type TlsPaths,
  tlsEnvironment,
  tlsFetchScript,
} from '../src/cdk/media-node-boot/tls-certificate.js';
import type { Cfn } from './helpers/synth.js';
import { scratchDir as scratch, selfSignedPem, shellcheck } from './helpers/tools.js';

describe('parseTlsCertificateSource', () => {
  test('accepts an S3 key prefix and an SSM parameter name', () => {
    assert.equal(parseTlsCertificateSource(undefined), undefined);
    assert.equal(parseTlsCertificateSource('  '), undefined);
    assert.deepEqual(parseTlsCertificateSource('s3://acme-certs/sip/prod/sip.example.com'), {
      kind: 's3',
      bucket: 'acme-certs',
      keyPrefix: 'sip/prod/sip.example.com',
      certObject: 'sip/prod/sip.example.com.crt',
      keyObject: 'sip/prod/sip.example.com.key',
    });
    assert.deepEqual(parseTlsCertificateSource('ssm:/sipms/prod/tls'), {
      kind: 'ssm',
      parameterName: '/sipms/prod/tls',
    });
    assert.deepEqual(parseTlsCertificateSource('ssm:sip-tls'), { kind: 'ssm', parameterName: 'sip-tls' });
  });

  const refused: [string, RegExp][] = [
    ['https://example.com/cert.pem', /must be s3:\/\/bucket\/key-prefix .* or ssm:\/parameter\/name .*\(got https:/],
    ['acm:arn:aws:acm:us-east-1:1:certificate/x', /must be s3:\/\/bucket\/key-prefix/],
    ['s3://acme-certs', /needs a key prefix after the bucket, such as s3:\/\/acme-certs\/tls\/sip/],
    ['s3://acme-certs/tls/', /needs a key prefix after the bucket/],
    [
      's3://acme-certs/tls/sip.crt',
      /without extension: s3:\/\/acme-certs\/tls\/sip for tls\/sip\.crt and tls\/sip\.key/,
    ],
    ['s3://acme-certs/tls/sip.pem', /without extension/],
    ['s3://Acme_Certs/tls/sip', /"Acme_Certs" is not an S3 bucket name/],
    ['s3://acme-certs/tls/*', /letters, digits and \. _ - \/ only/],
    ["s3://acme-certs/tls/it's", /letters, digits and \. _ - \/ only/],
    ['ssm:', /"" is not an SSM parameter name/],
    ['ssm:arn:aws:ssm:us-east-1:111111111111:parameter/x', /not an ARN/],
    ['ssm:sipms/tls', /starts with \/: ssm:\/sipms\/tls/],
    ['ssm:/aws/reference/secretsmanager/x', /reserved by AWS/],
    ['ssm:/sipms/tls bundle', /is not an SSM parameter name/],
    ['ssm:/sipms//tls', /not a valid parameter path/],
  ];
  for (const [value, message] of refused) {
    test(`refuses ${value}`, () => {
      assert.throws(
        () => parseTlsCertificateSource(value),
        (err: Error) => {
          assert.match(err.message, /^context "sipTlsCertificate"/);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  test('refuses a certificate with drachtio signaling, which does not serve it', () => {
    assert.throws(() => parseTlsCertificateSource('ssm:/sipms/tls', 'drachtio'), /needs signaling=builtin/);
    assert.equal(parseTlsCertificateSource(undefined, 'drachtio'), undefined);
  });
});

const S3: TlsCertificateSource = {
  kind: 's3',
  bucket: 'acme-certs',
  keyPrefix: 'tls/sip',
  certObject: 'tls/sip.crt',
  keyObject: 'tls/sip.key',
};
const SSM: TlsCertificateSource = { kind: 'ssm', parameterName: '/sipms/prod/tls' };

test('tlsFetchScript passes bash -n and shellcheck, for both sources', () => {
  for (const source of [S3, SSM]) {
    const script = `#!/bin/bash\nset -Eeuo pipefail\nREGION=us-east-1\n${tlsFetchScript(source)}`;
    const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(shellcheck(script), [], source.kind);
  }
});

test('the certificate files belong to the user the media-node unit runs as', () => {
  const unit = mediaNodeUnit({ signaling: 'builtin', stopTimeoutSec: 60 });
  assert.match(unit, new RegExp(`^User=${SERVICE_USER}$`, 'm'));
  assert.equal(TLS_PATHS.owner, SERVICE_USER);
  assert.equal(TLS_PATHS.group, SERVICE_USER);
  assert.match(TLS_PATHS.key, /^\/etc\/sipms\/tls\//);
});

/**
 * Runs tlsFetchScript with a recording `aws` on PATH that serves fixture PEMs (made by openssl), into a scratch
 * directory owned by the current user, as the boot script would run it (strict mode, REGION set).
 */
describe('tlsFetchScript, run with a stub aws', () => {
  const id = (flag: string) => spawnSync('id', [flag], { encoding: 'utf8' }).stdout.trim();
  const pems = (() => {
    const dir = scratch('sipms-pem-');
    return {
      good: selfSignedPem(dir, 'good', 365),
      other: selfSignedPem(dir, 'other', 365),
      soon: selfSignedPem(dir, 'soon', 3),
    };
  })();

  function run(source: TlsCertificateSource, objects: Record<string, string | undefined>) {
    const root = scratch('sipms-tls-');
    const bin = join(root, 'bin');
    const served = join(root, 'served');
    const log = join(root, 'aws.log');
    mkdirSync(bin);
    mkdirSync(served);
    for (const [name, text] of Object.entries(objects)) {
      if (text !== undefined) writeFileSync(join(served, name.replaceAll('/', '_')), text);
    }
    // The stub answers get-object by writing the object to the outfile (its last argument), get-parameter by printing
    // the value; anything it does not hold is an error, as the CLI's would be.
    writeFileSync(
      join(bin, 'aws'),
      `#!/bin/bash
echo "aws $*" >> '${log}'
args=("$@")
arg() { local i; for i in "\${!args[@]}"; do [ "\${args[$i]}" = "$1" ] && echo "\${args[$((i + 1))]}"; done; }
case "$1 $2" in
  "s3api get-object")
    f='${served}'/$(arg --key | tr / _)
    [ -f "$f" ] || { echo "An error occurred (AccessDenied) when calling the GetObject operation" >&2; exit 254; }
    cp "$f" "\${args[-1]}"; echo '{"ContentLength": 1}';;
  "ssm get-parameter")
    f='${served}'/$(arg --name | tr / _)
    [ -f "$f" ] || { echo "An error occurred (ParameterNotFound)" >&2; exit 254; }
    cat "$f";;
  *) echo "unexpected aws $*" >&2; exit 2;;
esac
`,
    );
    chmodSync(join(bin, 'aws'), 0o755);
    const paths: TlsPaths = {
      dir: join(root, 'etc/sipms/tls'),
      cert: join(root, 'etc/sipms/tls/sip.crt'),
      key: join(root, 'etc/sipms/tls/sip.key'),
      owner: id('-un'),
      group: id('-gn'),
      scratch: root,
    };
    mkdirSync(join(root, 'etc/sipms'), { recursive: true });
    const r = spawnSync('bash', ['-c', `set -Eeuo pipefail\nREGION=eu-west-1\n${tlsFetchScript(source, paths)}`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    return { ...r, paths, calls: existsSync(log) ? readFileSync(log, 'utf8') : '', root };
  }
  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  test('from S3: exactly the two objects, installed 0600 in a 0700 directory', () => {
    const r = run(S3, { 'tls/sip.crt': pems.good.cert, 'tls/sip.key': pems.good.key });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(
      r.calls,
      [
        `aws s3api get-object --region eu-west-1 --bucket acme-certs --key tls/sip.crt ${r.root}/sipms-tls.`,
        `aws s3api get-object --region eu-west-1 --bucket acme-certs --key tls/sip.key ${r.root}/sipms-tls.`,
      ]
        .map((l, i) => `${l}${/sipms-tls\.(\w+)\//.exec(r.calls)![1]}/${i ? 'key' : 'cert'}.pem\n`)
        .join(''),
    );
    assert.equal(readFileSync(r.paths.cert, 'utf8'), pems.good.cert);
    assert.equal(readFileSync(r.paths.key, 'utf8'), pems.good.key);
    assert.equal(mode(r.paths.cert), '600');
    assert.equal(mode(r.paths.key), '600');
    assert.equal(mode(r.paths.dir), '700');
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/, 'the key is never logged');
    assert.match(r.stdout, /TLS certificate from s3:\/\/acme-certs\/tls\/sip in /);
    assert.doesNotMatch(r.stdout, /WARNING/);
    assert.deepEqual(
      spawnSync('ls', [r.root])
        .stdout.toString()
        .split('\n')
        .filter((f) => f.startsWith('sipms-tls.')),
      [],
      'the scratch directory is removed',
    );
  });

  test('from SSM: one decrypted get-parameter, the bundle split into certificate and key', () => {
    // Key first, then the certificate: the order in the bundle does not matter.
    const r = run(SSM, { '/sipms/prod/tls': `${pems.good.key}${pems.good.cert}` });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(
      r.calls,
      'aws ssm get-parameter --region eu-west-1 --name /sipms/prod/tls --with-decryption --query Parameter.Value --output text\n',
    );
    assert.equal(readFileSync(r.paths.cert, 'utf8'), pems.good.cert);
    assert.equal(readFileSync(r.paths.key, 'utf8'), pems.good.key);
    assert.equal(mode(r.paths.key), '600');
    assert.doesNotMatch(r.stdout, /BEGIN/, 'no PEM in the boot log');
  });

  test('the node reads what was fetched: tlsEnvironment satisfies its configuration and TLS comes on', async () => {
    const r = run(SSM, { '/sipms/prod/tls': `${pems.good.cert}${pems.good.key}` });
    assert.equal(r.status, 0, r.stderr);
    const { loadMediaNodeConfig } = await import('@sipms/media-node/config');
    const env = tlsEnvironment(r.paths);
    assert.deepEqual(tlsEnvironment(), {
      SIP_TRANSPORTS: 'udp,tcp,tls',
      SIP_TLS_CERT: '/etc/sipms/tls/sip.crt',
      SIP_TLS_KEY: '/etc/sipms/tls/sip.key',
      SIP_TLS_PORT: '5061',
      SIP_WS_PORT: '8443',
      SIP_WS_SECURE: 'true',
    });
    const config = loadMediaNodeConfig({
      SIGNALING: 'builtin',
      TABLE_NAME: 'calls',
      PROMPT_STORE: 'dir:/tmp',
      CACHE_DIR: '/tmp',
      RUN_DIR: '/tmp',
      ...env,
    });
    assert.deepEqual(config.sipTransports, ['udp', 'tcp', 'tls']);
    assert.equal(config.sipTls?.cert.toString(), pems.good.cert);
    assert.equal(config.sipTls?.key.toString(), pems.good.key);
    assert.equal(config.sipTls?.port, 5061);
  });

  const failures: [string, TlsCertificateSource, () => Record<string, string | undefined>, RegExp][] = [
    [
      'the key object cannot be read',
      S3,
      () => ({ 'tls/sip.crt': pems!.good.cert }),
      /cannot read s3:\/\/acme-certs\/tls\/sip\.key/,
    ],
    ['the parameter cannot be read', SSM, () => ({}), /cannot read SecureString \/sipms\/prod\/tls/],
    [
      'the bundle holds no key',
      SSM,
      () => ({ '/sipms/prod/tls': pems!.good.cert }),
      /no private key in ssm:\/sipms\/prod\/tls/,
    ],
    [
      'the .crt holds no certificate',
      S3,
      () => ({ 'tls/sip.crt': pems!.good.key, 'tls/sip.key': pems!.good.key }),
      /no certificate in s3:/,
    ],
    [
      'the key belongs to another certificate',
      S3,
      () => ({ 'tls/sip.crt': pems!.good.cert, 'tls/sip.key': pems!.other.key }),
      /private key in s3:\/\/acme-certs\/tls\/sip does not belong to its certificate/,
    ],
  ];
  for (const [name, source, objects, message] of failures) {
    test(`fails the boot when ${name}, installing nothing`, () => {
      const r = run(source, objects());
      assert.notEqual(r.status, 0);
      assert.match(r.stdout, message);
      assert.equal(existsSync(r.paths.key), false);
      assert.equal(existsSync(r.paths.cert), false);
    });
  }

  test('a certificate about to expire is a warning, not a failed boot', () => {
    const r = run(S3, { 'tls/sip.crt': pems.soon.cert, 'tls/sip.key': pems.soon.key });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /WARNING the TLS certificate from s3:\/\/acme-certs\/tls\/sip expires within 14 days .*notAfter=/,
    );
  });
});

describe('grantTlsCertificate and allowSipTls', () => {
  const statements = (source: TlsCertificateSource): Cfn[] => {
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Tls');
    const role = new iam.Role(stack, 'NodeRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    grantTlsCertificate(role, source);
    const policies = Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, Cfn>).filter(
      (r) => r.Type === 'AWS::IAM::Policy',
    );
    return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
  };

  test('S3: s3:GetObject on exactly the .crt and .key objects', () => {
    assert.deepEqual(statements(S3), [
      {
        Action: 's3:GetObject',
        Effect: 'Allow',
        Resource: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-certs/tls/sip.crt']] },
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-certs/tls/sip.key']] },
        ],
      },
    ]);
  });

  test('SSM: ssm:GetParameter on the parameter, kms:Decrypt only through Parameter Store', () => {
    const [get, decrypt, ...rest] = statements(SSM);
    assert.equal(rest.length, 0);
    assert.equal(get.Action, 'ssm:GetParameter');
    assert.deepEqual(get.Resource, {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ssm:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':parameter/sipms/prod/tls',
        ],
      ],
    });
    assert.equal(decrypt.Action, 'kms:Decrypt');
    assert.deepEqual(decrypt.Condition, {
      StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
    });
    assert.match(JSON.stringify(decrypt.Resource), /:kms:.*:key\/\*"/);
    const plain = statements({ kind: 'ssm', parameterName: 'sip-tls' })[0];
    assert.match(JSON.stringify(plain.Resource), /:parameter\/sip-tls"/);
  });

  test('allowSipTls opens 5061/tcp to each SIP CIDR and nothing else', () => {
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Sg');
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    const group = new ec2.SecurityGroup(stack, 'Nodes', { vpc });
    allowSipTls(group, ['198.51.100.0/24', '203.0.113.7/32']);
    const sg = Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, Cfn>).find(
      (r) => r.Type === 'AWS::EC2::SecurityGroup',
    );
    assert.deepEqual(
      sg.Properties.SecurityGroupIngress.map((r: Cfn) => [r.CidrIp, r.IpProtocol, r.FromPort, r.ToPort]),
      [
        ['198.51.100.0/24', 'tcp', 5061, 5061],
        ['203.0.113.7/32', 'tcp', 5061, 5061],
      ],
    );
  });
});
