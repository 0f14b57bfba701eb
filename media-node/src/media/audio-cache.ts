import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ifNotFound } from '@sipms/shared/util/fs-errors';
import type { Logger } from '@sipms/shared/util/logger';

/** The node's whole audio cache by default (AUDIO_CACHE_MAX_BYTES): 2 GiB. */
export const DEFAULT_AUDIO_CACHE_MAX_BYTES = 2 * 1024 ** 3;
/** The part of the budget one tenant may hold before its entries go first (AUDIO_CACHE_TENANT_SHARE). */
export const DEFAULT_AUDIO_CACHE_TENANT_SHARE = 0.25;

export interface AudioCacheOptions {
  maxBytes: number;
  /** 0 < share ≤ 1: past `share × maxBytes`, an owner's entries are evicted before anyone else's. */
  tenantShare: number;
  /**
   * How long a file handed out stays pinned beyond its own length (8 kHz µ-law: bytes / 8 ms): the time
   * between resolving a phrase and rtpengine opening the file, plus slack. Default 30 s.
   */
  pinMarginMs?: number;
  now?: () => number;
  logger?: Logger;
}

interface Entry {
  path: string;
  owner: string;
  /** The file and its sidecar (`<path>.json`, when there is one). */
  bytes: number;
  sidecar: boolean;
  pinnedUntil: number;
  /** Order of last use (higher is more recent). */
  seq: number;
}

/**
 * The byte budget of the node's cached audio (prompt conversions, speech, URL audio, silence and
 * tones): least recently used first, and an owner (a tenant, or the node for generated audio) over its
 * share of the budget loses its own entries before anyone else's. An entry handed out for playing is
 * pinned for the length of its audio plus a margin, so a file is not removed while a leg plays it.
 * Files live at `<dir>/<kind>/<owner>/<name>`; the owner is the folder, so `load` rebuilds the index
 * after a restart.
 */
export class AudioCache {
  /** Every entry, least recently used first (Map order: a use moves the entry to the end). */
  private readonly entries = new Map<string, Entry>();
  /** The same entries by owner, in the same order. */
  private readonly byOwner = new Map<string, Map<string, Entry>>();
  private readonly ownerBytes = new Map<string, number>();
  private total = 0;
  private readonly now: () => number;
  private overCommitLogged = false;
  private seq = 0;

  constructor(private readonly opts: AudioCacheOptions) {
    if (!(opts.maxBytes > 0)) throw new Error('the audio cache needs a budget above 0 bytes');
    if (!(opts.tenantShare > 0 && opts.tenantShare <= 1)) throw new Error('the tenant share must be in (0, 1]');
    this.now = opts.now ?? Date.now;
  }

  /** Bytes held by the cache (files and sidecars), for metrics. */
  get bytes(): number {
    return this.total;
  }

  get entryCount(): number {
    return this.entries.size;
  }

  bytesOf(owner: string): number {
    return this.ownerBytes.get(owner) ?? 0;
  }

  /** The bytes one owner may hold before its entries are the first to go. */
  get ownerShareBytes(): number {
    return this.opts.maxBytes * this.opts.tenantShare;
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** A cached file about to be played: marks it used and pins it. False when it is not in the cache. */
  use(path: string): boolean {
    const e = this.entries.get(path);
    if (!e) return false;
    this.touch(e);
    return true;
  }

  /**
   * Registers a file just written for `owner` (its size read from disk, with `<path>.json` when
   * `sidecar`), pinned as if handed out now, then evicts down to the budget.
   */
  async add(path: string, owner: string, options: { sidecar?: boolean } = {}): Promise<void> {
    const bytes = await sizeOf(path, options.sidecar ?? false);
    const existing = this.entries.get(path);
    if (existing) this.forget(existing);
    const e: Entry = { path, owner, bytes, sidecar: options.sidecar ?? false, pinnedUntil: 0, seq: 0 };
    this.insert(e);
    this.touch(e);
    await this.evict();
  }

  /** Takes an entry out of the cache and removes its files. */
  async remove(path: string): Promise<void> {
    const e = this.entries.get(path);
    if (e) this.forget(e);
    await removeFiles(path, e?.sidecar ?? true);
  }

  /**
   * Indexes what an earlier run left under `dir/<kind>/<owner>/` (oldest modification first, nothing
   * pinned), removes half-written files and anything outside that layout, then evicts to the budget.
   * Returns the paths indexed, least recently used first.
   */
  async load(dir: string, kinds: readonly string[]): Promise<string[]> {
    const found: { path: string; owner: string; bytes: number; sidecar: boolean; mtime: number }[] = [];
    for (const kind of kinds) {
      const kindDir = join(dir, kind);
      for (const owner of await readdir(kindDir, { withFileTypes: true }).catch(ifNotFound([]))) {
        const ownerDir = join(kindDir, owner.name);
        if (!owner.isDirectory()) {
          // A file of the layout before the budget (one folder per kind): not accounted, so removed.
          await rm(ownerDir, { force: true, recursive: true });
          continue;
        }
        const names = await readdir(ownerDir);
        const nameSet = new Set(names);
        for (const name of names) {
          const path = join(ownerDir, name);
          const isSidecar = name.endsWith('.json') && nameSet.has(name.slice(0, -'.json'.length));
          if (isSidecar) continue;
          if (!name.endsWith('.au') || name.startsWith('.')) {
            await rm(path, { force: true, recursive: true }); // a temporary file of a run that stopped
            continue;
          }
          const s = await stat(path);
          const sidecar = nameSet.has(`${name}.json`);
          found.push({ path, owner: owner.name, bytes: await sizeOf(path, sidecar), sidecar, mtime: s.mtimeMs });
        }
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      if (this.entries.has(f.path)) continue;
      const e = { path: f.path, owner: f.owner, bytes: f.bytes, sidecar: f.sidecar, pinnedUntil: 0, seq: 0 };
      this.insert(e);
    }
    await this.evict();
    return [...this.entries.keys()];
  }

  private touch(e: Entry): void {
    // Re-inserting moves the entry to the most recently used end of both maps.
    this.entries.delete(e.path);
    this.entries.set(e.path, e);
    const own = this.byOwner.get(e.owner);
    own?.delete(e.path);
    own?.set(e.path, e);
    e.seq = ++this.seq;
    e.pinnedUntil = this.now() + e.bytes / 8 + (this.opts.pinMarginMs ?? 30_000);
  }

  private insert(e: Entry): void {
    e.seq = ++this.seq;
    this.entries.set(e.path, e);
    let own = this.byOwner.get(e.owner);
    if (!own) {
      own = new Map();
      this.byOwner.set(e.owner, own);
    }
    own.set(e.path, e);
    this.ownerBytes.set(e.owner, this.bytesOf(e.owner) + e.bytes);
    this.total += e.bytes;
  }

  private forget(e: Entry): void {
    this.entries.delete(e.path);
    const own = this.byOwner.get(e.owner);
    own?.delete(e.path);
    if (own?.size === 0) this.byOwner.delete(e.owner);
    const left = this.bytesOf(e.owner) - e.bytes;
    if (left > 0) this.ownerBytes.set(e.owner, left);
    else this.ownerBytes.delete(e.owner);
    this.total -= e.bytes;
  }

  /**
   * Down to the budget: the least recently used unpinned entry of the owners over their share, or,
   * when none of them has one, the least recently used unpinned entry of all. Pinned entries are
   * being played: when only those are left the cache stays over budget until their pins run out.
   */
  private async evict(): Promise<void> {
    const victims: Entry[] = [];
    const now = this.now();
    while (this.total > this.opts.maxBytes) {
      const victim = this.overShareVictim(now) ?? firstUnpinned(this.entries.values(), now);
      if (!victim) {
        if (!this.overCommitLogged) {
          this.opts.logger?.warn(
            { bytes: this.total, maxBytes: this.opts.maxBytes },
            'audio cache over its budget: every entry left is being played',
          );
          this.overCommitLogged = true;
        }
        break;
      }
      this.forget(victim);
      victims.push(victim);
    }
    if (this.total <= this.opts.maxBytes) this.overCommitLogged = false;
    await Promise.all(victims.map((v) => removeFiles(v.path, v.sidecar)));
  }

  private overShareVictim(now: number): Entry | undefined {
    let best: Entry | undefined;
    for (const [owner, own] of this.byOwner) {
      if (this.bytesOf(owner) <= this.ownerShareBytes) continue;
      const candidate = firstUnpinned(own.values(), now);
      if (!candidate) continue;
      // The least recently used across the owners over their share.
      if (!best || candidate.seq < best.seq) best = candidate;
    }
    return best;
  }
}

function firstUnpinned(entries: Iterable<Entry>, now: number): Entry | undefined {
  for (const e of entries) if (e.pinnedUntil <= now) return e;
  return undefined;
}

async function sizeOf(path: string, sidecar: boolean): Promise<number> {
  const main = (await stat(path)).size;
  if (!sidecar) return main;
  const side = await stat(`${path}.json`).catch(ifNotFound(undefined));
  return main + (side?.size ?? 0);
}

async function removeFiles(path: string, sidecar: boolean): Promise<void> {
  await rm(path, { force: true });
  if (sidecar) await rm(`${path}.json`, { force: true });
}
