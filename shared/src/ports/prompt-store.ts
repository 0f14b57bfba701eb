import type { PromptFileInfo } from '../contracts/rest.js';

export interface PromptPage {
  prompts: PromptFileInfo[];
  /** The last name of this page, to pass as `cursor`; absent on the last page. */
  nextCursor?: string;
}

/** Where a tenant's prompt files live: a folder locally, S3 on AWS. Names are validated before they get here. */
/**
 * What a stored file is: a tenant's upload, or a call's recording (a prompt file too, by the contract).
 * On AWS recordings carry the object tag RECORDING_TAG, which the bucket's recording retention rule expires.
 */
export type PromptKind = 'prompt' | 'recording';

/** The S3 object tag that marks recordings (`<key>=<value>`), and the lifecycle rule's filter. */
export const RECORDING_TAG = { key: 'sipms-kind', value: 'recording' } as const;

export interface PromptStore {
  put(tenantId: string, name: string, bytes: Buffer, contentType: string, kind?: PromptKind): Promise<void>;
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
  /**
   * A URL the tenant PUTs `name` to directly, bypassing the API's payload limit: only that size and that
   * content type are accepted (S3: signed headers; locally: checked by the object endpoint), until it expires.
   * The body is stored as it is, not sniffed.
   */
  uploadUrl(tenantId: string, name: string, opts: UploadUrlOptions): Promise<PresignedUpload>;
  /** A URL that GETs `name` (same extension lookup as `get`), or undefined when no such file exists. */
  downloadUrl(tenantId: string, name: string, opts: { expiresInSec: number }): Promise<PresignedDownload | undefined>;
}

export interface UploadUrlOptions {
  contentType: string;
  /** The exact size of the upload: any other Content-Length is refused. */
  bytes: number;
  expiresInSec: number;
}

export interface PresignedUpload {
  url: string;
  method: 'PUT';
  /** Headers the PUT must carry as they are (besides `Content-Length: bytes`, which HTTP clients set). */
  headers: Record<string, string>;
  /** ISO 8601. */
  expiresAt: string;
}

export interface PresignedDownload {
  url: string;
  /** ISO 8601. */
  expiresAt: string;
  /** The stored name (with the extension the lookup found), its size and content type. */
  name: string;
  size: number;
  contentType: string;
}

/** The extensions `localPath`/`get` try after the exact name: `welcome` finds `welcome.wav`. */
export const PROMPT_EXTENSIONS = ['', '.wav', '.mp3'] as const;
