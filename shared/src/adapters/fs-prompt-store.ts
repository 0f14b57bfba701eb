import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PromptStore } from '../ports/prompt-store.js';

const EXTENSIONS = ['', '.wav', '.mp3'];

/** Prompt files in `<root>/<tenantId>/<name>`, with the content type in a sidecar file. */
export class FsPromptStore implements PromptStore {
  constructor(private readonly root: string) {}

  private dir(tenantId: string): string {
    return join(this.root, tenantId);
  }

  async put(tenantId: string, name: string, bytes: Buffer, contentType: string): Promise<void> {
    const dir = this.dir(tenantId);
    await mkdir(dir, { recursive: true });
    // Write then rename, so a player never reads a half-written file.
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
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
      () => 'application/octet-stream',
    );
    return { bytes, contentType };
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    const path = await this.localPath(tenantId, name);
    if (!path) return false;
    await rm(path, { force: true });
    return true;
  }

  async localPath(tenantId: string, name: string): Promise<string | undefined> {
    for (const ext of EXTENSIONS) {
      const path = join(this.dir(tenantId), name + ext);
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile()) return path;
    }
    return undefined;
  }
}
