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
