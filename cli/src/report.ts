/** The result of a call as text for a terminal or a CI log. */

import { formatMs } from './durations.js';
import type { CallResult, TimelineEntry } from './types.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function formatResult(r: CallResult): string {
  const lines = [`sipms call ${r.requestUri} (${r.transport} via ${r.server})`];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(9)} ${text}`);
  row('Call-ID', r.sipCallId || '(none: nothing was sent)');
  if (r.answered) {
    row('outcome', `200 OK, answered at ${r.answeredAt} (setup ${formatMs(r.setupMs ?? 0)})`);
    row('ended', `by ${r.endedBy} after ${seconds(r.durationMs)}: ${r.reason}`);
  } else {
    const status = r.endedBy === 'remote' ? r.reason : `${r.sipStatus} (${r.reason})`;
    row('outcome', `${status}: not answered`);
  }
  if (r.dtmfSent.length > 0) {
    row('sent', `DTMF ${r.dtmfSent.map((d) => `${d.digit} at ${seconds(d.atMs)}`).join(', ')}`);
  }
  if (r.heard) {
    const file = r.recordedWav ? ` → ${r.recordedWav}` : '';
    row(
      'heard',
      `${seconds(r.heard.seconds * 1000)} (${seconds(r.heard.audibleSeconds * 1000)} audible), RMS ${r.heard.rmsDbfs} dBFS${file}`,
    );
  }
  for (const w of r.warnings) row('warning', w);
  if (r.journalError !== undefined) row('journal', `not read: ${r.journalError}`);
  if (r.timeline) {
    lines.push('', `Journal of session ${r.sessionId} (${r.timeline.length} entries, times from its start)`);
    for (const e of r.timeline) lines.push(formatEntry(e));
  }
  return `${lines.join('\n')}\n`;
}

/** `  +1.234 s  getIvrCommand            200    12 ms  1 attempt   digits=123 command=hangup` */
export function formatEntry(e: TimelineEntry): string {
  const offset = `+${(e.offsetMs / 1000).toFixed(3)} s`.padStart(10);
  const fields = Object.entries(e.fields)
    .map(([k, v]) => `${k}=${/\s/.test(v) || v === '' ? JSON.stringify(v) : v}`)
    .join(' ');
  // Callbacks in columns (name, status, latency, attempts); other entries name their kind in the first two.
  if (e.kind !== 'callback') return `${offset}  ${`${e.kind} ${e.name}`.padEnd(51)} ${fields}`.trimEnd();
  const status = String(e.status ?? '').padStart(8);
  const latency = e.latencyMs === undefined ? '' : `${e.latencyMs} ms`;
  const attempts = e.attempts === undefined ? '' : `${e.attempts} attempt${e.attempts === 1 ? '' : 's'}`;
  return `${offset}  ${e.name.padEnd(20)} ${status} ${latency.padStart(8)}  ${attempts.padEnd(10)}  ${fields}`.trimEnd();
}
