import { enc } from '../api.js';
import type { Page } from '../context.js';
import { field, h } from '../dom.js';
import { parties, type SessionSummary } from '../sessions.js';

/** `datetime-local` values are local times; the API wants ISO 8601. */
const toIso = (v: string): string | undefined => (v ? new Date(v).toISOString() : undefined);

/** Sessions with the API's filters, page by page (cursors kept so "Previous" works too). */
export const callsPage: Page = async (ctx) => {
  const from = field('Created from', { name: 'from', type: 'datetime-local' });
  const to = field('Created before', { name: 'to', type: 'datetime-local' });
  const number = field('Number', { name: 'number', maxlength: 64 }, 'Matches the caller or called user part.');
  const callId = field('SIP Call-ID', { name: 'sipCallId', maxlength: 256 });
  const limit = field('Per page', { name: 'limit', type: 'number', min: 1, max: 200, value: 20 });
  const body = h('tbody');
  const pager = h('div', { class: 'pager' });
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;

  const load = async (): Promise<void> => {
    const q = new URLSearchParams();
    const f = toIso(from.input.value);
    const t = toIso(to.input.value);
    if (f) q.set('from', f);
    if (t) q.set('to', t);
    if (number.input.value.trim()) q.set('number', number.input.value.trim());
    if (callId.input.value.trim()) q.set('sipCallId', callId.input.value.trim());
    q.set('limit', limit.input.value || '20');
    const cursor = cursors[page];
    if (cursor) q.set('cursor', cursor);
    const r = await ctx.status.run(
      () => ctx.api.get<{ sessions: SessionSummary[]; nextCursor?: string }>(`/v1/sessions?${q}`),
      (v) => `Page ${page + 1}: ${v.sessions.length} call(s).`,
    );
    if (!r) return;
    cursors[page + 1] = r.nextCursor;
    body.replaceChildren(
      ...(r.sessions.length === 0 ? [h('tr', {}, h('td', { colspan: 5 }, 'No calls on this page.'))] : []),
      ...r.sessions.map((s) =>
        h(
          'tr',
          {},
          h('td', {}, h('a', { href: `#/calls/${enc(s.sessionId)}` }, s.sessionId)),
          h('td', {}, s.createdAt),
          h('td', {}, s.state),
          h('td', {}, s.endReason ?? ''),
          h('td', {}, parties(s)),
        ),
      ),
    );
    pager.replaceChildren(
      h(
        'button',
        {
          type: 'button',
          disabled: page === 0,
          onclick: async () => {
            page -= 1;
            await load();
          },
        },
        'Previous page',
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: !r.nextCursor,
          onclick: async () => {
            page += 1;
            await load();
          },
        },
        'Next page',
      ),
    );
  };
  const filters = h(
    'form',
    {
      class: 'inline',
      'aria-labelledby': 'filters-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        page = 0;
        cursors.length = 1;
        await load();
      },
    },
    h('h2', { id: 'filters-h', class: 'sr-only' }, 'Filters'),
    from.wrap,
    to.wrap,
    number.wrap,
    callId.wrap,
    limit.wrap,
    h('button', { type: 'submit' }, 'Search calls'),
  );
  await load();
  return h(
    'section',
    {},
    h('h1', {}, 'Calls'),
    filters,
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Calls, newest first'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Session', 'Created', 'State', 'End reason', 'Parties'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      body,
    ),
    pager,
  );
};
