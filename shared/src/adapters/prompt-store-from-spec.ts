import type { S3Client } from '@aws-sdk/client-s3';
import type { PromptStore } from '../ports/prompt-store.js';
import { FsPromptStore, type LocalObjectUrlOptions } from './fs-prompt-store.js';
import { S3PromptStore } from './s3-prompt-store.js';

/**
 * The PromptStore a `PROMPT_STORE` setting names: `dir:<path>` (one machine) or `s3:<bucket>[/<prefix>]`
 * (AWS). Composition roots call this; the S3 client is made by the caller's factory only when needed.
 */
export function promptStoreFromSpec(
  spec: string,
  deps: {
    s3: () => S3Client;
    cacheDir: string;
    /** A `dir:` store's object URLs (the local API serves them); without, its upload and download URLs throw. */
    objectUrls?: LocalObjectUrlOptions | undefined;
  },
): PromptStore {
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const location = spec.slice(colon + 1);
  if (kind === 'dir' && location) return new FsPromptStore(location, deps.objectUrls);
  if (kind === 's3' && location) {
    const slash = location.indexOf('/');
    const bucket = slash < 0 ? location : location.slice(0, slash);
    const prefix = slash < 0 ? undefined : location.slice(slash + 1).replace(/\/?$/, '/');
    return new S3PromptStore(deps.s3(), { bucket, cacheDir: deps.cacheDir, ...(prefix ? { prefix } : {}) });
  }
  throw new Error(`PROMPT_STORE must be dir:<path> or s3:<bucket>[/<prefix>], not "${spec}"`);
}
