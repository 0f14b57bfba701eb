// The publishable package: built with esbuild and tsc (declarations), packed with npm, installed offline into an
// empty folder (it has no dependencies), type-checked there as a TypeScript consumer would (no @types/node), and
// its IVR example run there with plain node against a signed callback. The build goes to a staging copy, so the
// repository's sdk/ never gets a dist/ that its own type-check would then resolve to.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '@sipms/integ-tests/local-stack';
import { freeTcpPort } from '@sipms/integ-tests/ports';
import { signatureHeader } from '@sipms/shared/signing';
import { transform } from 'esbuild';

const sdk = join(repoRoot, 'sdk');
const run = (cmd: string, args: string[], cwd: string) => {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  return { ...r, out: `${r.stdout}\n${r.stderr}` };
};

describe('the npm package', () => {
  let work: string;
  let stage: string;
  let app: string;
  let tarball: string;
  let example: ChildProcess | undefined;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'sipms-sdk-pack-'));
    stage = join(work, 'stage');
    app = join(work, 'app');
    mkdirSync(stage);
    mkdirSync(app);
  });

  after(async () => {
    if (example && example.exitCode === null) {
      const exited = new Promise((r) => example!.once('exit', r));
      example.kill('SIGTERM');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  test('builds: esbuild ES modules and tsc declarations for every module', () => {
    const r = run(
      process.execPath,
      ['--import', 'tsx', 'sdk/scripts/build.ts', '--out', join(stage, 'dist')],
      repoRoot,
    );
    assert.equal(r.status, 0, r.out);
    for (const f of [
      'index.js',
      'index.d.ts',
      'signature.js',
      'callbacks/adapters.d.ts',
      'client/client.d.ts',
      'generated/wire.d.ts',
      'testkit/index.js',
      'testkit/index.d.ts',
    ]) {
      assert.ok(existsSync(join(stage, 'dist', f)), `dist/${f}`);
    }
    assert.ok(!existsSync(join(sdk, 'dist')), 'the repository has no sdk/dist');
    const index = readFileSync(join(stage, 'dist/index.js'), 'utf8');
    assert.doesNotMatch(index, /\.ts['"]/, 'imports point at .js files');
  });

  test('packs with npm: the manifest is publishable and names no dependency', () => {
    for (const f of ['package.json', 'README.md']) cpSync(join(sdk, f), join(stage, f));
    for (const d of ['src', 'examples']) cpSync(join(sdk, d), join(stage, d), { recursive: true });
    // --ignore-scripts: prepack would build again, into the stage's own dist (done above).
    const r = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], stage);
    assert.equal(r.status, 0, r.out);
    const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info!.filename);
    const files = info!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'examples/ivr-menu.ts']) {
      assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    }
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('scripts/')), 'no tests or scripts shipped');
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'));
    assert.notEqual(manifest.private, true);
    assert.equal(manifest.dependencies, undefined);
    assert.deepEqual(manifest.exports['.'].import, './dist/index.js');
    assert.deepEqual(manifest.exports['.'].types, './dist/index.d.ts');
  });

  test('installs offline into an empty folder', () => {
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'tenant-app', private: true, type: 'module' }));
    const r = run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund'], app);
    assert.equal(r.status, 0, r.out);
    assert.ok(existsSync(join(app, 'node_modules/@sipms/sdk/dist/index.js')));
    const resolved = run(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('@sipms/sdk'))"],
      app,
    );
    assert.match(resolved.stdout.trim(), /node_modules\/@sipms\/sdk\/dist\/index\.js$/);
    const kit = run(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('@sipms/sdk/testkit'))"],
      app,
    );
    assert.match(kit.stdout.trim(), /node_modules\/@sipms\/sdk\/dist\/testkit\/index\.js$/);
  });

  test('type-checks in a consumer project through the published declarations (without @types/node)', () => {
    writeFileSync(
      join(app, 'check.ts'),
      [
        "import { createCallbackHandler, ivr, SipmsClient, verifySignature, type NewCallCallback } from '@sipms/sdk';",
        "const h = createCallbackHandler({ secrets: 's', handlers: { newCall: (b: NewCallCallback) => ({ action: 'ivr' }), getIvrCommand: () => ivr().say('x') } });",
        "const c = new SipmsClient({ baseUrl: 'https://api.example.com', apiKey: 'k' });",
        "export const checks = [h.fetch, c.calls.placeIvrCall, verifySignature('b', 't=1,v1=00', 's').ok];",
        "import { CallbackRecorder } from '@sipms/sdk/testkit';",
        "export const recorder = new CallbackRecorder({ secrets: 's' });",
        '// @ts-expect-error: not a reply newCall may give',
        "createCallbackHandler({ secrets: 's', handlers: { newCall: () => ({ action: 'dance' }) } });",
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    const r = run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    assert.equal(r.status, 0, r.out);
  });

  test("runs the IVR example there with plain node: a signed newCall and getIvrCommand get the example's replies", async () => {
    const { code } = await transform(readFileSync(join(app, 'node_modules/@sipms/sdk/examples/ivr-menu.ts'), 'utf8'), {
      loader: 'ts',
      format: 'esm',
    });
    writeFileSync(join(app, 'ivr-menu.mjs'), code);
    const port = await freeTcpPort();
    const secret = 'whsec_pack_test';
    example = spawn(process.execPath, ['ivr-menu.mjs'], {
      cwd: app,
      env: { ...process.env, PORT: String(port), SIPMS_SIGNING_SECRET: secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    example.stderr!.on('data', (d) => output.push(String(d)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening: ${output.join('')}`)), 10_000);
      example!.stdout!.on('data', (d) => {
        output.push(String(d));
        if (String(d).includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      example!.once('exit', (c) => reject(new Error(`exited ${c}: ${output.join('')}`)));
    });
    const common = { sessionId: 's-pack', seq: 1, timestamp: new Date().toISOString(), participantId: 'p-1' };
    const post = async (name: string, body: object, secrets = [secret]) => {
      const raw = JSON.stringify(body);
      const res = await fetch(`http://127.0.0.1:${port}/hooks/${name}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-mediaserver-signature': signatureHeader(secrets, raw, Math.floor(Date.now() / 1000)),
        },
        body: raw,
      });
      return { status: res.status, json: (await res.json()) as { dtmf?: unknown; phrases: { text: string }[] } };
    };
    const newCall = await post('newCall', {
      ...common,
      replyId: 'r-1',
      sipCallId: 'c@x',
      from: { uri: 'sip:a@x', user: 'a' },
      to: { uri: 'sip:b@y', user: 'b' },
      requestUri: 'sip:b@y',
      headers: {},
      sourceAddress: '127.0.0.1',
      transport: 'udp',
    });
    assert.deepEqual(newCall, { status: 200, json: { action: 'ivr' } });
    const first = await post('getIvrCommand', { ...common, replyId: 'r-2' });
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.dtmf, { maxDigits: 1, firstDigitTimeoutMs: 8000 });
    assert.equal(first.json.phrases[0]?.text, 'Welcome to Example Corporation.');
    assert.equal((await post('newCall', { ...common }, ['whsec_other'])).status, 401);
  });
});
