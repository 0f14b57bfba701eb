import type { PromptFileInfo } from '../contracts/rest.js';

export interface PromptPage {
  prompts: PromptFileInfo[];
  /** The last name of this page, to pass as `cursor`; absent on the last page. */
  nextCursor?: string;
}

/** Where a tenant's prompt files live: a folder locally, S3 on AWS. Names are validated before they get here. */
export interface PromptStore {
  put(tenantId: string, name: string, bytes: Buffer, contentType: string): Promise<void>;
  get(tenantId: string, name: string): Promise<{ bytes: Buffer; contentType: string } | undefined>;
  delete(tenantId: string, name: string): Promise<boolean>;
  /**
   * The tenant's prompt files in name order, `limit` at a time, starting after the name `cursor` (a
   * name this store returned as `nextCursor`).
   */
  list(tenantId: string, page: { limit: number; cursor?: string | undefined }): Promise<PromptPage>;
  /**
   * A path on this machine that a media player can read, for `name` or `name` plus a known audio
   * extension; undefined when no such prompt exists. On AWS this downloads into a local cache.
   */
  localPath(tenantId: string, name: string): Promise<string | undefined>;
}

/** The extensions `localPath`/`get` try after the exact name: `welcome` finds `welcome.wav`. */
export const PROMPT_EXTENSIONS = ['', '.wav', '.mp3'] as const;
