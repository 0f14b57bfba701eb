import { enc } from '../api.js';
import type { Page } from '../context.js';
import { h } from '../dom.js';
import { LANES, type LadderRow, ladderRows } from '../ladder.js';
import { parties, type SessionDetail } from '../sessions.js';

/**
 * One call's journal as a ladder: four lanes, one row per message (an HTML grid, so every row is a
 * native <details> a keyboard can open to show the entry's raw JSON).
 */
export const callPage: Page = async (ctx) => {
  const id = ctx.param!;
  const session = await ctx.api.get<SessionDetail>(`/v1/sessions/${enc(id)}`);
  const rows = ladderRows(session.journal);
  const header = h(
    'div',
    { class: 'ladder-head', 'aria-hidden': 'true' },
    h('span', {}, 'Time'),
    LANES.map((l) => h('span', {}, l)),
  );
  const list = h(
    'ol',
    { class: 'ladder', 'aria-label': `Ladder of session ${id}: ${rows.length} messages` },
    rows.map((r, i) => h('li', {}, ladderRow(r, i))),
  );
  return h(
    'section',
    {},
    h('h1', {}, `Call ${id}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'State'),
      h('dd', {}, session.state),
      h('dt', {}, 'Created'),
      h('dd', {}, session.createdAt),
      h('dt', {}, 'Ended'),
      h('dd', {}, session.endedAt ? `${session.endedAt} (${session.endReason ?? ''})` : 'not yet'),
      h('dt', {}, 'Parties'),
      h('dd', {}, parties(session)),
    ),
    h('p', {}, h('a', { href: '#/calls' }, 'Back to calls')),
    h('h2', {}, 'Journal'),
    h('p', { class: 'hint' }, 'Open a row (Enter or Space) for the raw journal entry.'),
    header,
    list,
  );
};

function ladderRow(r: LadderRow, i: number): HTMLElement {
  const lo = Math.min(r.from, r.to);
  const hi = Math.max(r.from, r.to);
  const dir = r.from === r.to ? 'self' : r.from < r.to ? 'right' : 'left';
  const said = r.from === r.to ? `at ${LANES[r.from]}` : `${LANES[r.from]} to ${LANES[r.to]}`;
  return h(
    'details',
    { class: `ladder-row k-${r.kind}${r.error ? ' error' : ''}`, 'data-row': i, 'data-kind': r.kind },
    h(
      'summary',
      {},
      h('span', { class: 'ladder-t' }, `${(r.offsetMs / 1000).toFixed(3)} s`),
      LANES.map((_, lane) => h('span', { class: 'lane', 'data-lane': lane, 'aria-hidden': 'true' })),
      h(
        'span',
        { class: `arrow ${dir}`, 'data-from': r.from, 'data-to': r.to, 'data-span': `${lo}-${hi}` },
        h('span', { class: 'sr-only' }, `${said}: `),
        h('span', { class: 'arrow-label' }, r.label),
      ),
    ),
    h(
      'pre',
      { class: 'raw', tabindex: 0, 'aria-label': `Raw journal entry ${i + 1}` },
      JSON.stringify(r.entry, null, 2),
    ),
  );
}
