import assert from 'node:assert/strict';
import type { ApiClient } from './api-client.js';

export interface UsageTotals {
  answeredCalls: number;
  callSeconds: number;
}

/** Today's usage totals of the API key's tenant. */
export async function usageTotals(api: ApiClient): Promise<UsageTotals> {
  const day = new Date().toISOString().slice(0, 10);
  const res = await api.call('GET', `/v1/usage?from=${day}&to=${day}`);
  assert.equal(res.status, 200);
  return res.json.totals as UsageTotals;
}

/**
 * Usage grew by `answered` calls, by no more call seconds than the sessions lasted, and by at least
 * `minSecondsEach` per call (what the test knows each call was answered for). Nodes write usage once a
 * second, so this waits (bounded) for it.
 */
export async function assertUsageGrew(
  api: ApiClient,
  before: UsageTotals,
  answered: number,
  sessionSeconds: number[],
  minSecondsEach: number,
): Promise<void> {
  const total = sessionSeconds.reduce((s, n) => s + n, 0);
  const deadline = Date.now() + 10_000;
  let now = await usageTotals(api);
  while (now.answeredCalls < before.answeredCalls + answered && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    now = await usageTotals(api);
  }
  assert.equal(now.answeredCalls - before.answeredCalls, answered, 'answered calls in usage');
  const seconds = now.callSeconds - before.callSeconds;
  assert.ok(seconds <= total + answered, `call seconds ${seconds} > the sessions' ${total}`);
  assert.ok(seconds >= answered * minSecondsEach, `call seconds ${seconds} < ${answered} × ${minSecondsEach}`);
}
