import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROMPT_EXTENSIONS, type PromptPage, type PromptStore } from '../ports/prompt-store.js';
import { ifNotFound } from '../util/fs-errors.js';
import { randomId } from '../util/ids.js';

/** Prompt files in `<root>/<tenantId>/<name>`, with the content type in a sidecar file. */
export class FsPromptStore implements PromptStore {
  constructor(private readonly root: string) {}

  private dir(tenantId: string): string {
    return join(this.root, tenantId);
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
