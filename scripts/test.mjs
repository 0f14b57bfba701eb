// `npm test`: set up what is missing, then lint, type-check and run every test (unit and integration,
// against real rtpengine, SIPp, dynalite and HTTP webhooks). Extra arguments are test files to run instead.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { preflight, root, TEST_PACKAGES } from './preflight.mjs';

preflight(TEST_PACKAGES);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function step(title, command, args) {
  process.stderr.write(`\n== ${title}\n`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stderr.write(`\n== ${title} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

const bin = (name) => join(root, 'node_modules', '.bin', name);
const requested = process.argv.slice(2);

if (requested.length === 0) {
  step('lint (biome)', bin('biome'), ['ci', '.']);
  step('type-check (tsc)', bin('tsc'), ['-p', 'tsconfig.json']);
  // The console runs in a browser: its own project adds the DOM types the rest must not see.
  step('type-check console (tsc)', bin('tsc'), ['-p', 'console/tsconfig.json']);
}

function testFiles(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true })
    .filter((f) => String(f).endsWith('.test.ts'))
    .map((f) => relative(root, join(abs, String(f))))
    .sort();
}

// Unit tests first (fast, no network), then the black-box tests against the running stack.
const files = requested.length
  ? requested
  : [
      ...['shared', 'lambdas', 'media-node', 'infra', 'sdk', 'cli', 'console'].flatMap((w) => testFiles(`${w}/test`)),
      ...testFiles('integ-tests/test'),
    ];
step(`tests (${files.length} files)`, process.execPath, [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-timeout=180000',
  '--test-reporter=tap',
  '--test-reporter-destination=stdout',
  // CI keeps the log's tail: the failures are repeated there, after the run.
  `--test-reporter=${join(root, 'scripts', 'failed-tests-reporter.mjs')}`,
  '--test-reporter-destination=stderr',
  ...files,
]);
