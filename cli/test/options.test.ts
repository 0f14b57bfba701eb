import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseArgs, parseDtmfSpec } from '../src/args.js';
import { planCall } from '../src/call-plan.js';
import { parseDuration } from '../src/durations.js';
import { CallOptionsError } from '../src/errors.js';
import { main } from '../src/main.js';
import { placeCall } from '../src/place-call.js';

// Option parsing and checking, and the command line's one-line errors (main() with captured output; nothing is
// dialled: every case fails before the SIP stack starts).

const call = (argv: string[], env: Record<string, string> = {}) => {
  const c = parseArgs(['call', ...argv], env);
  assert.equal(c.kind, 'call');
  return c as Extract<typeof c, { kind: 'call' }>;
};

function rejects(argv: string[], option: string, reason: RegExp, env: Record<string, string> = {}) {
  assert.throws(
    () => parseArgs(argv, env),
    (err: unknown) => err instanceof CallOptionsError && err.field === option && reason.test(err.reason),
    `${argv.join(' ')} → ${option}`,
  );
}

describe('durations and DTMF specs', () => {
  test('durations: units, bare seconds, limits', () => {
    assert.equal(parseDuration('10s', 'x'), 10_000);
    assert.equal(parseDuration('5.5s', 'x'), 5500);
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('2m', 'x'), 120_000);
    assert.equal(parseDuration('.5', 'x'), 500);
    assert.equal(parseDuration('3', 'x'), 3000);
    for (const bad of ['', 's', '-1s', '1 sec', '1e3', 'ten'])
      assert.throws(() => parseDuration(bad, 'x'), /not a duration/);
    assert.throws(() => parseDuration('0s', '--hangup-after', { min: 1 }), /at least 1 ms/);
    assert.throws(() => parseDuration('25h', 'x'), /at most/);
  });

  test('--dtmf: groups of keys at times, keys upper-cased', () => {
    assert.deepEqual(parseDtmfSpec('1@2s,23#@5.5s'), [
      { digits: '1', atMs: 2000 },
      { digits: '23#', atMs: 5500 },
    ]);
    assert.deepEqual(parseDtmfSpec(' *ab @ 300ms '), [{ digits: '*AB', atMs: 300 }]);
    for (const [spec, why] of [
      ['1', /not digits@time/],
      ['@2s', /not digits@time/],
      ['1@', /not a duration/],
      ['1@2s,', /empty group/],
      ['12e@1s', /not DTMF keys/],
      ['1@two', /not a duration/],
    ] as const) {
      assert.throws(
        () => parseDtmfSpec(spec),
        (err: unknown) => err instanceof CallOptionsError && err.field === '--dtmf' && why.test(err.reason),
        spec,
      );
    }
  });
});

describe('sipms command line', () => {
  test('every option, both spellings; the environment fills in server and API; flags win', () => {
    const c = call(
      [
        '+4930123456',
        '--server',
        '10.0.0.5:5080',
        '--transport=tcp',
        '--from',
        'alice',
        '--dtmf',
        '1@2s',
        '--dtmf=9@3s',
        '--play',
        'in.wav',
        '--record=out.wav',
        '--hangup-after',
        '10s',
        '--ring-timeout',
        '5s',
        '--journal-timeout',
        '2s',
        '--json',
      ],
      { SIPMS_SIP_SERVER: '192.0.2.1', SIPMS_API_URL: 'http://api.example', SIPMS_API_KEY: 'msk_abcdefgh' },
    );
    assert.deepEqual(c.options, {
      target: '+4930123456',
      server: '10.0.0.5:5080',
      transport: 'tcp',
      from: 'alice',
      dtmf: [
        { digits: '1', atMs: 2000 },
        { digits: '9', atMs: 3000 },
      ],
      playWav: 'in.wav',
      recordWav: 'out.wav',
      hangupAfterMs: 10_000,
      ringTimeoutMs: 5000,
      journalTimeoutMs: 2000,
      api: { url: 'http://api.example', apiKey: 'msk_abcdefgh' },
    });
    assert.equal(c.json, true);
    assert.equal(call(['x'], { SIPMS_SIP_SERVER: '192.0.2.1:5062' }).options.server, '192.0.2.1:5062');
    assert.deepEqual(call(['x']).options, { target: 'x' });
    assert.equal(call(['x']).json, false);
  });

  test('help and version', () => {
    assert.deepEqual(parseArgs(['--help'], {}), { kind: 'help', topic: 'general' });
    assert.deepEqual(parseArgs(['call', '--help'], {}), { kind: 'help', topic: 'call' });
    assert.deepEqual(parseArgs(['call', '-h', '--dtmf', 'garbage'], {}), { kind: 'help', topic: 'call' });
    assert.deepEqual(parseArgs(['help', 'call'], {}), { kind: 'help', topic: 'call' });
    assert.deepEqual(parseArgs(['--version'], {}), { kind: 'version' });
  });

  test('bad command lines name the option', () => {
    rejects([], 'command', /missing/);
    rejects(['dial', '123'], 'command', /unknown command "dial"/);
    rejects(['call'], '<number-or-sip-uri>', /missing/);
    rejects(['call', '1', '2'], '2', /one number at a time/);
    rejects(['call', '1', '--volume', '3'], '--volume', /unknown option/);
    rejects(['call', '1', '--server'], '--server', /needs a value/);
    rejects(['call', '1', '--play', '--json'], '--play', /needs a value/);
    rejects(['call', '1', '--json=yes'], '--json', /takes no value/);
    rejects(['call', '1', '--server', 'a', '--server', 'b'], '--server', /more than once/);
    rejects(['call', '1', '--transport', 'sctp'], '--transport', /udp or tcp/);
    rejects(['call', '1', '--hangup-after', '0'], '--hangup-after', /at least/);
    rejects(['call', '1', '--ring-timeout', 'soon'], '--ring-timeout', /not a duration/);
    rejects(['call', '1', '--api-url', 'http://x'], '--api-key', /needed with --api-url/);
    rejects(['call', '1'], '--api-url', /needed with --api-key/, { SIPMS_API_KEY: 'msk_abcdefgh' });
  });
});

describe('call options (the library checks them too)', () => {
  test('targets: numbers and user parts go to the server; SIP URIs as given', () => {
    assert.equal(planCall({ target: '+4930123' }).requestUri, 'sip:+4930123@127.0.0.1:5060');
    assert.equal(
      planCall({ target: 'ivr-test', server: 'sip.example.com' }).requestUri,
      'sip:ivr-test@sip.example.com:5060',
    );
    assert.equal(planCall({ target: '*100#', server: '[::1]:5070' }).requestUri, 'sip:*100%23@[::1]:5070');
    assert.equal(planCall({ target: 'sip:+4930@acme.sip.localhost' }).requestUri, 'sip:+4930@acme.sip.localhost');
    assert.deepEqual(planCall({ target: 'x', server: '127.0.0.1:5999' }).server, { host: '127.0.0.1', port: 5999 });
  });

  test('hostile or impossible options are refused, naming the field', () => {
    const bad: [Parameters<typeof planCall>[0], string, RegExp][] = [
      [{ target: '' }, 'target', /required/],
      [{ target: 'a b' }, 'target', /neither/],
      [{ target: 'x\r\nVia: evil' }, 'target', /control characters/],
      [{ target: 'sips:a@b' }, 'target', /TLS/],
      [{ target: 'sip:a@b c' }, 'target', /not a SIP URI/],
      [{ target: 'sip:<a>' }, 'target', /not a SIP URI/],
      [{ target: 'x', server: 'host:99999' }, 'server', /not host\[:port\]/],
      [{ target: 'x', server: 'a b' }, 'server', /not host\[:port\]/],
      [{ target: 'x', transport: 'tls' as 'udp' }, 'transport', /udp or tcp/],
      [{ target: 'x', from: 'sip:alice@<x>' }, 'from', /not a SIP URI/],
      [{ target: 'x', from: 'al ice' }, 'from', /neither/],
      [{ target: 'x', dtmf: [{ atMs: 1000, digits: '1x' }] }, 'dtmf', /not a DTMF key/],
      [{ target: 'x', dtmf: [{ atMs: Number.NaN, digits: '1' }] }, 'dtmf', /number of ms/],
      [{ target: 'x', hangupAfterMs: 5000, dtmf: [{ atMs: 6000, digits: '1' }] }, 'dtmf', /after the hang-up/],
      [{ target: 'x', hangupAfterMs: -1 }, 'hangupAfterMs', /at least/],
      [{ target: 'x', ringTimeoutMs: 10 }, 'ringTimeoutMs', /at least/],
      [{ target: 'x', api: { url: 'ftp://x', apiKey: 'msk_abcdefgh' } }, 'api.url', /http/],
      [{ target: 'x', api: { url: 'http://x', apiKey: 'a b' } }, 'api.apiKey', /API key/],
      [{ target: 'x', playWav: 'a\0b' }, 'playWav', /file path/],
    ];
    for (const [opts, field, why] of bad) {
      assert.throws(
        () => planCall(opts),
        (err: unknown) => err instanceof CallOptionsError && err.field === field && why.test(err.reason),
        JSON.stringify(opts),
      );
    }
  });

  test('placeCall refuses a --play file that is not a WAV before dialling', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sipms-opt-'));
    await writeFile(join(dir, 'x.wav'), 'not audio');
    await assert.rejects(placeCall({ target: 'x', playWav: join(dir, 'x.wav') }), {
      name: 'CallOptionsError',
      field: 'playWav',
    });
    await assert.rejects(placeCall({ target: 'x', playWav: join(dir, 'missing.wav') }), /cannot read .*ENOENT/);
    await assert.rejects(placeCall({ target: 'x', recordWav: join(dir, 'no', 'such', 'dir.wav') }), {
      field: 'recordWav',
    });
  });
});

describe('main(): exit codes and one-line errors', () => {
  async function run(argv: string[], env: Record<string, string> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
    return { code, stdout, stderr };
  }

  test('bad options: exit 2 and one line naming the option (and a JSON error with --json)', async () => {
    const r = await run(['call', 'ivr', '--dtmf', '1@soon']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sipms: --dtmf: "soon" is not a duration (e.g. 10s, 5.5s, 500ms, 2m)\n');
    assert.equal(r.stdout, '');
    const lib = await run(['call', 'ivr', '--hangup-after', '2s', '--dtmf', '1@3s']);
    assert.equal(lib.code, 2);
    assert.match(lib.stderr, /^sipms: --dtmf: 1 at 3 s would be after the hang-up at 2 s\n$/);
    const target = await run(['call', 'a b']);
    assert.match(target.stderr, /^sipms: <number-or-sip-uri>: "a b" is neither/);
    const json = await run(['call', 'ivr', '--transport', 'x', '--json']);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), {
      error: { code: 'bad_option', option: '--transport', message: 'must be udp or tcp' },
    });
  });

  test('help exits 0 and lists every option and the exit codes', async () => {
    const r = await run(['call', '--help']);
    assert.equal(r.code, 0);
    for (const flag of [
      '--server',
      '--transport',
      '--from',
      '--dtmf',
      '--play',
      '--record',
      '--hangup-after',
      '--ring-timeout',
      '--api-url',
      '--api-key',
      '--journal-timeout',
      '--json',
      'SIPMS_SIP_SERVER',
      'SIPMS_API_URL',
      'SIPMS_API_KEY',
    ]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    for (const code of ['0 ', '1 ', '2 ', '3 ', '4 ', '5 ', '6 ', '130 '])
      assert.ok(r.stdout.includes(`\n  ${code}`), code);
    assert.equal((await run(['--help'])).code, 0);
  });
});
