import { copyFileSync, mkdtempSync } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuildOptions, build, buildSync } from 'esbuild';
import { REPO_ROOT } from './paths.js';

/**
 * The tenant console (console/): one esbuild bundle for the browser plus its page and style sheet, as
 * static files. The local deployment serves them at /console; the stack uploads them to the console
 * bucket. No config.json here: each deployment writes its own (where the API is).
 */
export const CONSOLE_SOURCE_DIR = join(REPO_ROOT, 'console');
export const CONSOLE_FILES = ['index.html', 'app.css', 'app.js', 'app.js.map'] as const;

function options(outDir: string): BuildOptions {
  return {
    entryPoints: [join(CONSOLE_SOURCE_DIR, 'src', 'main.ts')],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    outfile: join(outDir, 'app.js'),
    tsconfig: join(CONSOLE_SOURCE_DIR, 'tsconfig.json'),
    logLevel: 'warning',
  };
}

export async function buildConsole(outDir: string): Promise<void> {
  const result = await build({ ...options(outDir), write: false });
  await mkdir(outDir, { recursive: true });
  // Written aside and renamed: two stacks starting at once (tests) never serve half a file.
  const put = async (path: string, contents: Uint8Array | string) => {
    const aside = `${path}.${process.pid}.tmp`;
    await writeFile(aside, contents);
    await rename(aside, path);
  };
  for (const file of result.outputFiles) await put(file.path, file.contents);
  for (const name of ['index.html', 'app.css']) {
    const aside = join(outDir, `${name}.${process.pid}.tmp`);
    await copyFile(join(CONSOLE_SOURCE_DIR, name), aside);
    await rename(aside, join(outDir, name));
  }
}

let synthBuild: string | undefined;
/**
 * For `cdk synth`, which is synchronous: the console built once per process into a directory of its own
 * (the stack's asset; CDK copies it into the cloud assembly).
 */
export function buildConsoleForSynth(): string {
  if (synthBuild) return synthBuild;
  const outDir = mkdtempSync(join(tmpdir(), 'sipms-console-'));
  buildSync({ ...options(outDir), write: true });
  for (const name of ['index.html', 'app.css']) copyFileSync(join(CONSOLE_SOURCE_DIR, name), join(outDir, name));
  synthBuild = outDir;
  return outDir;
}
