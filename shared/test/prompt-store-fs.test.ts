import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsPromptStore } from '../src/adapters/fs-prompt-store.js';

test('the folder store lists by name a page at a time and survives concurrent uploads of one name', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fs-prompts-'));
  try {
    const store = new FsPromptStore(root);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('t1', 'same', Buffer.from(`v${i}`), 'audio/wav')));
    assert.match((await store.get('t1', 'same'))!.bytes.toString(), /^v\d+$/);
    for (const n of ['b', 'a.wav', 'c']) await store.put('t1', n, Buffer.from(n), 'audio/wav');
    await store.put('t2', 'other', Buffer.from('x'), 'audio/wav');
    const first = await store.list('t1', { limit: 2 });
    assert.deepEqual(
      first.prompts.map((p) => p.name),
      ['a.wav', 'b'],
    );
    const second = await store.list('t1', { limit: 2, cursor: first.nextCursor });
    assert.deepEqual(
      second.prompts.map((p) => p.name),
      ['c', 'same'],
    );
    assert.equal(second.nextCursor, undefined);
    assert.deepEqual(await store.list('t3', { limit: 2 }), { prompts: [] });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
