// `npm start`: set up what is missing, then run the whole service on this machine.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { preflight, RUNTIME_PACKAGES, root } from './preflight.mjs';

preflight(RUNTIME_PACKAGES);
// The SDK's notice that releases after January 2027 need Node 22: versions are pinned in the lockfile (see README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
await import(pathToFileURL(join(root, 'infra/src/local/main.ts')).href);
