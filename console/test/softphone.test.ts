import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endIsFault, endMessage, failureMessage, socketFailureMessage } from '../src/softphone/failure.js';
import { KEYPAD_ROWS, keyLabel, toneForKey } from '../src/softphone/keys.js';
import { formatLevel, rmsDbfs, SILENCE_DBFS } from '../src/softphone/level.js';
import { isDialable, parseWsUrl, socketUrl, targetUri } from '../src/softphone/target.js';

// The softphone's pure logic (no DOM, no JsSIP, no network): the WebSocket URL and SIP target built from the
// credential, the level computation, the keypad's key mapping and the failure messages. The call itself is
// tested in Chromium against the local deployment (integ-tests/test/softphone.test.ts).

describe('softphone target and socket URL', () => {
  test('the target is the number at the WebSocket URL’s host', () => {
    assert.equal(targetUri('ws://127.0.0.1:5066', '+4930123456'), 'sip:+4930123456@127.0.0.1');
    assert.equal(targetUri('wss://sip.example.com:7443/ws', 'console-ivr'), 'sip:console-ivr@sip.example.com');
    assert.equal(targetUri('ws://[::1]:5066', '1000'), 'sip:1000@[::1]');
  });

  test('anything but a claimable number is refused before a SIP URI is built from it', () => {
    for (const bad of ['', 'a b', 'x@evil.example', '+0123', '-lead', 'a;transport=tcp', 'a>b', 'é']) {
      assert.equal(isDialable(bad), false, bad);
      assert.throws(() => targetUri('ws://127.0.0.1:5066', bad), /not an E\.164 number or SIP user part/);
    }
  });

  test('the socket URL carries the token encoded, whatever the trailing slash', () => {
    const token = 'sc_abc.de+f/g=h&i';
    const enc = encodeURIComponent(token);
    assert.equal(socketUrl('ws://127.0.0.1:5066', token), `ws://127.0.0.1:5066/?token=${enc}`);
    assert.equal(socketUrl('ws://127.0.0.1:5066/', token), `ws://127.0.0.1:5066/?token=${enc}`);
    assert.equal(socketUrl('wss://sip.example.com:7443/ws/', token), `wss://sip.example.com:7443/ws/?token=${enc}`);
  });

  test('a wsUrl that is not a bare ws(s) URL is refused', () => {
    assert.throws(() => parseWsUrl('nope'), /not a URL/);
    assert.throws(() => parseWsUrl('https://example.com'), /ws:\/\/ or wss:\/\//);
    assert.throws(() => parseWsUrl('ws://u:p@example.com'), /bare/);
    assert.throws(() => parseWsUrl('ws://example.com/?token=x'), /bare/);
    assert.equal(parseWsUrl('wss://example.com:7443').host, 'example.com:7443');
  });
});

describe('softphone level', () => {
  const sine = (amp: number, n = 2048) =>
    Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * 1000 * i) / 48000));

  test('a full-scale sine reads -3 dBFS; half scale -9; silence reads the floor', () => {
    assert.ok(Math.abs(rmsDbfs(sine(1)) + 3.01) < 0.05, String(rmsDbfs(sine(1))));
    assert.ok(Math.abs(rmsDbfs(sine(0.5)) + 9.03) < 0.05, String(rmsDbfs(sine(0.5))));
    assert.equal(rmsDbfs(new Float32Array(2048)), SILENCE_DBFS);
    assert.equal(rmsDbfs([]), SILENCE_DBFS);
    // Far below the floor still reads the floor (no -Infinity, no -300 in the page).
    assert.equal(rmsDbfs(sine(1e-9)), SILENCE_DBFS);
  });

  test('the text says dBFS with one decimal, and silence in words', () => {
    assert.equal(formatLevel(-9.031), '-9.0 dBFS');
    assert.equal(formatLevel(SILENCE_DBFS), 'silence (≤ -100 dBFS)');
  });
});

describe('softphone keypad keys', () => {
  test('digits, * and # are tones; other keys and modified keys are not', () => {
    for (const t of '0123456789*#') assert.equal(toneForKey(t), t);
    for (const k of ['a', 'A', 'Enter', 'Tab', ' ', '+', 'F1', 'Digit1', '10'])
      assert.equal(toneForKey(k), undefined, k);
    assert.equal(toneForKey('1', { ctrl: true }), undefined);
    assert.equal(toneForKey('2', { alt: true }), undefined);
    assert.equal(toneForKey('#', { meta: true }), undefined);
  });

  test('the keypad has the twelve tones in phone order, each with a spoken name', () => {
    assert.deepEqual(KEYPAD_ROWS.flat().join(''), '123456789*0#');
    assert.equal(keyLabel('5'), 'Key 5');
    assert.equal(keyLabel('*'), 'Key star');
    assert.equal(keyLabel('#'), 'Key pound');
  });
});

describe('softphone failure messages', () => {
  test('SIP refusals name the reason', () => {
    assert.match(failureMessage({ cause: 'Rejected', originator: 'remote', statusCode: 403 }), /^Forbidden \(403\)/);
    assert.match(failureMessage({ cause: 'Not Found', originator: 'remote', statusCode: 404 }), /^Not found \(404\)/);
    assert.match(failureMessage({ cause: 'Busy', originator: 'remote', statusCode: 486 }), /^Busy \(486\)/);
    assert.equal(
      failureMessage({ cause: 'SIP Failure Code', originator: 'remote', statusCode: 499, reasonPhrase: 'Odd' }),
      'The call was refused: 499 Odd',
    );
  });

  test('ICE failure wins over the cause JsSIP gives it', () => {
    assert.match(failureMessage({ cause: 'RTP Timeout', originator: 'local' }), /^No media path \(ICE failed\)/);
    assert.match(
      failureMessage({ cause: 'Canceled', originator: 'local', statusCode: 487, iceFailed: true }),
      /ICE failed/,
    );
    assert.match(endMessage({ cause: 'Terminated', originator: 'local', iceFailed: true }), /ICE failed/);
    assert.equal(endIsFault({ cause: 'Terminated', originator: 'local', iceFailed: true }), true);
  });

  test('transport and browser causes', () => {
    assert.match(failureMessage({ cause: 'Connection Error', originator: 'system' }), /WebSocket closed/);
    assert.match(failureMessage({ cause: 'User Denied Media Access', originator: 'local' }), /microphone/);
    assert.match(failureMessage({ cause: 'WebRTC Error', originator: 'system' }), /SDP/);
    assert.match(socketFailureMessage('ws://127.0.0.1:5066'), /ws:\/\/127\.0\.0\.1:5066 refused .*HTTP 401/);
  });

  test('a hang-up by either side is an end, not a fault', () => {
    assert.equal(endMessage({ cause: 'Terminated', originator: 'remote' }), 'Call ended: the voice app hung up.');
    assert.equal(endMessage({ cause: 'Terminated', originator: 'local' }), 'Call ended: you hung up.');
    assert.equal(endIsFault({ cause: 'Terminated', originator: 'remote' }), false);
    assert.equal(endIsFault({ cause: 'Connection Error', originator: 'system' }), true);
  });
});
