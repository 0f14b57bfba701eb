// The softphone on AWS (docs/softphone.md): with the SIP TLS certificate the nodes serve SIP over WSS on 8443 to
// browsers anywhere, the API hands out wss://<sipDomain>:8443 and the console's CSP may connect there; without a
// certificate none of it exists (the credential route answers 503). Real `cdk synth` of the app's stack.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { SOFTPHONE_WSS_PORT, tlsEnvironment } from '../src/cdk/media-node-boot/tls-certificate.js';
import { type Cfn, renderCfnString, resourcesOfType, type Synthesized, synth } from './helpers/synth.js';
import { scratchDir, selfSignedPem } from './helpers/tools.js';

type Template = Synthesized['template'];

function ingress(t: Template): [string, string, number][] {
  return resourcesOfType(t, 'AWS::EC2::SecurityGroup').flatMap(([, r]) =>
    ((r.SecurityGroupIngress ?? []) as Cfn[]).map(
      (i) => [i.CidrIp, i.IpProtocol, i.FromPort] as [string, string, number],
    ),
  );
}

function apiEnvironments(t: Template): Record<string, unknown>[] {
  return resourcesOfType(t, 'AWS::Lambda::Function')
    .map(([, r]) => (r.Environment?.Variables ?? {}) as Record<string, unknown>)
    .filter((v) => 'CLAIMABLE_NUMBERS' in v);
}

function consoleCsp(t: Template): string {
  const [policy] = resourcesOfType(t, 'AWS::CloudFront::ResponseHeadersPolicy');
  return renderCfnString(
    policy![1].ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy,
  );
}

describe('softphone on AWS', () => {
  let withTls: Template;
  let without: Template;
  before(() => {
    withTls = synth({ sipTlsCertificate: 's3://certs-bucket/tls/sip' }, { bundle: false }).template;
    without = synth({}, { bundle: false }).template;
  });

  test('with the certificate: WSS 8443 open to every IPv4 address, the API and the console know the URL', () => {
    assert.ok(ingress(withTls).some(([cidr, proto, port]) => cidr === '0.0.0.0/0' && proto === 'tcp' && port === 8443));
    const envs = apiEnvironments(withTls);
    assert.ok(envs.length > 0, 'the API functions were found');
    for (const env of envs) assert.equal(env.SOFTPHONE_WS_URL, 'wss://sip.example.com:8443');
    assert.match(
      consoleCsp(withTls),
      /connect-src 'self' https:\/\/\*\.execute-api\.\S+ wss:\/\/sip\.example\.com:8443;/,
    );
  });

  test('without one: no WSS port, no URL (the route says why), the CSP connects to the API only', () => {
    assert.ok(!ingress(without).some(([, , port]) => port === SOFTPHONE_WSS_PORT));
    for (const env of apiEnvironments(without)) assert.equal(env.SOFTPHONE_WS_URL, undefined);
    assert.doesNotMatch(consoleCsp(without), /wss:/);
  });

  test("the nodes' environment turns WSS on with the certificate they fetched", async () => {
    const { loadMediaNodeConfig } = await import('@sipms/media-node/config');
    const dir = scratchDir('softphone-tls-');
    selfSignedPem(dir, 'sip', 1);
    const env = tlsEnvironment({ cert: join(dir, 'sip.crt'), key: join(dir, 'sip.key') });
    const config = loadMediaNodeConfig({
      SIGNALING: 'builtin',
      TABLE_NAME: 'calls',
      PROMPT_STORE: 'dir:/tmp',
      CACHE_DIR: '/tmp',
      RUN_DIR: '/tmp',
      ...env,
    });
    assert.equal(config.SIP_WS_PORT, SOFTPHONE_WSS_PORT);
    assert.equal(config.SIP_WS_SECURE, 'true');
    assert.ok(config.sipTls, 'the WSS listener is served with the SIP TLS certificate');
  });
});
