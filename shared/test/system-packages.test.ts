// system-packages.json is the one list of Debian packages (runtime and test). This checks that every program the
// source runs is on it (scripts/check-system-packages.ts scans for them), that the scanner catches a new one, and
// that the preflight of `npm start` / `npm test` installs exactly the list.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  codeOnly,
  type ProgramUse,
  programsRun,
  root,
  scanRepository,
  unlistedPrograms,
} from '../../scripts/check-system-packages.js';
import { BASE_PACKAGES, packageProviding, RUNTIME_PACKAGES, TEST_PACKAGES } from '../src/system-packages.js';

const commands = (source: string) => programsRun(source).map((r) => `${r.line}:${r.command}`);
const use = (file: string, command: string): ProgramUse => ({ file, command, line: 1, how: '' });
/** Source text with template placeholders written as #{…} (a plain string holding them draws a lint warning). */
const tpl = (text: string) => text.replaceAll('#{', '$' + '{');

test('the list: every entry names a command and a package, each command once', () => {
  const all = [...RUNTIME_PACKAGES, ...TEST_PACKAGES, ...BASE_PACKAGES];
  for (const p of all) {
    assert.match(p.command, /^[a-z0-9][\w.+-]*$/, JSON.stringify(p));
    assert.match(p.package, /^[a-z0-9][a-z0-9.+-]+$/, JSON.stringify(p));
    assert.ok(p.usedBy, `${p.command}: say what uses it`);
  }
  assert.equal(new Set(all.map((p) => p.command)).size, all.length, 'a command is listed once');
  // What the issue found missing on a fresh machine, and what the media node cannot run without.
  for (const c of ['rtpengine', 'ffmpeg', 'espeak-ng']) assert.ok(RUNTIME_PACKAGES.some((p) => p.command === c));
  assert.equal(packageProviding('rtpengine'), 'rtpengine-daemon');
  assert.equal(packageProviding('/usr/bin/sipp'), 'sip-tester');
  assert.equal(packageProviding('lame'), undefined);
});

test('every program the source runs is installed by the list (runtime for the product)', () => {
  const uses = scanRepository();
  assert.deepEqual(unlistedPrograms(uses), []);
  // The scan is not vacuous: it sees the programs we know are run, where they are run.
  const seen = new Set(uses.map((u) => `${u.file} ${u.command}`));
  for (const expected of [
    'media-node/src/config.ts rtpengine',
    'media-node/src/media/audio-sources.ts ffmpeg',
    'media-node/src/media/speech-synthesizer.ts espeak-ng',
    'integ-tests/src/sipp.ts sipp',
    'integ-tests/src/rtp-capture.ts tcpdump',
    'integ-tests/src/baresip.ts sox',
    'integ-tests/src/baresip.ts baresip',
    'scripts/preflight.mjs apt-get',
  ]) {
    assert.ok(seen.has(expected), `the scan misses ${expected}`);
  }
});

test('the scanner catches a newly added program: spawn, execFile, promisified, config default', () => {
  const source = [
    "import { execFile, spawn } from 'node:child_process';",
    "spawn('lame', ['-V', '2', 'in.wav', 'out.mp3']);",
    'const run = promisify(execFile);',
    "await run('/usr/bin/flac', ['-d']);",
    "const tool = fast ? 'opusenc' : 'oggenc';",
    'execFileSync(tool, []);',
    "  LAME_BIN: z.string().default('lame'),",
    "  constructor(private readonly binary = 'mpg123') {}",
    "const x = opts.soxBinary ?? 'sox';",
    "execSync('  gzip -9 file');",
  ].join('\n');
  assert.deepEqual(commands(source), [
    '2:lame',
    '4:flac',
    '6:opusenc',
    '6:oggenc',
    '10:gzip',
    '8:mpg123',
    '9:sox',
    '7:lame',
  ]);
  const findings = unlistedPrograms(programsRun(source).map((r) => ({ file: 'media-node/src/media/mp3.ts', ...r })));
  assert.match(
    findings[0]!,
    /^media-node\/src\/media\/mp3\.ts:2 runs lame, which system-packages\.json does not install/,
  );
  assert.ok(
    findings.some((f) => /:9 runs sox, which system-packages\.json lists for tests only/.test(f)),
    'a test tool run by the product must move to runtime',
  );
});

test('the scanner: quoted or commented calls do not count; npm binaries and prerequisites are fine', () => {
  assert.deepEqual(
    commands(
      [
        "// spawn('lame') in a comment",
        'const doc = "spawn(\'lame\', [])";',
        '/* execFile("lame") */ const re = /spawn\\(\'lame\'/;',
        tpl("const t = `#{a}spawn('lame')`;"),
        "re.exec('lame');",
      ].join('\n'),
    ),
    [],
  );
  assert.deepEqual(commands(tpl("spawnSync(`#{root}node_modules/.bin/biome`, ['format']);")), []);
  assert.deepEqual(commands("const CLI = join(dir, 'node_modules', '.bin', 'cdk');\nspawnSync(CLI, []);"), []);
  assert.deepEqual(commands(tpl('spawnSync(`#{tool}`, []);')), ['1:<computed>']);
  assert.match(unlistedPrograms([{ ...use('scripts/x.mjs', '<computed>'), how: 'spawn(x)' }])[0]!, /computed/);
  assert.deepEqual(
    unlistedPrograms([
      use('media-node/src/a.ts', 'node'),
      use('scripts/a.mjs', 'sh'),
      use('scripts/a.mjs', 'npm'),
      use('integ-tests/src/a.ts', 'sipp'),
      use('bench/a.ts', 'taskset'),
      use('media-node/src/a.ts', 'ffmpeg'),
    ]),
    [],
  );
  // The text the patterns run on keeps offsets and lines.
  const src = tpl("a('x') // c\nb(`t#{c('y')}u`)");
  assert.equal(codeOnly(src).length, src.length);
  assert.equal(codeOnly(src), tpl("a(' ')     \nb(` #{c(' ')} `)"));
});

test('the preflight of `npm start` and `npm test` installs exactly the list', async () => {
  const preflight = await import(pathToFileURL(join(root, 'scripts/preflight.mjs')).href);
  const byCommand = (list: readonly { command: string; package: string }[]) =>
    Object.fromEntries(list.map((p) => [p.command, p.package]));
  assert.deepEqual(preflight.RUNTIME_PACKAGES, byCommand(RUNTIME_PACKAGES));
  assert.deepEqual(preflight.TEST_PACKAGES, byCommand([...RUNTIME_PACKAGES, ...TEST_PACKAGES]));
});
