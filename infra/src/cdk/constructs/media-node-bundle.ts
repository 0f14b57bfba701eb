import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { ESM_REQUIRE_SHIM, NODE_TARGET } from '../bundling.js';
import { MEDIA_NODE_ENTRY, REPO_ROOT } from '../paths.js';

/** Bundles media-node/src/main.ts (with every dependency: EC2 has no SDK preinstalled) into `outDir/main.mjs`. */
export function bundleMediaNode(outDir: string): { file: string; bytes: number } {
  const file = join(outDir, 'main.mjs');
  buildSync({
    entryPoints: [MEDIA_NODE_ENTRY],
    outfile: file,
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    mainFields: ['module', 'main'],
    minify: true,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_SHIM },
    logLevel: 'warning',
  });
  return { file, bytes: statSync(file).size };
}

export interface MediaNodeBundleProps {
  /** More files for the zip, by path relative to its root (the boot script's static files: bootFiles). */
  extraFiles?: Record<string, string>;
}

/**
 * The media-node bundle as an S3 asset (a zip with main.mjs, and the extra files). Bundled by the local esbuild; the
 * Docker image is only CDK's required fallback and is never used because local bundling succeeds.
 */
export class MediaNodeBundle extends s3assets.Asset {
  constructor(scope: Construct, id: string, props: MediaNodeBundleProps = {}) {
    const extraFiles = props.extraFiles ?? {};
    for (const path of Object.keys(extraFiles)) {
      if (path.startsWith('/') || path.split('/').includes('..') || path === 'main.mjs') {
        throw new Error(`MediaNodeBundle: extra file ${path} must be a relative path inside the bundle`);
      }
    }
    super(scope, id, {
      path: join(REPO_ROOT, 'media-node', 'src'),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // CDK caches bundling by source and options (a function's text is not part of them): without the files'
        // digest among the options, two fleets in one process (tests) would share whichever bundle came first.
        environment: {
          SIPMS_EXTRA_FILES: createHash('sha256')
            .update(JSON.stringify(Object.entries(extraFiles).sort()))
            .digest('hex'),
        },
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir: string): boolean {
            bundleMediaNode(outputDir);
            for (const [path, text] of Object.entries(extraFiles)) {
              mkdirSync(dirname(join(outputDir, path)), { recursive: true });
              writeFileSync(join(outputDir, path), text, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
            }
            return true;
          },
        },
      },
    });
  }
}
