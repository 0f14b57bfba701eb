/** Where a tenant's prompt files live: a folder locally, S3 on AWS. Names are validated before they get here. */
export interface PromptStore {
  put(tenantId: string, name: string, bytes: Buffer, contentType: string): Promise<void>;
  get(tenantId: string, name: string): Promise<{ bytes: Buffer; contentType: string } | undefined>;
  delete(tenantId: string, name: string): Promise<boolean>;
  /**
   * A path on this machine that a media player can read, for `name` or `name` plus a known audio
   * extension; undefined when no such prompt exists. On AWS this downloads into a local cache.
   */
  localPath(tenantId: string, name: string): Promise<string | undefined>;
}
