import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where an inbound call's time before its newCall reply goes, read from the spans the stack writes anyway
 * (docs/operations.md, "Traces": `npm start` writes `<DATA_DIR>/traces/<process>.jsonl`). Per call, from its
 * `session` span (the INVITE), its `callback newCall` span (media node: published → reply read) and the
 * dispatcher's `webhook newCall` span (claim → POSTs → outcome stored):
 *
 * - `setup`: INVITE → newCall published (admission, the session write, the media offer)
 * - `bus`: published → the dispatcher starts on it (PutEvents, the bus, the dispatcher's own queue)
 * - `webhook`: the dispatcher's delivery (claim, the POST and the tenant's answer, the outcome write)
 * - `reply-read`: outcome stored → the node has read it (its reply polls)
 *
 * The media node's answer after the reply (rtpengine's answer, the 200) has no span: SIPp's INVITE → 200 less
 * these four is that part. Spans of one machine share its clock; starts are whole milliseconds.
 */
export const NEWCALL_STAGES = ['setup', 'bus', 'webhook', 'reply-read'] as const;
export type NewCallStage = (typeof NEWCALL_STAGES)[number];

interface SpanLine {
  name: string;
  traceId: string;
  start: string;
  durationMs: number;
}

interface CallSpans {
  session?: number;
  callback?: { start: number; end: number };
  webhook?: { start: number; end: number };
}

/** Each stage's durations (ms, ascending) for the calls whose INVITE came in [fromMs, toMs]. */
export function newCallStages(spans: Iterable<SpanLine>, fromMs: number, toMs: number): Record<NewCallStage, number[]> {
  const calls = new Map<string, CallSpans>();
  for (const s of spans) {
    const start = Date.parse(s.start);
    const c = calls.get(s.traceId) ?? {};
    if (s.name === 'session') c.session = start;
    else if (s.name === 'callback newCall') c.callback = { start, end: start + s.durationMs };
    else if (s.name === 'webhook newCall') c.webhook = { start, end: start + s.durationMs };
    else continue;
    calls.set(s.traceId, c);
  }
  const out = Object.fromEntries(NEWCALL_STAGES.map((k) => [k, [] as number[]])) as Record<NewCallStage, number[]>;
  for (const c of calls.values()) {
    if (c.session === undefined || !c.callback || !c.webhook) continue;
    if (c.session < fromMs || c.session > toMs) continue;
    out.setup.push(c.callback.start - c.session);
    out.bus.push(c.webhook.start - c.callback.start);
    out.webhook.push(c.webhook.end - c.webhook.start);
    out['reply-read'].push(c.callback.end - c.webhook.end);
  }
  for (const k of NEWCALL_STAGES) out[k].sort((a, b) => a - b);
  return out;
}

/** The spans of the stack's trace files in `dir` (every `*.jsonl`, with the rotated `*.jsonl.1`) that name a stage. */
export async function readStageSpans(dir: string, files: readonly string[]): Promise<SpanLine[]> {
  const spans: SpanLine[] = [];
  for (const f of files) {
    if (!/\.jsonl(\.1)?$/.test(f)) continue;
    const text = await readFile(join(dir, f), 'utf8');
    // A batch the exporter is writing right now may end in a partial line: only whole lines count.
    for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
      // Most lines are other spans: test the name before parsing.
      if (!line.includes('"name":"session"') && !line.includes(' newCall"')) continue;
      spans.push(JSON.parse(line) as SpanLine);
    }
  }
  return spans;
}
