/**
 * esbuild settings shared by the Lambda bundles and the media-node bundle. Output is ESM (`.mjs`); a
 * `require` shim lets CommonJS dependencies that call `require('node:…')` run inside it.
 */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __sipmsCreateRequire } from 'node:module'; const require = __sipmsCreateRequire(import.meta.url);";

/** The Lambda runtime ships the AWS SDK v3: leaving it out keeps bundles small and cold starts short. */
export const LAMBDA_EXTERNALS = ['@aws-sdk/*'];

export const NODE_TARGET = 'node22';
