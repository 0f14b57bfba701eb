// Builds the publishable package into sdk/dist: esbuild turns each src/*.ts into an ES module (no bundling, so
// dist mirrors src and the declarations line up), tsc --emitDeclarationOnly writes the .d.ts files.
// `npm run build -w @sipms/sdk`; `npm pack` runs it first (prepack). `--out <dir>` builds elsewhere (the package
// test stages a copy, so a test run never leaves a dist/ that tsc in this repository would then resolve to).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const sdk = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(sdk, '..');
const outArg = process.argv.indexOf('--out');
const dist = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]!) : join(sdk, 'dist');

if (dist === join(sdk, 'dist')) rmSync(dist, { recursive: true, force: true });
else if (existsSync(dist) && readdirSync(dist).length > 0) {
  process.stderr.write(`--out ${dist} is not empty; give a new or empty directory\n`);
  process.exit(1);
}

const entryPoints = readdirSync(join(sdk, 'src'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => join(sdk, 'src', f));

await build({
  entryPoints,
  outdir: dist,
  outbase: join(sdk, 'src'),
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});

const tsc = spawnSync(
  process.execPath,
  [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(sdk, 'tsconfig.build.json'), '--outDir', dist],
  { cwd: repoRoot, stdio: 'inherit' },
);
if (tsc.status !== 0) {
  process.stderr.write(`tsc --emitDeclarationOnly failed (exit ${tsc.status})\n`);
  process.exit(1);
}
for (const f of ['index.js', 'index.d.ts']) {
  if (!existsSync(join(dist, f))) {
    process.stderr.write(`build produced no dist/${f}\n`);
    process.exit(1);
  }
}
process.stdout.write(`built ${entryPoints.length} modules and their declarations into ${dist}\n`);
