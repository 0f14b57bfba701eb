import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { loadMediaNodeConfig } from '../src/config.js';
import { type RtpEngineProcessOptions, rtpengineArgs } from '../src/media/rtpengine-process.js';

const env = {
  TABLE_NAME: 'sipms',
  PROMPT_STORE: 'dir:/tmp/t-prompts',
  CACHE_DIR: '/tmp/t-cache',
  RUN_DIR: '/tmp/t-run',
};

const options: RtpEngineProcessOptions = {
  binary: 'rtpengine',
  interface: '127.0.0.1',
  ngHost: '127.0.0.1',
  ngPort: 22222,
  portMin: 40000,
  portMax: 40099,
  dtmfLogDest: { host: '127.0.0.1', port: 22299 },
  runDir: '/tmp/t-run',
};

describe("RTPENGINE_THREADS: a managed rtpengine's worker threads", () => {
  test('default: the cores the node leaves (cores − 1, at least 1); a set value is kept; 0 or text stops start-up naming it', () => {
    assert.equal(loadMediaNodeConfig(env).RTPENGINE_THREADS, Math.max(1, availableParallelism() - 1));
    assert.equal(loadMediaNodeConfig({ ...env, RTPENGINE_THREADS: '3' }).RTPENGINE_THREADS, 3);
    assert.throws(() => loadMediaNodeConfig({ ...env, RTPENGINE_THREADS: '0' }), /RTPENGINE_THREADS/);
    assert.throws(() => loadMediaNodeConfig({ ...env, RTPENGINE_THREADS: 'many' }), /RTPENGINE_THREADS/);
  });

  test("reach rtpengine's command line; without a value rtpengine keeps its own default", () => {
    assert.ok(rtpengineArgs({ ...options, threads: 2 }).includes('--num-threads=2'));
    assert.ok(!rtpengineArgs(options).some((a) => a.startsWith('--num-threads')));
  });
});
