import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  PROMPT_EXTENSIONS,
  type PresignedDownload,
  type PresignedUpload,
  type PromptKind,
  type PromptPage,
  type PromptStore,
  RECORDING_TAG,
  type UploadUrlOptions,
} from '../ports/prompt-store.js';
import { ifNotFound } from '../util/fs-errors.js';
import { randomId } from '../util/ids.js';

export interface S3PromptStoreOptions {
  bucket: string;
  /** Key prefix in front of `<tenantId>/<name>`; default `prompts/`. */
  prefix?: string;
  /** Where `localPath` keeps downloaded prompts (one folder per tenant, an ETag beside each file). */
  cacheDir: string;
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || status(err) === 404;
}

function isNotModified(err: unknown): boolean {
  return (err as { name?: string })?.name === 'NotModified' || status(err) === 304;
}

/**
 * The SDK adds a flexible checksum to every PutObject (since 3.729). A presigned PutObject has no body when it
 * is signed, so the URL would carry the CRC32 of nothing (`x-amz-checksum-crc32=AAAAAA==`) and S3 would refuse
 * the real upload. Dropped from the request before it is presigned; the signed Content-Length still binds it.
 */
function stripChecksums<A extends { request: unknown }, R>(next: (args: A) => Promise<R>) {
  return async (args: A): Promise<R> => {
    const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
    for (const name of Object.keys(headers)) {
      if (name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm') delete headers[name];
    }
    return next(args);
  };
}

async function presign(s3: S3Client, command: PutObjectCommand | GetObjectCommand, expiresIn: number) {
  (command as PutObjectCommand).middlewareStack.addRelativeTo(stripChecksums, {
    name: 'sipmsStripPresignChecksums',
    relation: 'before',
    toMiddleware: 'presignInterceptMiddleware',
  });
  // content-type and content-length are signed headers: S3 refuses a PUT of any other size or type.
  return getSignedUrl(s3, command, { expiresIn, signableHeaders: new Set(['content-type', 'content-length']) });
}

/**
 * Prompt files in S3 under `<prefix><tenantId>/<name>`, with the content type on the object. The media
 * node plays from local files, so `localPath` keeps a cache and revalidates it with a conditional GET
 * (If-None-Match: the cached ETag): an unchanged prompt costs one request and no transfer.
 */
export class S3PromptStore implements PromptStore {
  private readonly prefix: string;

  constructor(
    private readonly s3: S3Client,
    private readonly opts: S3PromptStoreOptions,
  ) {
    this.prefix = opts.prefix ?? 'prompts/';
  }

  private key(tenantId: string, name: string): string {
    return `${this.prefix}${tenantId}/${name}`;
  }

  async put(
    tenantId: string,
    name: string,
    bytes: Buffer,
    contentType: string,
    kind: PromptKind = 'prompt',
  ): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: this.key(tenantId, name),
        Body: bytes,
        ContentType: contentType,
        // The tag is per object version: an upload over a recording's name is a prompt, kept until deleted.
        ...(kind === 'recording' ? { Tagging: `${RECORDING_TAG.key}=${RECORDING_TAG.value}` } : {}),
      }),
    );
  }

  async get(tenantId: string, name: string): Promise<{ bytes: Buffer; contentType: string } | undefined> {
    for (const ext of PROMPT_EXTENSIONS) {
      try {
        const res = await this.s3.send(
          new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(tenantId, name + ext) }),
        );
        const bytes = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
        return { bytes, contentType: res.ContentType ?? 'application/octet-stream' };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    return undefined;
  }

  /** The stored object for `name` (exact name first, then with an audio extension), if any. */
  private async existing(
    tenantId: string,
    name: string,
  ): Promise<{ key: string; name: string; size: number; contentType: string } | undefined> {
    for (const ext of PROMPT_EXTENSIONS) {
      const key = this.key(tenantId, name + ext);
      try {
        const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }));
        return {
          key,
          name: name + ext,
          size: head.ContentLength ?? 0,
          contentType: head.ContentType ?? 'application/octet-stream',
        };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    return undefined;
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    const found = await this.existing(tenantId, name);
    if (!found) return false;
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: found.key }));
    return true;
  }

  /**
   * A SigV4 presigned PUT, signed with this process's credentials (the Lambda role's: its s3:PutObject grant is
   * what the URL carries). No tag: an upload is a prompt, kept until deleted.
   */
  async uploadUrl(tenantId: string, name: string, opts: UploadUrlOptions): Promise<PresignedUpload> {
    const expiresAt = new Date(Date.now() + opts.expiresInSec * 1000).toISOString();
    const url = await presign(
      this.s3,
      new PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: this.key(tenantId, name),
        ContentType: opts.contentType,
        ContentLength: opts.bytes,
      }),
      opts.expiresInSec,
    );
    return { url, method: 'PUT', headers: { 'content-type': opts.contentType }, expiresAt };
  }

  async downloadUrl(
    tenantId: string,
    name: string,
    opts: { expiresInSec: number },
  ): Promise<PresignedDownload | undefined> {
    const found = await this.existing(tenantId, name);
    if (!found) return undefined;
    const expiresAt = new Date(Date.now() + opts.expiresInSec * 1000).toISOString();
    const url = await presign(
      this.s3,
      new GetObjectCommand({ Bucket: this.opts.bucket, Key: found.key }),
      opts.expiresInSec,
    );
    return { url, expiresAt, name: found.name, size: found.size, contentType: found.contentType };
  }

  async list(tenantId: string, page: { limit: number; cursor?: string | undefined }): Promise<PromptPage> {
    const base = this.key(tenantId, '');
    // StartAfter (a name), not S3's continuation token: the prefix is always the caller's own.
    const res = await this.s3.send(
      new ListObjectsV2Command({
        Bucket: this.opts.bucket,
        Prefix: base,
        MaxKeys: page.limit,
        ...(page.cursor ? { StartAfter: base + page.cursor } : {}),
      }),
    );
    const prompts = (res.Contents ?? [])
      .filter((o) => o.Key && o.Key.length > base.length)
      .map((o) => ({
        name: o.Key!.slice(base.length),
        size: o.Size ?? 0,
        updatedAt: (o.LastModified ?? new Date(0)).toISOString(),
      }));
    return res.IsTruncated && prompts.length > 0
      ? { prompts, nextCursor: prompts[prompts.length - 1]!.name }
      : { prompts };
  }

  async localPath(tenantId: string, name: string): Promise<string | undefined> {
    const dir = join(this.opts.cacheDir, tenantId);
    for (const ext of PROMPT_EXTENSIONS) {
      const file = join(dir, name + ext);
      const etagFile = join(dir, `.${name}${ext}.etag`);
      const cachedEtag = await readFile(etagFile, 'utf8').catch(ifNotFound(undefined));
      try {
        const res = await this.s3.send(
          new GetObjectCommand({
            Bucket: this.opts.bucket,
            Key: this.key(tenantId, name + ext),
            ...(cachedEtag ? { IfNoneMatch: cachedEtag } : {}),
          }),
        );
        const bytes = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
        await mkdir(dir, { recursive: true });
        // Write then rename, so a player never reads a half-written file.
        const tmp = join(dir, `.${name}${ext}.${randomId('', 8)}.tmp`);
        await writeFile(tmp, bytes);
        await rename(tmp, file);
        if (res.ETag) await writeFile(etagFile, res.ETag);
        else await rm(etagFile, { force: true });
        return file;
      } catch (err) {
        if (isNotModified(err)) return file;
        if (!isMissing(err)) throw err;
        // Gone from S3: a stale cached copy must not keep playing.
        if (cachedEtag) await Promise.all([rm(file, { force: true }), rm(etagFile, { force: true })]);
      }
    }
    return undefined;
  }
}
