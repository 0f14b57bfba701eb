import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, readDeploymentConfig } from '../src/cdk/deployment-config.js';

const from = (ctx: Record<string, unknown>) => readDeploymentConfig((k) => ctx[k]);

test('defaults: one t4g.small (arm64) node, built-in signaling, managed rtpengine, RTP 30000-39999', () => {
  const c = from({ sipDomain: 'SIP.Example.com' });
  assert.equal(c.stage, 'dev');
  assert.equal(c.sipDomain, 'sip.example.com');
  assert.equal(c.instanceType, 't4g.small');
  assert.equal(c.cpuArch, 'arm64');
  assert.deepEqual([c.minNodes, c.maxNodes], [1, 2]);
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
