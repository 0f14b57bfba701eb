import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, readDeploymentConfig } from '../src/cdk/deployment-config.js';

const from = (ctx: Record<string, unknown>) => readDeploymentConfig((k) => ctx[k]);

test('defaults: two to four c7g.large (arm64) nodes, five Elastic IPs, 120 calls per node, built-in signaling, managed rtpengine, RTP 30000-39999', () => {
  const c = from({ sipDomain: 'SIP.Example.com' });
  assert.equal(c.stage, 'dev');
  assert.equal(c.sipDomain, 'sip.example.com');
  assert.equal(c.instanceType, 'c7g.large');
  assert.equal(c.cpuArch, 'arm64');
  assert.deepEqual([c.minNodes, c.maxNodes], [2, 4]);
  assert.equal(c.elasticIps, 5, 'maxNodes + 1: a replacement boots while a node drains');
  assert.deepEqual([c.maxCallsPerNode, c.targetCallsPerNode], [200, 120]);
  assert.equal(c.hostedZone, undefined);
  assert.equal(c.signaling, 'builtin');
  assert.equal(c.rtpengine, 'managed');
  assert.deepEqual([c.rtpPortMin, c.rtpPortMax], [30000, 39999]);
  assert.deepEqual([c.pollyVoiceId, c.pollyEngine, c.pollyLanguageCode], ['Joanna', 'neural', 'en-US']);
  assert.equal(c.retainData, true);
});

test('context values given as strings on the command line are parsed and checked', () => {
  const c = from({
    sipDomain: 'voice.example.org',
    stage: 'prod',
    instanceType: 'c7gn.large',
    minNodes: '2',
    maxNodes: '6',
    signaling: 'drachtio',
    rtpPortMin: '20000',
    rtpPortMax: '29999',
    retainData: 'false',
    sipAllowedCidrs: '198.51.100.0/24, 203.0.113.0/24',
  });
  assert.equal(c.cpuArch, 'arm64');
  assert.deepEqual([c.minNodes, c.maxNodes], [2, 6]);
  assert.equal(c.retainData, false);
  assert.deepEqual(c.sipAllowedCidrs, ['198.51.100.0/24', '203.0.113.0/24']);
  assert.equal(from({ sipDomain: 'sip.example.com', instanceType: 'c6i.large' }).cpuArch, 'amd64');
});

test('bad settings stop synthesis with the key named', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /sipDomain/],
    [{ sipDomain: 'not a domain' }, /sipDomain/],
    [{ sipDomain: 'sip.example.com', signaling: 'kamailio' }, /signaling/],
    [{ sipDomain: 'sip.example.com', minNodes: '3', maxNodes: '2' }, /maxNodes/],
    [{ sipDomain: 'sip.example.com', rtpPortMin: '30000', rtpPortMax: '30010' }, /rtpPortMax/],
    [{ sipDomain: 'sip.example.com', stage: 'Prod!' }, /stage/],
    [{ sipDomain: 'sip.example.com', sipAllowedCidrs: '10.0.0.1' }, /sipAllowedCidrs/],
    [{ sipDomain: 'sip.example.com', nodeVersion: '20.11.0' }, /nodeVersion/],
    [{ sipDomain: 'sip.example.com', nodeVersion: '23.1.0' }, /nodeVersion/],
    [
      { sipDomain: 'sip.example.com', maxNodes: '6', elasticIps: '3' },
      /"elasticIps" must be 0 .* at least maxNodes \(6\)/,
    ],
    [{ sipDomain: 'sip.example.com', elasticIps: '-1' }, /elasticIps/],
    [{ sipDomain: 'sip.example.com', maxCallsPerNode: '100', targetCallsPerNode: '101' }, /targetCallsPerNode/],
    [{ sipDomain: 'sip.example.com', targetCallsPerNode: '0' }, /targetCallsPerNode/],
    [{ sipDomain: 'sip.example.com', maxCallsPerNode: 'many' }, /maxCallsPerNode/],
    [{ sipDomain: 'sip.example.com', hostedZoneId: 'Z123' }, /"hostedZoneId" and "hostedZoneName" go together/],
    [{ sipDomain: 'sip.example.com', hostedZoneName: 'example.com' }, /"hostedZoneId" and "hostedZoneName"/],
    [{ sipDomain: 'sip.example.com', hostedZoneId: 'nope', hostedZoneName: 'example.com' }, /hostedZoneId/],
    [
      { sipDomain: 'sip.example.com', hostedZoneId: 'Z123', hostedZoneName: 'example.org' },
      /hostedZoneName.*sipDomain/,
    ],
    [{ sipDomain: 'sip.example.com', hostedZoneId: 'Z123', hostedZoneName: 'ample.com' }, /hostedZoneName/],
    [{ sipDomain: 'sip.example.com', sshKeyName: 'ops' }, /"sshKeyName" was removed: .*SSM Session Manager/],
    [{ sipDomain: 'sip.example.com', sshCidr: '10.0.0.0/8' }, /"sshCidr" was removed/],
  ];
  for (const [ctx, message] of bad)
    assert.throws(
      () => from(ctx),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
});

test('nodeVersion: a Node.js 22 or 24 release', () => {
  assert.equal(from({ sipDomain: 'sip.example.com', nodeVersion: '24.11.1' }).nodeVersion, '24.11.1');
  assert.equal(from({ sipDomain: 'sip.example.com' }).nodeVersion.split('.')[0], '22');
});

test('fixed addresses, scaling and DNS settings: overrides are parsed; elasticIps=0 turns the pool off', () => {
  const c = from({
    sipDomain: 'sip.example.com',
    minNodes: '3',
    maxNodes: '10',
    elasticIps: '0',
    maxCallsPerNode: '500',
    targetCallsPerNode: '250',
    hostedZoneId: 'Z0123456789ABC',
    hostedZoneName: 'Example.com.',
  });
  assert.deepEqual([c.minNodes, c.maxNodes, c.elasticIps], [3, 10, 0]);
  assert.deepEqual([c.maxCallsPerNode, c.targetCallsPerNode], [500, 250]);
  assert.deepEqual(c.hostedZone, { id: 'Z0123456789ABC', name: 'example.com' });
  assert.equal(from({ sipDomain: 'sip.example.com', maxNodes: '7' }).elasticIps, 8, 'maxNodes + 1 by default');
  assert.equal(from({ sipDomain: 'sip.example.com', maxCallsPerNode: '50' }).targetCallsPerNode, 30, '60 % of the cap');
  assert.deepEqual(
    from({ sipDomain: 'sip.example.com', hostedZoneId: 'Z1', hostedZoneName: 'sip.example.com' }).hostedZone,
    {
      id: 'Z1',
      name: 'sip.example.com',
    },
  );
  assert.equal(from({ sipDomain: 'sip.example.com', instanceType: 't4g.small' }).instanceType, 't4g.small');
});

test('nodeImage: stock by default, baked on request; nodeImageSchedule is an Image Builder cron expression', () => {
  const base = { sipDomain: 'sip.example.com' };
  const c = from(base);
  assert.equal(c.nodeImage, 'stock');
  assert.equal(c.nodeImageSchedule, undefined, 'built only when started');
  assert.equal(from({ ...base, nodeImage: 'baked' }).nodeImage, 'baked');
  assert.equal(from({ ...base, nodeImageSchedule: 'cron(0 3 ? * SUN *)' }).nodeImageSchedule, 'cron(0 3 ? * SUN *)');
  assert.throws(
    () => from({ ...base, nodeImage: 'golden' }),
    (e: Error) => e instanceof ConfigError && /context "nodeImage" must be one of stock, baked/.test(e.message),
  );
  for (const bad of ['0 3 * * 0', 'rate(7 days)', 'cron()']) {
    assert.throws(
      () => from({ ...base, nodeImageSchedule: bad }),
      (e: Error) =>
        e instanceof ConfigError && /context "nodeImageSchedule" must be an Image Builder cron/.test(e.message),
      bad,
    );
  }
});

test('sipTlsCertificate: none by default (no TLS); an S3 prefix or an SSM parameter; errors are ConfigErrors naming the key', () => {
  const base = { sipDomain: 'sip.example.com' };
  assert.equal(from(base).sipTlsCertificate, undefined);
  assert.deepEqual(from({ ...base, sipTlsCertificate: 's3://certs-bucket/tls/sip' }).sipTlsCertificate, {
    kind: 's3',
    bucket: 'certs-bucket',
    keyPrefix: 'tls/sip',
    certObject: 'tls/sip.crt',
    keyObject: 'tls/sip.key',
  });
  assert.deepEqual(from({ ...base, sipTlsCertificate: 'ssm:/sipms/prod/tls' }).sipTlsCertificate, {
    kind: 'ssm',
    parameterName: '/sipms/prod/tls',
  });
  for (const [ctx, message] of [
    [{ sipTlsCertificate: 'https://example.com/cert.pem' }, /context "sipTlsCertificate" must be s3:/],
    [{ sipTlsCertificate: 's3://certs-bucket/tls/sip.crt' }, /without extension/],
    [{ sipTlsCertificate: 'ssm:/sipms/tls', signaling: 'drachtio' }, /needs signaling=builtin/],
  ] as const) {
    assert.throws(
      () => from({ ...base, ...ctx }),
      (e: Error) => e instanceof ConfigError && message.test(e.message) && e.cause instanceof Error,
      JSON.stringify(ctx),
    );
  }
});

test('tenantMaxSlowCallbacks: 20 by default, 1 to 10000', () => {
  const base = { sipDomain: 'sip.example.com' };
  assert.equal(from(base).tenantMaxSlowCallbacks, 20);
  assert.equal(from({ ...base, tenantMaxSlowCallbacks: '3' }).tenantMaxSlowCallbacks, 3);
  for (const bad of ['0', '10001', '2.5', 'many']) {
    assert.throws(
      () => from({ ...base, tenantMaxSlowCallbacks: bad }),
      (e: Error) =>
        e instanceof ConfigError &&
        /context "tenantMaxSlowCallbacks" must be an integer from 1 to 10000/.test(e.message),
      bad,
    );
  }
});
