import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCallbackUrl, isForbiddenAddress } from '../src/net/callback-url-policy.js';

test('forbidden addresses: private, loopback, link-local/metadata, CGNAT, IPv6 local', () => {
  for (const ip of [
    '10.1.2.3',
    '127.0.0.1',
    '169.254.169.254',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fd00::1',
    'fe80::1',
    '::ffff:10.0.0.1',
  ]) {
    assert.equal(isForbiddenAddress(ip), true, ip);
  }
  for (const ip of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:4860::8888'])
    assert.equal(isForbiddenAddress(ip), false, ip);
});

test('public-https policy refuses http, credentials and private targets; allow-loopback admits only loopback', async () => {
  await assert.rejects(checkCallbackUrl('http://8.8.8.8/x', 'public-https'), /must use https/);
  await assert.rejects(checkCallbackUrl('https://u:p@8.8.8.8/x', 'public-https'), /credentials/);
  await assert.rejects(checkCallbackUrl('https://169.254.169.254/latest', 'public-https'), /non-public/);
  await assert.rejects(checkCallbackUrl('https://localhost:8443/hook', 'public-https'), /non-public/);
  await checkCallbackUrl('https://8.8.8.8/hook', 'public-https');
  await checkCallbackUrl('http://127.0.0.1:3000/hook', 'allow-loopback');
  await assert.rejects(checkCallbackUrl('http://10.0.0.5/hook', 'allow-loopback'), /non-public/);
  await assert.rejects(checkCallbackUrl('not a url', 'allow-loopback'), /not a valid URL/);
});
