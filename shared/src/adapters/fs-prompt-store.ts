import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { PromptFileName } from '../contracts/rest.js';
import { signObjectToken } from '../crypto/object-token.js';
import {
  PROMPT_EXTENSIONS,
  type PresignedDownload,
  type PresignedUpload,
  type PromptPage,
  type PromptStore,
  type UploadUrlOptions,
} from '../ports/prompt-store.js';
import { ifNotFound } from '../util/fs-errors.js';
import { randomId } from '../util/ids.js';

/** The local equivalent of presigned URLs: `<baseUrl>/_objects/<token>`, served by local-object-server.ts. */
export interface LocalObjectUrlOptions {
  /** The local API's origin (the object endpoint is on the same server). */
  baseUrl: string;
  /** The HMAC-SHA256 key the object endpoint verifies tokens with. */
  key: Buffer;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

/** The path prefix of object URLs on the local API. */
export const LOCAL_OBJECTS_PATH = '/_objects/';

const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A stored file as the object endpoint serves it. */
export interface StoredPrompt {
  /** The stored name (the lookup's extension included). */
  name: string;
  path: string;
  size: number;
  contentType: string;
}

/** Prompt files in `<root>/<tenantId>/<name>`, with the content type in a sidecar file. */
export class FsPromptStore implements PromptStore {
  constructor(
    private readonly root: string,
    private readonly urls?: LocalObjectUrlOptions,
  ) {}

  private dir(tenantId: string): string {
    return join(this.root, tenantId);
  }

  /**
   * `<root>/<tenantId>/<name>`, refusing anything that would leave the tenant's folder. Names are validated
   * at the API's edge; the object endpoint gets them from tokens and must not trust them any further.
   */
  safePath(tenantId: string, name: string): string | undefined {
    if (!TENANT_ID.test(tenantId) || !PromptFileName.safeParse(name).success) return undefined;
    const dir = resolve(this.root, tenantId);
    const path = resolve(dir, name);
    return path.startsWith(dir + sep) ? path : undefined;
  }

  /** The file stored under exactly `name` (no extension lookup), with its size and content type. */
  async stored(tenantId: string, name: string): Promise<StoredPrompt | undefined> {
    const path = this.safePath(tenantId, name);
    if (!path) return undefined;
    const s = await stat(path).catch(ifNotFound(undefined));
    if (!s?.isFile()) return undefined;
    const contentType = await readFile(join(this.dir(tenantId), `.${name}.type`), 'utf8').catch(
      ifNotFound('application/octet-stream'),
    );
    return { name, path, size: s.size, contentType };
  }

  private signedUrl(claims: Parameters<typeof signObjectToken>[1]): string {
    if (!this.urls) throw new Error('this prompt store has no object URL key: object URLs are not available');
    return `${this.urls.baseUrl.replace(/\/+$/, '')}${LOCAL_OBJECTS_PATH}${signObjectToken(this.urls.key, claims)}`;
  }

  private now(): number {
    return this.urls?.now?.() ?? Date.now();
  }

  async uploadUrl(tenantId: string, name: string, opts: UploadUrlOptions): Promise<PresignedUpload> {
    if (!this.safePath(tenantId, name)) throw new Error(`not a storable prompt name: ${JSON.stringify(name)}`);
    const e = this.now() + opts.expiresInSec * 1000;
    const url = this.signedUrl({ m: 'PUT', t: tenantId, n: name, s: opts.bytes, c: opts.contentType, e });
    return { url, method: 'PUT', headers: { 'content-type': opts.contentType }, expiresAt: new Date(e).toISOString() };
  }

  async downloadUrl(
    tenantId: string,
    name: string,
    opts: { expiresInSec: number },
  ): Promise<PresignedDownload | undefined> {
    const path = await this.localPath(tenantId, name);
    if (!path) return undefined;
    const file = await this.stored(tenantId, path.slice(this.dir(tenantId).length + 1));
    if (!file) return undefined;
    const e = this.now() + opts.expiresInSec * 1000;
    return {
      url: this.signedUrl({ m: 'GET', t: tenantId, n: file.name, e }),
      expiresAt: new Date(e).toISOString(),
      name: file.name,
      size: file.size,
      contentType: file.contentType,
    };
  }

  async put(tenantId: string, name: string, bytes: Buffer, contentType: string): Promise<void> {
    const dir = this.dir(tenantId);
    await mkdir(dir, { recursive: true });
    // Write then rename, so a player never reads a half-written file; a unique temporary name, so
    // concurrent uploads of one name never rename each other's file away (the last rename wins).
    const tmp = join(dir, `.${name}.${randomId('', 10)}.tmp`);
    await writeFile(tmp, bytes);
    await rename(tmp, join(dir, name));
    await writeFile(join(dir, `.${name}.type`), contentType);
  }

  async get(tenantId: string, name: string): Promise<{ bytes: Buffer; contentType: string } | undefined> {
    const path = await this.localPath(tenantId, name);
    if (!path) return undefined;
    const bytes = await readFile(path);
    const base = path.slice(this.dir(tenantId).length + 1);
    const contentType = await readFile(join(this.dir(tenantId), `.${base}.type`), 'utf8').catch(
      ifNotFound('application/octet-stream'),
    );
    return { bytes, contentType };
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    const path = await this.localPath(tenantId, name);
    if (!path) return false;
    await rm(path, { force: true });
    return true;
  }

  async list(tenantId: string, page: { limit: number; cursor?: string | undefined }): Promise<PromptPage> {
    const entries = await readdir(this.dir(tenantId), { withFileTypes: true }).catch(ifNotFound([]));
    // Dot files are the content-type sidecars and half-written uploads.
    const names = entries
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .filter((n) => page.cursor === undefined || n > page.cursor)
      .sort();
    const slice = names.slice(0, page.limit);
    const prompts = await Promise.all(
      slice.map(async (name) => {
        const s = await stat(join(this.dir(tenantId), name));
        return { name, size: s.size, updatedAt: s.mtime.toISOString() };
      }),
    );
    return names.length > page.limit ? { prompts, nextCursor: slice[slice.length - 1]! } : { prompts };
  }

  async localPath(tenantId: string, name: string): Promise<string | undefined> {
    for (const ext of PROMPT_EXTENSIONS) {
      const path = join(this.dir(tenantId), name + ext);
      const s = await stat(path).catch(ifNotFound(undefined));
      if (s?.isFile()) return path;
    }
    return undefined;
  }
}
