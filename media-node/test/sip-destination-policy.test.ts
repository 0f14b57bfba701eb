import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { SignalingError } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';

// The built-in stack applies the deployment's outbound address policy to every request it originates.
test('a call to an address the policy forbids is refused before anything is sent', async () => {
  const policy = AddressPolicy.fromSettings('public-https');
  const sip = new BuiltinSignaling({
    bindHost: '127.0.0.1',
    port: 0,
    transports: ['udp'],
    destinationPolicy: (address) => policy.refusal(address),
  });
  await sip.start(() => undefined);
  try {
    for (const target of [
      'sip:x@169.254.169.254',
      'sip:x@[::ffff:a9fe:a9fe]',
      'sip:x@10.1.2.3:5080',
      'sip:x@localhost',
    ]) {
      await assert.rejects(
        sip.placeCall({ target, from: { uri: 'sip:ivr@t.example' }, sdp: 'v=0\r\n' }),
        (err: unknown) =>
          err instanceof SignalingError &&
          /outbound address policy/.test(err.message) &&
          err.code === 'transport-error',
        target,
      );
    }
  } finally {
    await sip.stop();
  }
});
