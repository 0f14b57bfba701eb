import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newCallStages, readStageSpans } from '../../bench/newcall-stages.js';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 8, 0, 0) + ms).toISOString();
const T0 = Date.UTC(2026, 11, 3, 8, 0, 0);

/** One call's spans as the exporters write them (json-lines-span-exporter.ts), on two processes' files. */
function call(traceId: string, inviteMs: number) {
  return {
    media: [
      { name: 'session', traceId, start: at(inviteMs), durationMs: 2100 },
      // published 30 ms after the INVITE, its reply read 95 ms later
      { name: 'callback newCall', traceId, start: at(inviteMs + 30), durationMs: 95 },
      { name: 'callback getIvrCommand', traceId, start: at(inviteMs + 140), durationMs: 20 },
    ],
    control: [
      // the dispatcher starts 10 ms after the publish, stores the outcome 60 ms later
      { name: 'webhook newCall', traceId, start: at(inviteMs + 40), durationMs: 60 },
      { name: 'webhook getIvrCommand', traceId, start: at(inviteMs + 150), durationMs: 5 },
    ],
  };
}

test('newCall stages from the trace files: setup, bus, webhook, reply-read per call in the window', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stages-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = call('a'.repeat(32), 0);
  const b = call('b'.repeat(32), 500);
  const late = call('c'.repeat(32), 5000); // after the window
  const lines = (spans: object[]) => spans.map((s) => JSON.stringify(s)).join('\n');
  await writeFile(join(dir, 'media-node-1.jsonl'), `${lines([...a.media, ...late.media])}\n`);
  // The rotated file is read too; a partial last line (a batch being written) is left out.
  await writeFile(join(dir, 'media-node-1.jsonl.1'), `${lines(b.media)}\n{"name":"session","tra`);
  await writeFile(join(dir, 'control-plane.jsonl'), `${lines([...a.control, ...b.control, ...late.control])}\n`);
  await writeFile(join(dir, 'other.txt'), 'not spans');

  const files = ['media-node-1.jsonl', 'media-node-1.jsonl.1', 'control-plane.jsonl', 'other.txt'];
  const stages = newCallStages(await readStageSpans(dir, files), T0, T0 + 1000);
  assert.deepEqual(stages, { setup: [30, 30], bus: [10, 10], webhook: [60, 60], 'reply-read': [25, 25] });
});

test('a call without its dispatcher span counts in no stage', () => {
  const a = call('a'.repeat(32), 0);
  assert.deepEqual(newCallStages(a.media, T0, T0 + 1000), { setup: [], bus: [], webhook: [], 'reply-read': [] });
});
