import { statSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * The media-node bundle as an S3 asset (a zip with main.mjs). Bundled by the local esbuild; the
 * Docker image is only CDK's required fallback and is never used because local bundling succeeds.
 */
export class MediaNodeBundle extends s3assets.Asset {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      path: join(REPO_ROOT, 'media-node', 'src'),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir: string): boolean {
            bundleMediaNode(outputDir);
            return true;
          },
        },
      },
    });
  }
}
