// `npm start`: set up what is missing, build the service's JavaScript, then run the whole service on this machine.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { preflight, RUNTIME_PACKAGES, root } from './preflight.mjs';

preflight(RUNTIME_PACKAGES);
// The SDK's notice that releases after January 2027 need Node 22: versions are pinned in the lockfile (see README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// esbuild bundles (infra/src/local/build-bundles.ts), built by a child so no TypeScript loader stays in this process.
const built = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'infra/src/local/build-bundles.ts')], {
  cwd: root,
  stdio: 'inherit',
});
if (built.status !== 0) {
  process.stderr.write(`the service's bundles could not be built (exit ${built.status ?? built.signal})\n`);
  process.exit(1);
}
process.setSourceMapsEnabled(true);
// Started by a test or a benchmark with stdin as a pipe: when that process dies, even by SIGKILL, the pipe closes
// and the service stops as on Ctrl-C, so a killed test leaves no stack holding ports and CPU for the next one.
if (process.env.SIPMS_STOP_WITH_PARENT === '1') {
  process.stdin.on('end', () => process.kill(process.pid, 'SIGINT'));
  process.stdin.resume();
}
await import(pathToFileURL(join(root, '.build/local/main.mjs')).href);
