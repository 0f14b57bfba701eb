import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { packageProviding } from '@sipms/shared/system-packages';
import type { MediaNodeConfig } from '../config.js';
import { DEFAULT_FFMPEG_BINARY } from '../media/audio-sources.js';
import { DEFAULT_ESPEAK_BINARY } from '../media/speech-synthesizer.js';

/** A program the media node runs: the command of system-packages.json, the binary configured for it and why. */
export interface RequiredProgram {
  command: string;
  binary: string;
  reason: string;
}

/**
 * Every program this configuration runs. None is optional: a missing one stops the start-up rather than
 * letting a feature degrade (prompts played with gaps, no speech) once calls arrive.
 */
export function requiredPrograms(
  config: Pick<MediaNodeConfig, 'RTPENGINE_MANAGED' | 'RTPENGINE_BIN' | 'TTS_ENGINE'>,
): RequiredProgram[] {
  return [
    ...(config.RTPENGINE_MANAGED === 'true'
      ? [{ command: 'rtpengine', binary: config.RTPENGINE_BIN, reason: 'RTPENGINE_MANAGED=true, RTPENGINE_BIN' }]
      : []),
    { command: 'ffmpeg', binary: DEFAULT_FFMPEG_BINARY, reason: 'converts every prompt for playing' },
    ...(config.TTS_ENGINE === 'espeak'
      ? [{ command: 'espeak-ng', binary: DEFAULT_ESPEAK_BINARY, reason: 'TTS_ENGINE=espeak' }]
      : []),
  ];
}

/** Where `binary` would be run from: a path as given, a bare name looked up on PATH as the shell does. */
export async function findExecutable(binary: string, path = process.env['PATH'] ?? ''): Promise<string | undefined> {
  const candidates = binary.includes('/')
    ? [isAbsolute(binary) ? binary : resolve(binary)]
    : path
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, binary));
  for (const file of candidates) if (await isExecutableFile(file)) return file;
  return undefined;
}

/** Not there, not a file or not executable: false. Any other failure (EIO, …) is an error worth seeing. */
async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP', 'ENAMETOOLONG'].includes(code)) return false;
    throw err;
  }
}

/** The programs that cannot be found, in the order given. */
export async function missingPrograms(
  programs: RequiredProgram[],
  path = process.env['PATH'] ?? '',
): Promise<RequiredProgram[]> {
  const found = await Promise.all(programs.map((p) => findExecutable(p.binary, path)));
  return programs.filter((_, i) => found[i] === undefined);
}

/** One start-up message naming each missing program, why it is needed and the Debian package providing it. */
export function missingProgramsMessage(missing: RequiredProgram[]): string {
  const packages = [...new Set(missing.map((p) => packageProviding(p.command) ?? p.command))];
  const each = missing
    .map((p) => `${p.binary} (${p.reason}; Debian package ${packageProviding(p.command) ?? 'unknown'})`)
    .join(', ');
  return `missing program${missing.length > 1 ? 's' : ''}: ${each}. Install with "apt-get install ${packages.join(' ')}" (npm start does this when run as root)`;
}
