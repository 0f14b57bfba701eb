/** The remote audio's level as tests and people read it: RMS of one analyser frame in dBFS. Pure. */

/** What digital silence reads as (log10(0) has no value): below anything a real signal gives. */
export const SILENCE_DBFS = -100;

/** RMS of samples in [-1, 1] as dBFS (a full-scale sine reads -3.0), floored at SILENCE_DBFS. */
export function rmsDbfs(samples: ArrayLike<number>): number {
  if (samples.length === 0) return SILENCE_DBFS;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    sum += s * s;
  }
  const rms = Math.sqrt(sum / samples.length);
  if (rms === 0) return SILENCE_DBFS;
  return Math.max(SILENCE_DBFS, 20 * Math.log10(rms));
}

/** One decimal, and "silence" spelled out for the floor. */
export function formatLevel(dbfs: number): string {
  return dbfs <= SILENCE_DBFS ? `silence (≤ ${SILENCE_DBFS} dBFS)` : `${dbfs.toFixed(1)} dBFS`;
}
