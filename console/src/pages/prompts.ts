import type { PromptFileInfo as Prompt } from '../../../sdk/src/generated/wire.js';
import { enc } from '../api.js';
import type { Page } from '../context.js';
import { h, uid } from '../dom.js';

/** Larger files go by upload URL, as the API asks (docs/api.md, large prompt files). */
const INLINE_MAX_BYTES = 4_000_000;

/** Upload (WAV or MP3), play in the page through the download URL, delete. */
export const promptsPage: Page = async (ctx) => {
  const base = `/mediaservice/${enc(ctx.creds!.domain)}/promptfile`;
  const body = h('tbody');
  const player = h('audio', { controls: true, preload: 'none', 'aria-label': 'Prompt player' });
  const nowPlaying = h('p', { 'aria-live': 'polite' });

  const load = async (): Promise<void> => {
    const prompts: Prompt[] = [];
    let cursor: string | undefined;
    do {
      const page = await ctx.api.get<{ prompts: Prompt[]; nextCursor?: string }>(
        `${base}?limit=1000${cursor ? `&cursor=${enc(cursor)}` : ''}`,
      );
      prompts.push(...page.prompts);
      cursor = page.nextCursor;
    } while (cursor);
    body.replaceChildren(
      ...(prompts.length === 0 ? [h('tr', {}, h('td', { colspan: 4 }, 'No prompts yet.'))] : []),
      ...prompts.map((p) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, p.name)),
          h('td', {}, `${p.size.toLocaleString('en')} bytes`),
          h('td', {}, p.updatedAt),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                'aria-label': `Play ${p.name}`,
                onclick: async () => {
                  const link = await ctx.status.run(() =>
                    ctx.api.get<{ url: string }>(`${base}/${enc(p.name)}/download-url`),
                  );
                  if (!link) return;
                  player.src = link.url;
                  nowPlaying.textContent = `Playing ${p.name}`;
                  await player.play().catch((err: Error) => ctx.status.fail(err));
                },
              },
              'Play',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Delete ${p.name}`,
                onclick: async () => {
                  const ok = await ctx.status.run(
                    () => ctx.api.request('DELETE', `${base}/${enc(p.name)}`),
                    () => `${p.name} deleted.`,
                  );
                  if (ok) await load();
                },
              },
              'Delete',
            ),
          ),
        ),
      ),
    );
  };
  await load();

  const fileId = uid('promptFile');
  const fileInput = h('input', {
    id: fileId,
    name: 'promptFile',
    type: 'file',
    accept: '.wav,.mp3,audio/wav,audio/mpeg',
    required: true,
  });
  const nameId = uid('promptName');
  const nameInput = h('input', {
    id: nameId,
    name: 'promptName',
    maxlength: 200,
    'aria-describedby': `${nameId}-hint`,
  });
  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    if (f && !nameInput.value) nameInput.value = f.name;
  });
  const upload = h(
    'form',
    {
      'aria-labelledby': 'up-h',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const file = fileInput.files?.[0];
        if (!file) return ctx.status.fail(new Error('choose a WAV or MP3 file'));
        const name = nameInput.value.trim() || file.name;
        const type = /\.mp3$/i.test(file.name) || file.type === 'audio/mpeg' ? 'audio/mpeg' : 'audio/wav';
        const ok = await ctx.status.run(
          async () => {
            if (file.size <= INLINE_MAX_BYTES) {
              return ctx.api.request('PUT', `${base}/${enc(name)}`, undefined, { raw: file, type });
            }
            const target = await ctx.api.request<{ url: string; method: string; headers: Record<string, string> }>(
              'POST',
              `${base}/${enc(name)}/upload-url`,
              { contentType: type, bytes: file.size },
            );
            const res = await fetch(target.url, { method: target.method, headers: target.headers, body: file });
            if (!res.ok) throw new Error(`the upload URL refused the file: HTTP ${res.status}`);
            return true;
          },
          () => `${name} uploaded.`,
        );
        if (ok) {
          upload.reset();
          await load();
        }
      },
    },
    h('h2', { id: 'up-h' }, 'Upload a prompt'),
    h('div', { class: 'field' }, h('label', { for: fileId }, 'WAV or MP3 file'), fileInput),
    h(
      'div',
      { class: 'field' },
      h('label', { for: nameId }, 'Prompt name'),
      nameInput,
      h('small', { id: `${nameId}-hint` }, 'Defaults to the file name; IVR phrases refer to it.'),
    ),
    h('button', { type: 'submit' }, 'Upload prompt'),
  );
  return h(
    'section',
    {},
    h('h1', {}, 'Prompts'),
    upload,
    h('h2', {}, 'Your prompts'),
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Prompt files of this tenant'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Size', 'Updated', 'Actions'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      body,
    ),
    h('div', { class: 'player' }, nowPlaying, player),
  );
};
