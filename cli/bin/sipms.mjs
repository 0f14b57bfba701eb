#!/usr/bin/env node
// sipms: runs the CLI as built JavaScript, no TypeScript loader. The bundle (cli/.build/sipms.mjs) is built
// with esbuild when it is missing or older than any file it was built from (listed beside it), then imported.
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, '.build', 'sipms.mjs');
const inputsFile = join(pkg, '.build', 'sipms.inputs.json');

async function mtime(path) {
  try {
    return (await stat(path)).mtimeMs;
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

async function stale() {
  const built = await mtime(out);
  if (built === undefined) return true;
  let inputs;
  try {
    inputs = JSON.parse(await readFile(inputsFile, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT' || err instanceof SyntaxError) return true; // no record of the sources: build
    throw err;
  }
  const times = await Promise.all(inputs.map(mtime));
  return times.some((t) => t === undefined || t > built);
}

async function rebuild() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    throw new Error(`sipms needs esbuild to build itself (npm install in the repository): ${err.message}`);
  }
  const result = await esbuild.build({
    entryPoints: [join(pkg, 'src', 'main.ts')],
    outfile: out,
    absWorkingDir: pkg,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    write: false,
    banner: {
      js: "import { createRequire as __sipmsRequire } from 'node:module'; const require = __sipmsRequire(import.meta.url);",
    },
  });
  await mkdir(dirname(out), { recursive: true });
  const inputs = Object.keys(result.metafile.inputs).map((p) => resolve(pkg, p));
  // Two runs may build at once (parallel CI steps): each file is written aside and renamed into place,
  // the bundle last, so a bundle newer than the inputs list is never seen with an older list.
  const files = [
    ...result.outputFiles.filter((f) => f.path !== out),
    { path: inputsFile, contents: Buffer.from(JSON.stringify(inputs)) },
    ...result.outputFiles.filter((f) => f.path === out),
  ];
  for (const file of files) {
    const aside = `${file.path}.${process.pid}.tmp`;
    await writeFile(aside, file.contents);
    await rename(aside, file.path);
  }
}

if (await stale()) await rebuild();
process.setSourceMapsEnabled(true);
const { main } = await import(pathToFileURL(out).href);
process.exitCode = await main(process.argv.slice(2));
