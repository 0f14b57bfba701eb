import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NewCallReply } from '../src/contracts/callbacks.js';
import { PlaceIvrCallRequest } from '../src/contracts/live-calls.js';
import { parseOrReason } from '../src/contracts/validate.js';

const reject = (value: unknown) => {
  const r = parseOrReason(NewCallReply, value);
  assert.equal(r.ok, false, `accepted ${JSON.stringify(value)}`);
  return r.ok ? '' : r.reason;
};

test('a drop reason with CR/LF (SIP injection) is refused, naming the field', () => {
  const reason = reject({
    action: 'drop',
    sipStatus: 486,
    reason: 'Busy\r\nX-Injected: yes\r\nContent-Length: 0\r\n\r\nSIP/2.0 200 OK',
  });
  assert.match(reason, /^reason: .*control characters/);
});

test('redirect contacts must be one SIP URI', () => {
  assert.match(reject({ action: 'redirect', contact: 'sip:a@b.example\r\nX-Evil: 1' }), /^contact/);
  assert.match(reject({ action: 'redirect', contact: '<sip:a@b>, <sip:c@d>' }), /^contact/);
  assert.match(reject({ action: 'redirect', contact: 'http://example.com/' }), /^contact/);
  assert.equal(
    parseOrReason(NewCallReply, { action: 'redirect', contact: 'sip:alice@pbx.example.com:5070;transport=tcp' }).ok,
    true,
  );
});

test('call headers: X- headers and the allow-list only, values without control characters', () => {
  const call = (headers: Record<string, string>) => ({ action: 'call', destination: 'sip:bob@example.com', headers });
  assert.match(reject(call({ Via: 'SIP/2.0/UDP evil' })), /^headers/);
  assert.match(reject(call({ 'P-Asserted-Identity': '<sip:+1@x>' })), /^headers/);
  assert.match(reject(call({ 'X-Ok': 'a\r\nRoute: <sip:evil>' })), /^headers/);
  assert.match(reject(call({ 'X-Bad Name': 'v' })), /^headers/);
  assert.equal(parseOrReason(NewCallReply, call({ 'X-Account': '42', 'User-to-User': '0a0b;encoding=hex' })).ok, true);
});

test('destinations and caller ids are URIs or numbers; sipStatus of a drop is 400-699', () => {
  assert.match(reject({ action: 'call', destination: 'sip:bob@example.com>;x' }), /^destination/);
  assert.match(reject({ action: 'call', destination: 'sip:bob@example.com', callerId: 'a\nb' }), /^callerId/);
  assert.match(reject({ action: 'drop', sipStatus: 302 }), /^sipStatus/);
  assert.equal(
    parseOrReason(NewCallReply, { action: 'call', destination: '+4930123456', callerId: '+4930999' }).ok,
    true,
  );
  const place = parseOrReason(PlaceIvrCallRequest, { destination: 'sip:x@y\r\nVia: z' });
  assert.equal(place.ok, false);
});
