/** Small timing helpers for tests that run call flows on real (short) timers. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets every queued microtask and I/O callback run (a few turns of the event loop). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves with the predicate's first truthy value; rejects after `timeoutMs` naming `what`, so a test
 * that waits for something that never happens fails with a readable message instead of hanging.
 */
export async function waitFor<T>(
  predicate: () => T | undefined | null | false,
  what = 'condition',
  timeoutMs = 2000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A promise with its resolve function outside, for tests that release a step on cue. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
