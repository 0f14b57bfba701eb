import type { ApiKey, Tenant } from '../../../sdk/src/generated/wire.js';
import { enc } from '../api.js';
import type { Page } from '../context.js';
import { field, h } from '../dom.js';

/** Callback settings, signing-secret rotation and API keys. */
export const settingsPage: Page = async (ctx) => {
  const tenant = await ctx.api.get<Tenant>('/v1/tenant');
  const cb = field(
    'Callback URL',
    { name: 'callbackUrl', type: 'url', value: tenant.callbackUrl ?? '' },
    'Empty clears it.',
  );
  const fb = field(
    'Fallback URL',
    { name: 'fallbackUrl', type: 'url', value: tenant.fallbackUrl ?? '' },
    'Tried once after the retries failed. Empty clears it.',
  );
  const timeout = field('Callback timeout (ms)', {
    name: 'callbackTimeoutMs',
    type: 'number',
    min: 100,
    max: 15000,
    required: true,
    value: tenant.callbackTimeoutMs,
  });
  const retries = field('Callback retries', {
    name: 'callbackRetries',
    type: 'number',
    min: 0,
    max: 5,
    required: true,
    value: tenant.callbackRetries,
  });
  const maxDur = field('Maximum call duration (s)', {
    name: 'maxCallDurationSec',
    type: 'number',
    min: 10,
    max: 86400,
    required: true,
    value: tenant.maxCallDurationSec,
  });
  const settings = h(
    'form',
    {
      'aria-labelledby': 'cb-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const patch = {
          callbackUrl: cb.input.value.trim() || null,
          fallbackUrl: fb.input.value.trim() || null,
          callbackTimeoutMs: Number(timeout.input.value),
          callbackRetries: Number(retries.input.value),
          maxCallDurationSec: Number(maxDur.input.value),
        };
        await ctx.status.run(
          () => ctx.api.request<Tenant>('PATCH', '/v1/tenant', patch),
          () => 'Settings saved.',
        );
      },
    },
    h('h2', { id: 'cb-h' }, 'Callbacks'),
    cb.wrap,
    fb.wrap,
    timeout.wrap,
    retries.wrap,
    maxDur.wrap,
    h('button', { type: 'submit' }, 'Save settings'),
  );

  const secretOut = h('div', { class: 'once' });
  const rotate = h(
    'section',
    { 'aria-labelledby': 'sec-h' },
    h('h2', { id: 'sec-h' }, 'Signing secret'),
    h('p', {}, 'A new secret is shown once; the previous one stays valid for 24 hours.'),
    h(
      'button',
      {
        type: 'button',
        onclick: async () => {
          const r = await ctx.status.run(
            () =>
              ctx.api.request<{ signingSecret: string; previousSecretExpiresAt: string | null }>(
                'POST',
                '/v1/tenant/signing-secrets',
              ),
            () => 'New signing secret created.',
          );
          if (r) {
            secretOut.replaceChildren(
              h(
                'p',
                {},
                'New signing secret (shown only now): ',
                h('code', { 'data-secret': 'signingSecret' }, r.signingSecret),
              ),
              r.previousSecretExpiresAt
                ? h('p', {}, `The previous secret expires at ${r.previousSecretExpiresAt}.`)
                : '',
            );
          }
        },
      },
      'Rotate signing secret',
    ),
    secretOut,
  );

  const keysBody = h('tbody');
  const keyOut = h('div', { class: 'once' });
  const loadKeys = async (): Promise<void> => {
    const { apiKeys } = await ctx.api.get<{ apiKeys: ApiKey[] }>('/v1/api-keys');
    keysBody.replaceChildren(
      ...apiKeys.map((k) =>
        h(
          'tr',
          {},
          h('td', {}, k.name),
          h('td', {}, h('code', {}, k.prefix)),
          h('td', {}, k.createdAt),
          h('td', {}, k.lastUsedAt ?? 'never'),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Revoke key ${k.name} (${k.prefix})`,
                onclick: async () => {
                  const ok = await ctx.status.run(
                    () => ctx.api.request('DELETE', `/v1/api-keys/${enc(k.keyId)}`),
                    () => `Key ${k.name} revoked.`,
                  );
                  if (ok) {
                    keyOut.replaceChildren();
                    await loadKeys();
                  }
                },
              },
              'Revoke',
            ),
          ),
        ),
      ),
    );
  };
  await loadKeys();
  const keyName = field('New key name', { name: 'keyName', required: true, maxlength: 64 });
  const keys = h(
    'section',
    { 'aria-labelledby': 'keys-h' },
    h('h2', { id: 'keys-h' }, 'API keys'),
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'API keys of this tenant'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Prefix', 'Created', 'Last used', 'Action'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      keysBody,
    ),
    h(
      'form',
      {
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const made = await ctx.status.run(
            () =>
              ctx.api.request<ApiKey & { apiKey: string }>('POST', '/v1/api-keys', {
                name: keyName.input.value.trim(),
              }),
            (k) => `Key ${k.name} created.`,
          );
          if (made) {
            keyOut.replaceChildren(
              h('p', {}, 'New API key (shown only now): ', h('code', { 'data-secret': 'apiKey' }, made.apiKey)),
            );
            keyName.input.value = '';
            await loadKeys();
          }
        },
      },
      keyName.wrap,
      h('button', { type: 'submit' }, 'Create API key'),
    ),
    keyOut,
  );

  return h(
    'section',
    {},
    h('h1', {}, 'Settings'),
    h('p', {}, 'Tenant ', h('strong', {}, tenant.name), ', SIP domain ', h('code', {}, tenant.domain)),
    settings,
    rotate,
    keys,
  );
};
