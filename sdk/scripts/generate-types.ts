// Writes sdk/src/generated/wire.ts from the OpenAPI document the server builds from its schemas:
// `npm run generate -w @sipms/sdk` (or `node --import tsx sdk/scripts/generate-types.ts`). Dev time only: the SDK
// itself never imports the server's code. sdk/test/wire-types.test.ts regenerates in memory and fails on any drift.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from '@sipms/shared/openapi/document';
import { renderWireTypes } from './wire-codegen.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const WIRE_FILE = 'sdk/src/generated/wire.ts';

/** The generated module as committed: rendered from the document, then formatted by the repository's biome. */
export function generateWireSource(): string {
  const source = renderWireTypes(buildOpenApiDocument());
  const biome = spawnSync(`${repoRoot}node_modules/.bin/biome`, ['format', `--stdin-file-path=${WIRE_FILE}`], {
    cwd: repoRoot,
    input: source,
    encoding: 'utf8',
  });
  if (biome.status !== 0) throw new Error(`biome format failed (${biome.status}): ${biome.stderr}`);
  return biome.stdout;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(`${repoRoot}${WIRE_FILE}`, generateWireSource());
  process.stdout.write(`wrote ${WIRE_FILE}\n`);
}
