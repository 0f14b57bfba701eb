/**
 * Reads kept for a few seconds, for hot paths that read the same item for every event: the dispatcher
 * (the tenant's callback URLs, timeouts and secrets, for every callback) and the media node (the tenant an
 * INVITE is for). A change applies within `ttlMs`. Concurrent reads of one key share one load; a failed
 * load is not kept (its callers get the error); at most `max` keys, the oldest dropped first.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();

  constructor(
    private readonly load: (key: string) => Promise<V>,
    private readonly ttlMs = 2000,
    private readonly max = 1000,
    /** Which loaded values are kept (e.g. only found items, so a new one is seen at once). */
    private readonly keep: (value: V) => boolean = () => true,
  ) {}

  get(key: string): Promise<V> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    const entry = { at: now, value: this.load(key) };
    const forget = () => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    };
    entry.value = entry.value.then(
      (v) => {
        if (!this.keep(v)) forget();
        return v;
      },
      (err: unknown) => {
        forget(); // not kept: the next read tries again
        throw err;
      },
    );
    this.entries.set(key, entry);
    return entry.value;
  }
}
