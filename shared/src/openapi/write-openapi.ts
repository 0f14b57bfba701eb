// Regenerates docs/openapi.json from the schemas: `node --import tsx shared/src/openapi/write-openapi.ts`.
// The file is then formatted by biome (as `npm run lint` expects); the check in shared/test/openapi.test.ts
// compares the parsed document, so formatting never makes it stale.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOpenApiDocument } from './document.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const target = `${root}docs/openapi.json`;
writeFileSync(target, renderOpenApiDocument());
spawnSync(`${root}node_modules/.bin/biome`, ['format', '--write', target], { stdio: 'inherit' });
process.stdout.write(`wrote ${target}\n`);
