import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ESM_REQUIRE_SHIM } from '../cdk/bundling.js';
import { buildConsole } from '../cdk/console-bundle.js';
import { MEDIA_NODE_ENTRY, REPO_ROOT } from '../cdk/paths.js';

/**
 * The JavaScript `npm start` runs: the local deployment (control plane and node supervisor) and the media
 * node, each one esbuild bundle as the media node's EC2 bundle is, so no TypeScript loader runs in the
 * service. Built again at every start (about a second): what runs is always the checkout's code.
 */
export const LOCAL_BUNDLE_DIR = join(REPO_ROOT, '.build');
export const LOCAL_MAIN_BUNDLE = join(LOCAL_BUNDLE_DIR, 'local', 'main.mjs');
export const MEDIA_NODE_BUNDLE = join(LOCAL_BUNDLE_DIR, 'media-node', 'main.mjs');
/** The tenant console's static files, served at /console by the local API (console-static.ts). */
export const CONSOLE_BUNDLE_DIR = join(LOCAL_BUNDLE_DIR, 'console');

/** dynalite runs as its own process from its CLI file (dynamodb-local.ts), resolved from node_modules. */
const EXTERNAL = ['dynalite'];

export async function buildLocalBundles(): Promise<void> {
  const targets = [
    { entry: join(REPO_ROOT, 'infra', 'src', 'local', 'main.ts'), out: LOCAL_MAIN_BUNDLE },
    { entry: MEDIA_NODE_ENTRY, out: MEDIA_NODE_BUNDLE },
  ];
  await Promise.all([
    buildConsole(CONSOLE_BUNDLE_DIR),
    ...targets.map(async ({ entry, out }) => {
      const result = await build({
        entryPoints: [entry],
        outfile: out,
        absWorkingDir: REPO_ROOT,
        bundle: true,
        platform: 'node',
        format: 'esm',
        // This machine's Node, not the Lambda runtime's: the bundle runs here.
        target: `node${process.versions.node.split('.')[0]}`,
        mainFields: ['module', 'main'],
        external: EXTERNAL,
        keepNames: true,
        sourcemap: 'linked',
        sourcesContent: false,
        banner: { js: ESM_REQUIRE_SHIM },
        logLevel: 'warning',
        write: false,
      });
      // Two stacks may start at once (tests): each file is written aside and renamed into place.
      await mkdir(dirname(out), { recursive: true });
      for (const file of result.outputFiles) {
        const aside = `${file.path}.${process.pid}.tmp`;
        await writeFile(aside, file.contents);
        await rename(aside, file.path);
      }
    }),
  ]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildLocalBundles();
}
