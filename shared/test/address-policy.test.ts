import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPolicy, addressBytes, nonPublicReason } from '../src/net/address-policy.js';

test('address bytes of IPv4, IPv6, compressed and dotted-tail IPv6', () => {
  assert.deepEqual(addressBytes('169.254.169.254'), [169, 254, 169, 254]);
  assert.deepEqual(addressBytes('::ffff:a9fe:a9fe')?.slice(12), [169, 254, 169, 254]);
  assert.deepEqual(addressBytes('::ffff:169.254.169.254'), addressBytes('::ffff:a9fe:a9fe'));
  assert.equal(addressBytes('[::1]')?.[15], 1);
  assert.equal(addressBytes('example.com'), undefined);
});

test('every non-public form is refused, including IPv4 hidden in IPv6', () => {
  const denied = [
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe', // the metadata service as IPv4-mapped IPv6 in hex
    '::a9fe:a9fe', // IPv4-compatible
    '64:ff9b::a9fe:a9fe', // NAT64
    '64:ff9b::10.0.0.1',
    '2002:a9fe:a9fe::1', // 6to4
    '2002:7f00:1::',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
  ];
  for (const ip of denied) assert.ok(nonPublicReason(ip), `${ip} should be refused`);
  for (const ip of ['8.8.8.8', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])
    assert.equal(nonPublicReason(ip), undefined, ip);
});

test('the operator may allow ranges; allow-loopback allows loopback only', () => {
  const local = AddressPolicy.fromSettings('allow-loopback');
  assert.equal(local.allows('127.0.0.1'), true);
  assert.equal(local.allows('::1'), true);
  assert.equal(local.allows('::ffff:127.0.0.1'), true);
  assert.equal(local.allows('10.0.0.1'), false);
  assert.match(local.refusal('169.254.169.254') ?? '', /link-local/);
  const lan = AddressPolicy.fromSettings('public-https', '10.20.0.0/16, fd12::/16');
  assert.equal(lan.allows('10.20.5.5'), true);
  assert.equal(lan.allows('10.21.0.1'), false);
  assert.equal(lan.allows('fd12::5'), true);
  assert.equal(lan.allows('127.0.0.1'), false);
  assert.throws(() => AddressPolicy.fromSettings('x', '10.0.0.0/33'), /prefix/);
});
