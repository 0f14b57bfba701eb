import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalHeaderName, Headers, type ParsedRequest, type ParsedResponse } from '../src/sip/builtin/message.js';
import { parseMessage, SipParseError } from '../src/sip/builtin/parser.js';
import { serializeMessage } from '../src/sip/builtin/serializer.js';
import { StreamFramer } from '../src/sip/builtin/stream-framer.js';
import { parseNameAddress, parseSipUri, parseVia } from '../src/sip/builtin/uri.js';
import { SipWireError } from '../src/sip/builtin/wire-safety.js';
import { INJECTION, malformedCorpus } from './helpers/sip-malformed.js';

const CRLF = '\r\n';

function msg(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join(CRLF) + CRLF + CRLF + body);
}

const BASE_HEADERS = [
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.com>',
  'From: "Alice" <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.com>',
];

const SDP = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

function invite(extra: string[] = [], body = SDP): Buffer {
  return msg(
    [
      'INVITE sip:bob@biloxi.com SIP/2.0',
      ...BASE_HEADERS,
      ...extra,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(body)}`,
    ],
    body,
  );
}

function parseRequest(data: Buffer): ParsedRequest {
  const parsed = parseMessage(data);
  assert.equal(parsed.type, 'request');
  return parsed as ParsedRequest;
}

function expectParseError(data: Buffer, reason: RegExp): SipParseError {
  try {
    parseMessage(data);
  } catch (err) {
    assert.ok(err instanceof SipParseError, `expected SipParseError, got ${String(err)}`);
    assert.match(err.reason, reason);
    return err;
  }
  assert.fail('expected a SipParseError');
}

describe('SIP message parser', () => {
  test('parses a request with its essentials and body', () => {
    const req = parseRequest(invite());
    assert.equal(req.method, 'INVITE');
    assert.equal(req.uri, 'sip:bob@biloxi.com');
    assert.equal(req.callId, 'a84b4c76e66710@pc33.atlanta.com');
    assert.deepEqual(req.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(req.from.tag, '1928301774');
    assert.equal(req.from.displayName, 'Alice');
    assert.equal(req.to.displayName, 'Bob');
    assert.equal(req.to.tag, undefined);
    assert.equal(req.body.toString(), SDP);
  });

  test('parses a response', () => {
    const res = parseMessage(
      msg(
        ['SIP/2.0 180 Ringing', ...BASE_HEADERS.filter((h) => !h.startsWith('Max'))].map((h) =>
          h.replace('CSeq: 314159 INVITE', 'CSeq: 1 INVITE'),
        ),
      ),
    ) as ParsedResponse;
    assert.equal(res.type, 'response');
    assert.equal(res.status, 180);
    assert.equal(res.reason, 'Ringing');
  });

  test('compact header forms map to long names', () => {
    const data = msg([
      'OPTIONS sip:bob@biloxi.com SIP/2.0',
      'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc',
      'f: <sip:alice@atlanta.com>;tag=x',
      't: <sip:bob@biloxi.com>',
      'i: callid-1',
      'CSeq: 1 OPTIONS',
      'm: <sip:alice@10.0.0.1>',
      'k: timer, 100rel',
      'c: text/plain',
      'l: 5',
    ]);
    const req = parseRequest(Buffer.concat([data, Buffer.from('hello')]));
    assert.equal(req.callId, 'callid-1');
    assert.equal(req.headers.get('Call-ID'), 'callid-1');
    assert.equal(req.headers.get('contact'), '<sip:alice@10.0.0.1>');
    assert.deepEqual(req.headers.getAll('Supported'), ['timer', '100rel']);
    assert.equal(req.headers.get('content-type'), 'text/plain');
    assert.equal(req.body.toString(), 'hello');
  });

  test('folded header lines are joined', () => {
    const req = parseRequest(invite(['Subject: I know you are there,', '   pick up the phone', '\tand talk to me!']));
    assert.equal(req.headers.get('subject'), 'I know you are there, pick up the phone and talk to me!');
  });

  test('list headers split at top-level commas only; repeated headers keep their order', () => {
    const req = parseRequest(
      invite([
        'Record-Route: <sip:p1.example.com;lr>, "Proxy, Two" <sip:p2.example.com;lr>',
        'Record-Route: <sip:p3.example.com;lr;x=a,b>',
        'Route: <sip:r1.example.com;lr>',
        'WWW-Authenticate: Digest realm="atlanta.com", nonce="84a4cc6f", qop="auth,auth-int"',
        'Date: Sat, 13 Nov 2010 23:29:00 GMT',
        'Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKsecond, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKthird',
      ]),
    );
    assert.deepEqual(req.headers.getAll('record-route'), [
      '<sip:p1.example.com;lr>',
      '"Proxy, Two" <sip:p2.example.com;lr>',
      '<sip:p3.example.com;lr;x=a,b>',
    ]);
    assert.equal(req.headers.getAll('www-authenticate').length, 1);
    assert.equal(req.headers.getAll('date')[0], 'Sat, 13 Nov 2010 23:29:00 GMT');
    assert.deepEqual(
      req.vias.map((v) => v.host),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
    );
  });

  test('Content-Length longer body is truncated, shorter body is an error, bad value is an error', () => {
    const truncated = parseRequest(Buffer.concat([invite([], SDP), Buffer.from('TRAILING-GARBAGE')]));
    assert.equal(truncated.body.toString(), SDP);
    const short = Buffer.from(invite().toString().replace(`Content-Length: ${SDP.length}`, 'Content-Length: 999'));
    const err = expectParseError(short, /^Content-Length Mismatch$/);
    assert.ok(err.request, 'a request with a readable Via can be answered');
    for (const value of ['-1', 'abc']) {
      const bad = expectParseError(
        Buffer.from(
          invite()
            .toString()
            .replace(/Content-Length: \d+/, `Content-Length: ${value}`),
        ),
        /^Bad Content-Length$/,
      );
      assert.ok(bad.request);
    }
  });

  test('missing mandatory headers are errors naming the header; answerable unless the Via is missing', () => {
    for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
      const data = Buffer.from(
        invite()
          .toString()
          .split(CRLF)
          .filter((l) => !l.startsWith(`${name}:`))
          .join(CRLF),
      );
      const err = expectParseError(data, new RegExp(`^Missing ${name}$`));
      if (name === 'Via') assert.equal(err.request, undefined, 'no Via: no way to route an answer');
      else assert.equal(err.request?.method, 'INVITE', `${name} missing: answerable, the Via is readable`);
    }
  });

  test('malformed start lines and CSeq method mismatch', () => {
    expectParseError(Buffer.from('HELLO\r\n\r\n'), /Request-Line/);
    expectParseError(Buffer.from('SIP/2.0 abc Nope\r\nVia: x\r\n\r\n'), /Status-Line/);
    expectParseError(
      Buffer.from(
        invite().toString().replace('INVITE sip:bob@biloxi.com SIP/2.0', 'INVITE sip:bob@biloxi.com SIP/3.0'),
      ),
      /Version/,
    );
    expectParseError(
      Buffer.from(invite().toString().replace('CSeq: 314159 INVITE', 'CSeq: 314159 BYE')),
      /^CSeq Method Mismatch$/,
    );
    expectParseError(Buffer.from(invite().toString().replace('CSeq: 314159 INVITE', 'CSeq: x INVITE')), /^Bad CSeq$/);
  });

  test('limits: message size, header count, line length', () => {
    const big = invite([], 'a'.repeat(70_000));
    const tooLarge = expectParseError(big, /Too Large/);
    assert.equal(tooLarge.status, 513);
    assert.ok(tooLarge.request, 'too large, but the Via is readable: 513 can be sent');
    const manyHeaders = Array.from({ length: 130 }, (_, i) => `X-H${i}: v`);
    const bomb = expectParseError(invite(manyHeaders), /^Too Many Headers$/);
    assert.deepEqual(
      bomb.request?.headers.all().map((h) => h.name),
      ['Via', 'To', 'From', 'Call-ID', 'CSeq'],
      'of a request with a fault only the headers a response copies are kept',
    );
    expectParseError(invite([`X-Long: ${'x'.repeat(9000)}`]), /^Line Too Long$/);
    expectParseError(invite([`X-Long: ${'é'.repeat(4100)}`]), /^Line Too Long$/); // 8,200 bytes in 4,100 characters
  });

  test('serializer writes canonical names and the actual Content-Length', () => {
    const headers = new Headers()
      .add('call-id', 'abc')
      .add('cseq', '1 BYE')
      .add('www-authenticate', 'Digest realm="x"')
      .add('X-Custom-thing', 'v')
      .add('content-length', '999');
    const out = serializeMessage({
      type: 'request',
      method: 'BYE',
      uri: 'sip:a@b',
      headers,
      body: Buffer.from('hi'),
    }).toString();
    assert.match(
      out,
      /^BYE sip:a@b SIP\/2\.0\r\nCall-ID: abc\r\nCSeq: 1 BYE\r\nWWW-Authenticate: Digest realm="x"\r\nX-Custom-thing: v\r\nContent-Length: 2\r\n\r\nhi$/,
    );
    assert.equal(canonicalHeaderName('i'), 'Call-ID');
    assert.equal(canonicalHeaderName('record-route'), 'Record-Route');
  });

  test('a parsed message survives a serialize/parse round trip', () => {
    const req = parseRequest(invite(['Subject: hi']));
    const again = parseRequest(serializeMessage(req));
    assert.equal(again.callId, req.callId);
    assert.equal(again.body.toString(), SDP);
    assert.equal(again.headers.get('Subject'), 'hi');
  });
});

describe('malformed requests (RFC 3261 §8.2, §18.3, §21)', () => {
  test('each fault has its status and reason phrase; answerable exactly when the top Via is readable', () => {
    for (const method of ['OPTIONS', 'INVITE']) {
      for (const c of malformedCorpus({ port: 5060, method })) {
        let err: unknown;
        try {
          parseMessage(c.data);
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof SipParseError, `${method} ${c.name}: expected a SipParseError, got ${String(err)}`);
        if (c.answer) {
          assert.equal(err.reason, c.answer.reason, `${method} ${c.name}: reason`);
          assert.equal(err.status, c.answer.status, `${method} ${c.name}: status`);
          assert.ok(err.request, `${method} ${c.name}: the Via is readable, so it is answerable`);
        } else {
          const answerable = err.request !== undefined && err.request.method !== 'ACK';
          assert.equal(answerable, false, `${method} ${c.name}: must be dropped`);
        }
      }
    }
  });

  test('reason phrases are constants: nothing of the message reaches them', () => {
    const hostile = invite()
      .toString()
      .replace(/^From: .*$/m, 'From: Evil\tText <<sip:a@b>;tag=1');
    const err = expectParseError(Buffer.from(hostile), /^Bad From$/);
    assert.match(err.detail ?? '', /./, 'the detail (for logs) says more');
    assert.doesNotMatch(err.reason, /Evil/);
  });

  test('a datagram that ends right after the last header line lacks the empty line', () => {
    const noEmptyLine = invite([], '')
      .toString()
      .replace(/\r\n\r\n$/, '\r\n');
    expectParseError(Buffer.from(noEmptyLine), /^Missing Empty Line$/);
  });
});

describe('serializer refuses text that could end a line', () => {
  const request = (headers: Headers, uri = 'sip:a@b', method = 'OPTIONS') =>
    serializeMessage({ type: 'request', method, uri, headers, body: Buffer.alloc(0) });
  const response = (reason: string, headers = new Headers()) =>
    serializeMessage({ type: 'response', status: 486, reason, headers, body: Buffer.alloc(0) });

  test('the injection string is refused as reason phrase, header value, header name and URI', () => {
    assert.throws(
      () => response(INJECTION),
      (e: unknown) => e instanceof SipWireError && e.part === 'reason phrase',
    );
    assert.throws(
      () => request(new Headers().add('X-Reason', INJECTION)),
      (e: unknown) => e instanceof SipWireError && e.part === 'header value',
    );
    assert.throws(
      () => request(new Headers().add(`X-A: b\r\n${INJECTION}`, 'v')),
      (e: unknown) => e instanceof SipWireError && e.part === 'header name',
    );
    assert.throws(
      () => request(new Headers(), `sip:a@b\r\n${INJECTION}`),
      (e: unknown) => e instanceof SipWireError && e.part === 'Request-URI',
    );
    assert.throws(() => request(new Headers(), 'sip:a@b', 'OPT IONS'), SipWireError);
    for (const ch of ['\0', '\x07', '\x1b', '\x7f', '\r', '\n']) {
      assert.throws(() => response(`a${ch}b`), SipWireError, `reason with ${JSON.stringify(ch)}`);
      assert.throws(() => request(new Headers().add('X-A', `a${ch}b`)), SipWireError);
    }
  });

  test('ordinary text passes: HTAB (whitespace in SIP) and UTF-8 in values and reason phrases', () => {
    const out = response('Beschäftigt\tjetzt', new Headers().add('Subject', 'Grüße\taus Köln')).toString();
    assert.match(out, /^SIP\/2\.0 486 Beschäftigt\tjetzt\r\nSubject: Grüße\taus Köln\r\nContent-Length: 0\r\n\r\n$/);
  });

  test('Content-Length is the body, whatever the headers say: a body cannot run into a second message', () => {
    const headers = new Headers().add('Content-Length', '0');
    const body = Buffer.from('v=0\r\n\r\nSIP/2.0 200 OK\r\n\r\n');
    const out = serializeMessage({ type: 'request', method: 'INFO', uri: 'sip:a@b', headers, body });
    const frames = new StreamFramer({ maxMessageBytes: 4096 }).push(out);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.kind, 'message');
    assert.equal(out.toString().match(/Content-Length/g)?.length, 1);
  });
});

describe('URIs, addresses and Via', () => {
  test('SIP URI with escaped user, password, port, params and headers', () => {
    const uri = parseSipUri('sip:%2B49%20123:secret@example.com:5070;user=phone;lr?subject=hi&priority=urgent');
    assert.equal(uri.user, '+49 123');
    assert.equal(uri.rawUser, '%2B49%20123');
    assert.equal(uri.password, 'secret');
    assert.equal(uri.host, 'example.com');
    assert.equal(uri.port, 5070);
    assert.equal(uri.params.get('user'), 'phone');
    assert.equal(uri.params.get('lr'), null);
    assert.deepEqual(uri.headers, [
      ['subject', 'hi'],
      ['priority', 'urgent'],
    ]);
  });

  test('IPv6 hosts and sips', () => {
    const uri = parseSipUri('sips:alice@[2001:db8::1]:5061;transport=tls');
    assert.equal(uri.scheme, 'sips');
    assert.equal(uri.host, '2001:db8::1');
    assert.equal(uri.port, 5061);
    assert.throws(() => parseSipUri('sip:alice@[2001:db8::1'), /IPv6/);
    assert.throws(() => parseSipUri('sip:alice@host:99999'), /port/);
    assert.throws(() => parseSipUri('sip:%zz@host'), /escape/);
    assert.throws(() => parseSipUri('http://example.com'), /scheme/);
  });

  test('name-addr with quoted display name (escaped quote and comma), token display name and addr-spec', () => {
    const quoted = parseNameAddress('"Smith, \\"Bob\\"" <sip:bob%40home@example.com>;tag=abc;x-foo="a;b"');
    assert.equal(quoted.displayName, 'Smith, "Bob"');
    assert.equal(quoted.sipUri?.user, 'bob@home');
    assert.equal(quoted.tag, 'abc');
    assert.equal(quoted.params.get('x-foo'), '"a;b"');
    const token = parseNameAddress('Bob Smith <sip:bob@example.com;transport=udp>;tag=9');
    assert.equal(token.displayName, 'Bob Smith');
    assert.equal(token.sipUri?.params.get('transport'), 'udp');
    assert.equal(token.tag, '9');
    const bare = parseNameAddress('sip:carol@example.com;tag=77');
    assert.equal(bare.uri, 'sip:carol@example.com');
    assert.equal(bare.tag, '77');
    const tel = parseNameAddress('<tel:+4912345>');
    assert.equal(tel.sipUri, undefined);
    assert.throws(() => parseNameAddress('"unterminated <sip:a@b>'));
  });

  test('Via with rport (with and without value), received, IPv6 and LWS', () => {
    const plain = parseVia('SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport');
    assert.equal(plain.transport, 'UDP');
    assert.equal(plain.host, 'pc33.atlanta.com');
    assert.equal(plain.port, undefined);
    assert.equal(plain.branch, 'z9hG4bK776asdhds');
    assert.equal(plain.rport, null);
    const filled = parseVia('SIP / 2.0 / udp 10.0.0.1 : 5062;received=192.0.2.4;rport=40000;branch=z9hG4bKx');
    assert.equal(filled.port, 5062);
    assert.equal(filled.transport, 'UDP');
    assert.equal(filled.received, '192.0.2.4');
    assert.equal(filled.rport, 40000);
    const v6 = parseVia('SIP/2.0/TCP [2001:db8::9]:5080;branch=z9hG4bKy');
    assert.equal(v6.host, '2001:db8::9');
    assert.equal(v6.port, 5080);
    assert.equal(parseVia('SIP/2.0/UDP host;branch=z9hG4bKz').rport, undefined);
  });
});

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parser fuzzing', () => {
  test('random mutations only ever yield a message or a SipParseError', () => {
    const seeds: Buffer[] = [
      invite(),
      invite(['Record-Route: <sip:p1.example.com;lr>, "Proxy, Two" <sip:p2.example.com;lr>']),
      msg([
        'SIP/2.0 200 OK',
        'v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;rport=5060;received=10.0.0.9',
        'f: "A \\"q\\"" <sip:%41@a.com>;tag=1',
        't: <sip:b@b.com>;tag=2',
        'i: x@y',
        'CSeq: 2 BYE',
        'l: 0',
      ]),
      msg(
        [
          'INFO sip:svc@10.0.0.1:5060 SIP/2.0',
          ...BASE_HEADERS.map((h) => h.replace('314159 INVITE', '2 INFO')),
          'Content-Type: application/dtmf-relay',
          'Content-Length: 26',
        ],
        'Signal=5\r\nDuration=160\r\n',
      ),
    ];
    const random = mulberry32(0x5151);
    const pick = (n: number): number => Math.floor(random() * n);
    const interesting = Buffer.from(':;,<>"\\@[]%=\r\n \t\0\xff');
    const deadline = Date.now() + 2000;
    let runs = 0;
    let parsed = 0;
    while (Date.now() < deadline) {
      let data = Buffer.from(seeds[pick(seeds.length)]!);
      const mutations = 1 + pick(6);
      for (let m = 0; m < mutations; m++) {
        const at = pick(data.length + 1);
        switch (pick(5)) {
          case 0: // flip a byte
            if (data.length > 0) data[Math.min(at, data.length - 1)] = pick(256);
            break;
          case 1: // truncate
            data = data.subarray(0, at);
            break;
          case 2: // insert a structural character
            data = Buffer.concat([
              data.subarray(0, at),
              Buffer.from([interesting[pick(interesting.length)]!]),
              data.subarray(at),
            ]);
            break;
          case 3: // delete a run
            data = Buffer.concat([data.subarray(0, at), data.subarray(at + 1 + pick(16))]);
            break;
          default: // duplicate a chunk
            data = Buffer.concat([data.subarray(0, at), data.subarray(pick(data.length + 1), at), data.subarray(at)]);
        }
      }
      try {
        parseMessage(data);
        parsed++;
      } catch (err) {
        if (!(err instanceof SipParseError)) {
          assert.fail(`non-SipParseError ${String(err)} for input ${JSON.stringify(data.toString('latin1'))}`);
        }
      }
      runs++;
    }
    assert.ok(runs > 1000, `only ${runs} fuzz runs`);
    assert.ok(parsed > 0, 'some mutations should still parse');
  });

  test('pure random bytes never throw anything but SipParseError', () => {
    const random = mulberry32(42);
    for (let i = 0; i < 5000; i++) {
      const data = Buffer.alloc(Math.floor(random() * 600));
      for (let b = 0; b < data.length; b++) data[b] = Math.floor(random() * 256);
      assert.throws(() => parseMessage(data), SipParseError);
    }
  });
});
