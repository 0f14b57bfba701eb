import { enc } from '../api.js';
import type { Page } from '../context.js';
import { field, h } from '../dom.js';

/** Claim, list and release numbers. */
export const numbersPage: Page = async (ctx) => {
  const body = h('tbody');
  const load = async (): Promise<void> => {
    const { numbers } = await ctx.api.get<{ numbers: { number: string; claimedAt: string }[] }>('/v1/numbers');
    body.replaceChildren(
      ...(numbers.length === 0 ? [h('tr', {}, h('td', { colspan: 3 }, 'No numbers yet.'))] : []),
      ...numbers.map((n) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, n.number)),
          h('td', {}, n.claimedAt),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Release ${n.number}`,
                onclick: async () => {
                  const ok = await ctx.status.run(
                    () => ctx.api.request('DELETE', `/v1/numbers/${enc(n.number)}`),
                    () => `${n.number} released.`,
                  );
                  if (ok) await load();
                },
              },
              'Release',
            ),
          ),
        ),
      ),
    );
  };
  await load();
  const num = field(
    'Number',
    { name: 'number', required: true, maxlength: 64 },
    'E.164 (+4930123456) or a SIP user part.',
  );
  const claim = h(
    'form',
    {
      'aria-labelledby': 'claim-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const n = num.input.value.trim();
        const ok = await ctx.status.run(
          () => ctx.api.request('PUT', `/v1/numbers/${enc(n)}`),
          () => `${n} is yours.`,
        );
        if (ok) {
          num.input.value = '';
          await load();
        }
      },
    },
    h('h2', { id: 'claim-h' }, 'Claim a number'),
    num.wrap,
    h('button', { type: 'submit' }, 'Claim number'),
  );
  return h(
    'section',
    {},
    h('h1', {}, 'Numbers'),
    claim,
    h('h2', {}, 'Your numbers'),
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Numbers claimed by this tenant'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Number', 'Claimed', 'Action'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      body,
    ),
  );
};
