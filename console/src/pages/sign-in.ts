import type { SignupResponse as Signup } from '../../../sdk/src/generated/wire.js';
import { Api } from '../api.js';
import type { Page } from '../context.js';
import { field, h } from '../dom.js';

/** Sign up (the key and signing secret are shown once, here) or sign in with an existing API key. */
export const signInPage: Page = async (ctx) => {
  const name = field('Tenant name', {
    name: 'tenantName',
    required: true,
    maxlength: 64,
    autocomplete: 'organization',
  });
  const callback = field(
    'Callback URL (optional)',
    { name: 'signupCallbackUrl', type: 'url', autocomplete: 'url' },
    'Where the service sends newCall, getIvrCommand, … You can set it later.',
  );
  const invitation = field('Invitation code (if the operator requires one)', { name: 'invitationCode' });
  const shown = h('div', { class: 'once' });
  const signup = h(
    'form',
    {
      'aria-labelledby': 'signup-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const body: Record<string, string> = { name: name.input.value.trim() };
        if (callback.input.value.trim()) body.callbackUrl = callback.input.value.trim();
        if (invitation.input.value.trim()) body.invitationCode = invitation.input.value.trim();
        const made = await ctx.status.run(() => ctx.api.request<Signup>('POST', '/v1/tenants', body));
        if (!made) return;
        ctx.status.say(`Tenant created: ${made.domain}. Copy the API key and signing secret now.`);
        const go = h(
          'button',
          { type: 'button', onclick: () => ctx.signIn({ apiKey: made.apiKey, domain: made.domain }) },
          'I have saved them: continue',
        );
        shown.replaceChildren(
          h('h3', {}, 'Shown only this once'),
          h(
            'dl',
            {},
            h('dt', {}, 'Tenant id'),
            h('dd', {}, h('code', {}, made.tenantId)),
            h('dt', {}, 'SIP domain'),
            h('dd', {}, h('code', {}, made.domain)),
            h('dt', {}, 'API key'),
            h('dd', {}, h('code', { 'data-secret': 'apiKey' }, made.apiKey)),
            h('dt', {}, 'Signing secret'),
            h('dd', {}, h('code', { 'data-secret': 'signingSecret' }, made.signingSecret)),
          ),
          go,
        );
        go.focus();
      },
    },
    h('h2', { id: 'signup-h' }, 'Sign up'),
    name.wrap,
    callback.wrap,
    invitation.wrap,
    h('button', { type: 'submit' }, 'Create tenant'),
    shown,
  );

  const key = field('API key', { name: 'apiKey', type: 'password', required: true, autocomplete: 'current-password' });
  const signin = h(
    'form',
    {
      'aria-labelledby': 'signin-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const apiKey = key.input.value.trim();
        // Asked with the key given, before it is kept: a wrong key is never stored.
        const probe = new Api(ctx.api.baseUrl, () => apiKey);
        const tenant = await ctx.status.run(() => probe.get<{ domain: string }>('/v1/tenant'));
        if (tenant) ctx.signIn({ apiKey, domain: tenant.domain });
      },
    },
    h('h2', { id: 'signin-h' }, 'Sign in with an API key'),
    h('p', {}, 'The key is kept for this browser tab only (sessionStorage), never in the address bar.'),
    key.wrap,
    h('button', { type: 'submit' }, 'Sign in'),
  );

  return h('section', {}, h('h1', {}, 'SIP Mediaserver console'), h('div', { class: 'two' }, signup, signin));
};
