/** True for the error a file-system call gives when the path (or one of its directories) does not exist. */
export function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * A rejection handler for a file-system call whose target may legitimately be absent: `fallback` when the path
 * does not exist, any other error (permissions, I/O) rejects as before. `readdir(dir).catch(ifNotFound([]))`.
 */
export function ifNotFound<T>(fallback: T): (err: unknown) => T {
  return (err) => {
    if (isNotFound(err)) return fallback;
    throw err;
  };
}
