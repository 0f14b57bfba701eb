import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createLogger } from '@sipms/shared/util/logger';
import { loadMediaNodeConfig } from '../src/config.js';
import { StartupError, startMediaNode } from '../src/media-node.js';
import {
  findExecutable,
  missingPrograms,
  missingProgramsMessage,
  requiredPrograms,
} from '../src/node/required-programs.js';

const scratch = mkdtempSync(join(tmpdir(), 'required-programs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A directory holding stand-ins for `names` (executable shell scripts), for use as PATH. */
function binDir(name: string, names: string[]): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\n');
    chmodSync(join(dir, n), 0o755);
  }
  return dir;
}

const BASE_ENV = { TABLE_NAME: 'sipms', PROMPT_STORE: 'dir:/tmp/p', CACHE_DIR: '/tmp/c', RUN_DIR: '/tmp/r' };

describe('the programs a configuration runs', () => {
  test('managed rtpengine, ffmpeg always, espeak-ng with TTS_ENGINE=espeak', () => {
    const commands = (env: Record<string, string>) =>
      requiredPrograms(loadMediaNodeConfig({ ...BASE_ENV, ...env })).map((p) => `${p.command}=${p.binary}`);
    assert.deepEqual(commands({}), ['rtpengine=rtpengine', 'ffmpeg=ffmpeg', 'espeak-ng=espeak-ng']);
    assert.deepEqual(commands({ RTPENGINE_MANAGED: 'false', TTS_ENGINE: 'polly' }), ['ffmpeg=ffmpeg']);
    assert.deepEqual(commands({ RTPENGINE_BIN: '/opt/rtpengine/bin/rtpengine', TTS_ENGINE: 'polly' }), [
      'rtpengine=/opt/rtpengine/bin/rtpengine',
      'ffmpeg=ffmpeg',
    ]);
  });

  test('found on PATH only when an executable file is there', async () => {
    const empty = binDir('empty', []);
    const full = binDir('full', ['rtpengine', 'ffmpeg', 'espeak-ng']);
    writeFileSync(join(empty, 'ffmpeg'), 'not executable');
    chmodSync(join(empty, 'ffmpeg'), 0o644);
    assert.equal(await findExecutable('ffmpeg', empty), undefined);
    assert.equal(await findExecutable('ffmpeg', `${empty}:${full}`), join(full, 'ffmpeg'));
    assert.equal(await findExecutable(join(full, 'rtpengine'), empty), join(full, 'rtpengine'), 'a path as given');
    assert.equal(await findExecutable(join(empty, 'rtpengine'), full), undefined);
    assert.equal(await findExecutable('full', scratch), undefined, 'a directory is not a program');
  });

  test('each missing program is named with the Debian package that provides it', async () => {
    const config = loadMediaNodeConfig(BASE_ENV);
    const onlyRtpengine = binDir('only-rtpengine', ['rtpengine']);
    const missing = await missingPrograms(requiredPrograms(config), onlyRtpengine);
    assert.deepEqual(
      missing.map((p) => p.command),
      ['ffmpeg', 'espeak-ng'],
    );
    const message = missingProgramsMessage(missing);
    assert.match(message, /ffmpeg \(.*Debian package ffmpeg\)/);
    assert.match(message, /espeak-ng \(TTS_ENGINE=espeak; Debian package espeak-ng\)/);
    assert.match(message, /apt-get install ffmpeg espeak-ng/);
    assert.deepEqual(
      await missingPrograms(requiredPrograms(config), binDir('all', ['rtpengine', 'ffmpeg', 'espeak-ng'])),
      [],
    );
  });
});

test('the media node does not start without them: a StartupError names each program and package', async () => {
  const config = loadMediaNodeConfig({ ...BASE_ENV, CACHE_DIR: join(scratch, 'cache'), RUN_DIR: join(scratch, 'run') });
  const path = process.env['PATH'];
  process.env['PATH'] = binDir('nothing', []);
  try {
    await assert.rejects(startMediaNode(config, createLogger({ test: 'required-programs' }, 'silent')), (err) => {
      assert.ok(err instanceof StartupError, String(err));
      assert.match(err.message, /rtpengine \(.*Debian package rtpengine-daemon\)/);
      assert.match(err.message, /ffmpeg \(.*Debian package ffmpeg\)/);
      assert.match(err.message, /espeak-ng \(.*Debian package espeak-ng\)/);
      assert.match(err.message, /apt-get install rtpengine-daemon ffmpeg espeak-ng/);
      return true;
    });
  } finally {
    process.env['PATH'] = path;
  }
});
