import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ALLOW_ALL,
  ALLOW_NONE,
  checkDestination,
  type OutboundDestinations,
  parseOutboundDestinations,
} from '../src/domain/outbound-policy.js';

const list = (numberPrefixes: string[], sipDomains: string[]): OutboundDestinations => ({
  numberPrefixes,
  sipDomains,
});
const ok = (destination: string, deployment: OutboundDestinations, tenant?: OutboundDestinations | null) =>
  checkDestination(destination, deployment, tenant).ok;

test('number prefixes match E.164 with or without +, on either side', () => {
  const germany = list(['+49'], []);
  assert.equal(ok('+4930123456', germany), true);
  assert.equal(ok('4930123456', germany), true);
  assert.equal(ok('tel:+4930123456', germany), true);
  assert.equal(ok('+4330123456', germany), false);
  assert.equal(ok('+1900555', germany), false);
  const withoutPlus = list(['4930'], []);
  assert.equal(ok('+4930123', withoutPlus), true);
  assert.equal(ok('+4940123', withoutPlus), false);
  // A prefix is not a substring: 49 must be at the start.
  assert.equal(ok('+14930', withoutPlus), false);
});

test('SIP domains match the URI host only; subdomains only when written as *.example.com', () => {
  const exact = list([], ['pbx.example.com']);
  assert.equal(ok('sip:agent@pbx.example.com', exact), true);
  assert.equal(ok('sips:agent@PBX.Example.com:5061;transport=tls', exact), true);
  assert.equal(ok('sip:pbx.example.com', exact), true);
  assert.equal(ok('sip:agent@a.pbx.example.com', exact), false);
  assert.equal(ok('sip:agent@example.com', exact), false);
  assert.equal(ok('sip:agent@pbx.example.com.evil.test', exact), false);
  // The user part never decides: a host-looking user is still the user.
  assert.equal(ok('sip:pbx.example.com@evil.test', exact), false);

  const subdomains = list([], ['*.example.com']);
  assert.equal(ok('sip:a@eu.example.com', subdomains), true);
  assert.equal(ok('sip:a@x.eu.example.com', subdomains), true);
  assert.equal(ok('sip:a@example.com', subdomains), false);
  assert.equal(ok('sip:a@badexample.com', subdomains), false);

  const ip = list([], ['192.0.2.10', '[2001:db8::1]']);
  assert.equal(ok('sip:a@192.0.2.10:5080', ip), true);
  assert.equal(ok('sip:a@[2001:db8::1]:5060', ip), true);
  assert.equal(ok('sip:a@192.0.2.11', ip), false);
});

test('"*" allows anything of its kind; an empty list allows nothing of it', () => {
  assert.equal(ok('+99912345', ALLOW_ALL), true);
  assert.equal(ok('sip:x@anywhere.test', ALLOW_ALL), true);
  assert.equal(ok('+4930', ALLOW_NONE), false);
  assert.equal(ok('sip:x@anywhere.test', ALLOW_NONE), false);
  const anyNumberNoDomain = list(['*'], []);
  assert.equal(ok('+99912345', anyNumberNoDomain), true);
  assert.equal(ok('sip:x@anywhere.test', anyNumberNoDomain), false);
});

test("a tenant's list narrows the deployment's and never widens it", () => {
  const deployment = list(['+49'], ['*.example.com']);
  const narrower = list(['+4930'], ['eu.example.com']);
  assert.equal(ok('+4930123', deployment, narrower), true);
  assert.equal(ok('+4940123', deployment, narrower), false);
  assert.equal(ok('sip:a@us.example.com', deployment, narrower), false);
  const wider = list(['*'], ['*']);
  assert.equal(ok('+1900555', deployment, wider), false, 'the tenant cannot allow what the deployment does not');
  assert.equal(ok('sip:a@evil.test', deployment, wider), false);
  assert.equal(ok('+4940123', deployment, null), true, 'no tenant list: the deployment decides');

  const refused = checkDestination('+4940123', deployment, narrower);
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.by === 'tenant' && refused.reason.includes('+4940123'));
  const byDeployment = checkDestination('sip:a@evil.test', deployment, wider);
  assert.ok(!byDeployment.ok && byDeployment.by === 'deployment' && byDeployment.reason.includes('evil.test'));
});

test('anything that is neither a SIP URI nor a number is refused', () => {
  for (const d of ['', 'mailto:a@example.com', 'a@example.com', 'http://example.com', 'sip:', '+49 30 123']) {
    assert.equal(ok(d, ALLOW_ALL), false, d);
  }
});

test('the deployment setting: *, prefixes, domains, explicit tel:/sip: forms; a bad entry is named', () => {
  assert.deepEqual(parseOutboundDestinations('*'), ALLOW_ALL);
  assert.deepEqual(parseOutboundDestinations(''), ALLOW_NONE);
  assert.deepEqual(parseOutboundDestinations(' +49, 4930 ,pbx.example.com, *.Carrier.example , sip:*'), {
    numberPrefixes: ['+49', '4930'],
    sipDomains: ['pbx.example.com', '*.carrier.example', '*'],
  });
  assert.deepEqual(parseOutboundDestinations('tel:*,tel:+1'), { numberPrefixes: ['*', '+1'], sipDomains: [] });
  assert.deepEqual(parseOutboundDestinations('127.0.0.1, 4930'), {
    numberPrefixes: ['4930'],
    sipDomains: ['127.0.0.1'],
  });
  for (const bad of ['+49x', 'exa mple.com', '**.example.com', '+', 'sip:a@b.c', '49-30']) {
    assert.throws(
      () => parseOutboundDestinations(bad),
      (e: Error) => e.message.includes(bad),
      bad,
    );
  }
});
