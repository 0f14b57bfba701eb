import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TtlCache } from '../src/data/ttl-cache.js';

test('a key is loaded once within the TTL, concurrent reads share the load, and it is read again after', async () => {
  let loads = 0;
  const cache = new TtlCache(async (k) => `${k}-${++loads}`, 50);
  assert.deepEqual(await Promise.all([cache.get('a'), cache.get('a')]), ['a-1', 'a-1']);
  assert.equal(await cache.get('a'), 'a-1');
  await new Promise((r) => setTimeout(r, 70));
  assert.equal(await cache.get('a'), 'a-2');
});

test('values `keep` refuses and failed loads are not kept; the oldest key goes past `max`', async () => {
  let loads = 0;
  const cache = new TtlCache<string | undefined>(
    async (k) => {
      loads++;
      if (k === 'boom') throw new Error('table down');
      return k === 'none' ? undefined : k;
    },
    60_000,
    2,
    (v) => v !== undefined,
  );
  assert.equal(await cache.get('none'), undefined);
  assert.equal(await cache.get('none'), undefined);
  assert.equal(loads, 2, 'a value not kept is read again');
  await assert.rejects(cache.get('boom'), /table down/);
  await assert.rejects(cache.get('boom'), /table down/);
  assert.equal(loads, 4, 'a failed load is not kept');
  await cache.get('x');
  await cache.get('y');
  await cache.get('z'); // drops x
  loads = 0;
  await cache.get('y');
  assert.equal(loads, 0);
  await cache.get('x');
  assert.equal(loads, 1);
});
