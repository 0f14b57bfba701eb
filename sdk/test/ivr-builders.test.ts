// The IVR builders and rules against the server's own schema (IvrCommand of shared/src/contracts/ivr-command.ts):
// everything the builders make, the server accepts; everything they refuse, the server refuses too; and on a few
// thousand generated commands the SDK's verdict and the server's are the same.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IvrCommand as ServerIvrCommand } from '@sipms/shared/contracts/ivr-command';
import { assertIvrCommand, IvrCommandError, ivr, phrase } from '../src/ivr/builder.js';
import { ivrCommandProblems } from '../src/ivr/rules.js';

const serverAccepts = (c: unknown) => ServerIvrCommand.safeParse(c).success;

function refusedByBoth(command: unknown, field: RegExp) {
  const problems = ivrCommandProblems(command);
  assert.ok(problems.length > 0, `the SDK accepts ${JSON.stringify(command)}`);
  assert.ok(
    problems.some((p) => field.test(p.field)),
    `${JSON.stringify(problems)} names ${field}`,
  );
  assert.equal(serverAccepts(command), false, `the server accepts ${JSON.stringify(command)}`);
}

describe('builders make commands the server accepts', () => {
  const built = {
    'welcome + menu with barge-in': ivr()
      .play('welcome')
      .say('Press 1 for sales', { language: 'en-US', voice: 'en-us' })
      .silence(500)
      .bargeIn()
      .dtmf({ maxDigits: 1, firstDigitTimeoutMs: 8000 }),
    'every phrase format': ivr()
      .play('a.b-c_d')
      .playUrl('https://prompts.example.com/x.wav')
      .say('Hello')
      .sayAws({ Text: 'Hallo', VoiceId: 'Vicki', LanguageCode: 'de-DE', Engine: 'neural', TextType: 'text' })
      .silence(1)
      .silence(60_000),
    'phrases() with the phrase helpers': ivr().phrases(phrase.file('x'), phrase.tts('y'), phrase.silence(20)),
    'collect digits at the limits': ivr().collect({
      maxDigits: 64,
      terminationKey: '#',
      firstDigitTimeoutMs: 120_000,
      interDigitTimeoutMs: 100,
      sensitive: true,
    }),
    record: ivr()
      .say('After the tone')
      .record({ fileName: 'msg-1', maxDurationSec: 3600, terminationKey: '#', beep: true }),
    'record by name': ivr().record('voicemail'),
    echo: ivr().echo(300),
    'stream with dtmf and phrases': ivr()
      .say('Connecting you to our assistant.')
      .stream({
        url: 'wss://bot.example.com/media?x=1',
        bidirectional: true,
        track: 'both',
        encoding: 'l16',
        sampleRate: 24000,
        parameters: { language: 'de' },
        maxDurationSec: 14_400,
      })
      .dtmf({ maxDigits: 1, terminationKey: '#' }),
    'stream by URL, then hang up': ivr().stream('ws://127.0.0.1:9/bot').hangup(),
    'conference after phrases': ivr().say('Joining').conference({ name: 'room-1', muted: true, maxParticipants: 1000 }),
    'conference by name': ivr().conference('standup'),
    'hang up': ivr().say('Goodbye').hangup(),
    'empty (no action)': ivr(),
    'barge-in off': ivr().say('x').bargeIn(false),
  };
  for (const [name, builder] of Object.entries(built)) {
    test(name, () => {
      const command = builder.build();
      const parsed = ServerIvrCommand.safeParse(command);
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
      assert.deepEqual(JSON.parse(JSON.stringify(builder)), command, 'toJSON renders the same command');
    });
  }

  test('builders are immutable: a shared start can be reused', () => {
    const menu = ivr().say('Menu');
    const a = menu.dtmf({ maxDigits: 1 }).build();
    const b = menu.hangup().build();
    assert.deepEqual(menu.build(), { phrases: [{ format: 'tts', text: 'Menu' }] });
    assert.equal(a.hangup, undefined);
    assert.equal(b.dtmf, undefined);
    const built = menu.build();
    built.phrases!.push(phrase.silence(1));
    assert.equal(menu.build().phrases!.length, 1, 'build() returns a copy');
  });
});

describe('builders refuse what the server refuses, at the step that breaks the command', () => {
  const refusals: [string, () => unknown, RegExp][] = [
    ['stream after record', () => ivr().record('m').stream('wss://b.example.com'), /^stream$/],
    ['record after stream', () => ivr().stream('wss://b.example.com').record('m'), /^stream$/],
    ['echo with stream', () => ivr().echo(5).stream('wss://b.example.com'), /^stream$/],
    ['conference after dtmf', () => ivr().dtmf().conference('r'), /^conference$/],
    ['dtmf after conference', () => ivr().conference('r').dtmf(), /^conference$/],
    ['conference with record', () => ivr().record('m').conference('r'), /^conference$/],
    ['conference with echo', () => ivr().echo(3).conference('r'), /^conference$/],
    ['conference with stream', () => ivr().stream('wss://b.example.com').conference('r'), /^conference$/],
    ['conference with hangup', () => ivr().conference('r').hangup(), /^conference$/],
    ['maxDigits 0', () => ivr().dtmf({ maxDigits: 0 }), /^dtmf\.maxDigits$/],
    ['maxDigits 65', () => ivr().dtmf({ maxDigits: 65 }), /^dtmf\.maxDigits$/],
    ['maxDigits 1.5', () => ivr().dtmf({ maxDigits: 1.5 }), /^dtmf\.maxDigits$/],
    ['terminationKey "##"', () => ivr().dtmf({ terminationKey: '##' }), /^dtmf\.terminationKey$/],
    ['terminationKey "E"', () => ivr().dtmf({ terminationKey: 'E' }), /^dtmf\.terminationKey$/],
    ['firstDigitTimeoutMs 99', () => ivr().dtmf({ firstDigitTimeoutMs: 99 }), /^dtmf\.firstDigitTimeoutMs$/],
    ['interDigitTimeoutMs 60001', () => ivr().dtmf({ interDigitTimeoutMs: 60_001 }), /^dtmf\.interDigitTimeoutMs$/],
    ['a file name with a slash', () => ivr().play('../etc/passwd'), /^phrases\.0\.fileName$/],
    ['an empty file name', () => ivr().play(''), /^phrases\.0\.fileName$/],
    ['a file name of 201 characters', () => ivr().play('a'.repeat(201)), /^phrases\.0\.fileName$/],
    ['an ftp URL', () => ivr().playUrl('ftp://example.com/x.wav'), /^phrases\.0\.url$/],
    ['an http URL without //', () => ivr().playUrl('http:example.com/x.wav'), /^phrases\.0\.url$/],
    ['not a URL', () => ivr().playUrl('not a url'), /^phrases\.0\.url$/],
    ['empty text', () => ivr().say(''), /^phrases\.0\.text$/],
    ['text of 3001 characters', () => ivr().say('x'.repeat(3001)), /^phrases\.0\.text$/],
    ['a voice of 65 characters', () => ivr().say('x', { voice: 'v'.repeat(65) }), /^phrases\.0\.voice$/],
    ['a one-letter language', () => ivr().say('x', { language: 'e' }), /^phrases\.0\.language$/],
    ['awstts without Text', () => ivr().sayAws({ Text: '' }), /^phrases\.0\.awsTTSParameters\.Text$/],
    [
      'awstts with an unknown engine',
      () => ivr().sayAws({ Text: 'x', Engine: 'turbo' as 'neural' }),
      /^phrases\.0\.awsTTSParameters\.Engine$/,
    ],
    ['silence 0', () => ivr().silence(0), /^phrases\.0\.durationMs$/],
    ['silence 60001', () => ivr().silence(60_001), /^phrases\.0\.durationMs$/],
    ['51 phrases', () => ivr().phrases(...Array.from({ length: 51 }, () => phrase.silence(10))), /^phrases$/],
    ['record 3601 s', () => ivr().record({ fileName: 'm', maxDurationSec: 3601 }), /^record\.maxDurationSec$/],
    ['record without a file name', () => ivr().record({ fileName: '' }), /^record\.fileName$/],
    ['echo 0 s', () => ivr().echo(0), /^echo\.durationSec$/],
    ['echo 301 s', () => ivr().echo(301), /^echo\.durationSec$/],
    ['a stream to https', () => ivr().stream('https://bot.example.com'), /^stream\.url$/],
    ['a stream URL of 2049 characters', () => ivr().stream(`wss://b.example.com/${'x'.repeat(2029)}`), /^stream\.url$/],
    ['mulaw at 16 kHz', () => ivr().stream({ url: 'wss://b.example.com', sampleRate: 16000 }), /^stream\.sampleRate$/],
    [
      'a sample rate of 44100',
      () => ivr().stream({ url: 'wss://b.example.com', encoding: 'l16', sampleRate: 44100 as 8000 }),
      /^stream\.sampleRate$/,
    ],
    [
      '21 stream parameters',
      () =>
        ivr().stream({
          url: 'wss://b.example.com',
          parameters: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`p${i}`, 'v'])),
        }),
      /^stream\.parameters$/,
    ],
    [
      'a stream parameter of 501 characters',
      () => ivr().stream({ url: 'wss://b.example.com', parameters: { a: 'x'.repeat(501) } }),
      /^stream\.parameters\.a$/,
    ],
    [
      'a stream of 14401 s',
      () => ivr().stream({ url: 'wss://b.example.com', maxDurationSec: 14_401 }),
      /maxDurationSec/,
    ],
    ['a conference name with a space', () => ivr().conference('room 1'), /^conference\.name$/],
    ['a conference name of 65 characters', () => ivr().conference('r'.repeat(65)), /^conference\.name$/],
    [
      'a conference of 1 participant',
      () => ivr().conference({ name: 'r', maxParticipants: 1 }),
      /^conference\.maxParticipants$/,
    ],
    [
      'a conference of 1001 participants',
      () => ivr().conference({ name: 'r', maxParticipants: 1001 }),
      /^conference\.maxParticipants$/,
    ],
  ];

  for (const [name, step, field] of refusals) {
    test(name, () => {
      let error: unknown;
      try {
        step();
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof IvrCommandError, `the builder did not refuse: ${String(error)}`);
      assert.ok(
        error.problems.some((p) => field.test(p.field)),
        `${JSON.stringify(error.problems)} should name ${field}`,
      );
      assert.match(error.message, /^invalid IVR command: /);
    });
  }

  // The same refusals as raw commands (what a builder step would have produced), through both validators.
  const rawRefusals: [string, unknown, RegExp][] = [
    ['stream + record', { stream: { url: 'wss://b.example.com' }, record: { fileName: 'm' } }, /^stream$/],
    ['stream + echo', { stream: { url: 'wss://b.example.com' }, echo: { durationSec: 3 } }, /^stream$/],
    ['conference + dtmf', { conference: { name: 'r' }, dtmf: {} }, /^conference$/],
    ['conference + record', { conference: { name: 'r' }, record: { fileName: 'm' } }, /^conference$/],
    ['conference + echo', { conference: { name: 'r' }, echo: { durationSec: 3 } }, /^conference$/],
    ['conference + stream', { conference: { name: 'r' }, stream: { url: 'wss://b.example.com' } }, /^conference$/],
    ['conference + hangup', { conference: { name: 'r' }, hangup: true }, /^conference$/],
    ['maxDigits 65', { dtmf: { maxDigits: 65 } }, /^dtmf\.maxDigits$/],
    ['an unknown phrase format', { phrases: [{ format: 'mp3', fileName: 'x' }] }, /^phrases\.0\.format$/],
    ['a phrase that is a string', { phrases: ['welcome'] }, /^phrases\.0$/],
    ['phrases not an array', { phrases: { format: 'file', fileName: 'x' } }, /^phrases$/],
    ['bargeIn "some"', { bargeIn: 'some' }, /^bargeIn$/],
    ['hangup "yes"', { hangup: 'yes' }, /^hangup$/],
    ['dtmf null', { dtmf: null }, /^dtmf$/],
    ['a command that is an array', [], /^\(command\)$/],
    ['a command that is null', null, /^\(command\)$/],
    ['a silence of 1.5 ms', { phrases: [{ format: 'silence', durationMs: 1.5 }] }, /durationMs/],
    ['a silence of NaN ms', { phrases: [{ format: 'silence', durationMs: Number.NaN }] }, /durationMs/],
  ];
  for (const [name, command, field] of rawRefusals) {
    test(`raw: ${name}`, () => refusedByBoth(command, field));
  }

  test('every builder refusal above is also refused by the server schema', () => {
    // Rebuild each refused command without the builder's check, as the wire would carry it.
    const drafts: unknown[] = [
      { record: { fileName: 'm' }, stream: { url: 'wss://b.example.com' } },
      { dtmf: {}, conference: { name: 'r' } },
      { conference: { name: 'r' }, hangup: true },
      { dtmf: { maxDigits: 0 } },
      { phrases: [{ format: 'file', fileName: '../etc/passwd' }] },
      { phrases: [{ format: 'url', url: 'http:example.com/x.wav' }] },
      { stream: { url: 'wss://b.example.com', sampleRate: 16000 } },
      { stream: { url: `wss://b.example.com/${'x'.repeat(2029)}` } },
      { conference: { name: 'r', maxParticipants: 1 } },
    ];
    for (const d of drafts) {
      assert.ok(ivrCommandProblems(d).length > 0, JSON.stringify(d));
      assert.equal(serverAccepts(d), false, JSON.stringify(d));
    }
  });

  test('unknown fields are not problems (the platform ignores them)', () => {
    const command = { phrases: [{ format: 'tts', text: 'x', pitch: 3 }], future: { a: 1 } };
    assert.deepEqual(ivrCommandProblems(command), []);
    assert.equal(serverAccepts(command), true);
    assert.doesNotThrow(() => assertIvrCommand(command));
  });
});

describe('the SDK rules and the server schema agree on generated commands', () => {
  /** A small deterministic PRNG, so a failure names a reproducible case. */
  function rng(seed: number) {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }

  test('5000 commands near every boundary', () => {
    const r = rng(20);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const maybe = <T>(v: () => T): T | undefined => (r() < 0.5 ? v() : undefined);
    const int = (lo: number, hi: number) => pick([lo - 1, lo, hi, hi + 1, Math.floor((lo + hi) / 2), lo + 0.5, -1]);
    const str = (lo: number, hi: number) => 'a'.repeat(pick([Math.max(0, lo - 1), lo, hi, hi + 1]));
    const names = [
      'ok',
      'a.b',
      '-x',
      '.x',
      'a b',
      '',
      'Ä',
      'x'.repeat(64),
      'x'.repeat(65),
      'x'.repeat(200),
      'x'.repeat(201),
    ];
    const urls = [
      'https://e.example.com/a.wav',
      'http://e.example.com',
      'HTTP://E.EXAMPLE.COM/x',
      ' https://e.example.com ',
      'http:e.example.com',
      'ftp://e.example.com',
      'wss://b.example.com/m',
      'ws://127.0.0.1:1/x',
      'WSS://B.EXAMPLE.COM',
      'ws:b.example.com',
      'wss://',
      'not a url',
      '',
      'https://[::1]/x',
    ];
    const keys = ['#', '*', '0', 'A', 'D', 'E', '##', '', 'a'];
    const phraseGen = (): unknown =>
      pick([
        () => ({ format: 'file', fileName: pick(names) }),
        () => ({ format: 'url', url: pick(urls) }),
        () => ({
          format: 'tts',
          text: str(1, 3000),
          voice: maybe(() => str(0, 64)),
          language: maybe(() => str(2, 16)),
        }),
        () => ({
          format: 'awstts',
          awsTTSParameters: {
            Text: str(1, 3000),
            VoiceId: maybe(() => str(1, 64)),
            LanguageCode: maybe(() => str(2, 16)),
            Engine: maybe(() => pick(['neural', 'standard', 'long-form', 'generative', 'x'])),
            TextType: maybe(() => pick(['text', 'ssml', 'html'])),
          },
        }),
        () => ({ format: 'silence', durationMs: int(1, 60_000) }),
        () => ({ format: pick(['wav', undefined]) }),
      ])();
    let agreed = 0;
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const command: Record<string, unknown> = {};
      if (r() < 0.6) command.phrases = Array.from({ length: pick([0, 1, 3, 50, 51]) }, phraseGen);
      if (r() < 0.4)
        command.dtmf = {
          maxDigits: maybe(() => int(1, 64)),
          terminationKey: maybe(() => pick(keys)),
          firstDigitTimeoutMs: maybe(() => int(100, 120_000)),
          interDigitTimeoutMs: maybe(() => int(100, 60_000)),
          sensitive: maybe(() => pick([true, false, 'yes'])),
        };
      if (r() < 0.3) command.bargeIn = pick(['all', 'none', 'some']);
      if (r() < 0.25)
        command.record = {
          fileName: pick(names),
          maxDurationSec: maybe(() => int(1, 3600)),
          terminationKey: maybe(() => pick(keys)),
          beep: maybe(() => pick([true, false, 1])),
        };
      if (r() < 0.2) command.echo = { durationSec: int(1, 300) };
      if (r() < 0.3)
        command.stream = {
          url: pick(urls),
          bidirectional: maybe(() => pick([true, false, 'true'])),
          track: maybe(() => pick(['inbound', 'both', 'outbound'])),
          encoding: maybe(() => pick(['mulaw', 'l16', 'opus'])),
          sampleRate: maybe(() => pick([8000, 16000, 24000, 44100])),
          parameters: maybe(() =>
            pick([
              { a: 'b' },
              { '': 'x' },
              { a: 'x'.repeat(501) },
              { a: 1 },
              Object.fromEntries(Array.from({ length: pick([20, 21]) }, (_, k) => [`k${k}`, 'v'])),
            ]),
          ),
          maxDurationSec: maybe(() => int(1, 14_400)),
        };
      if (r() < 0.3)
        command.conference = {
          name: pick(names),
          muted: maybe(() => pick([true, false, 0])),
          beep: maybe(() => pick([true, false])),
          endOnExit: maybe(() => pick([true, false])),
          maxParticipants: maybe(() => int(2, 1000)),
        };
      if (r() < 0.3) command.hangup = pick([true, false, 'no']);
      const ours = ivrCommandProblems(command).length === 0;
      const theirs = serverAccepts(command);
      assert.equal(
        ours,
        theirs,
        `case ${i}: SDK ${ours ? 'accepts' : `refuses (${JSON.stringify(ivrCommandProblems(command))})`}, server ${theirs ? 'accepts' : `refuses (${JSON.stringify(ServerIvrCommand.safeParse(command).error?.issues.map((x) => `${x.path.join('.')}: ${x.message}`))})`}: ${JSON.stringify(command).slice(0, 600)}`,
      );
      agreed++;
      if (ours) accepted++;
    }
    assert.equal(agreed, 5000);
    // Both verdicts occur often enough for the comparison to mean something.
    assert.ok(accepted > 200 && accepted < 4800, `accepted ${accepted} of 5000`);
  });
});
