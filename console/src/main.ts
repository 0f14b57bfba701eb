import { Api, type Credentials, loadApiBaseUrl, loadCredentials, saveCredentials } from './api.js';
import type { Page, PageContext } from './context.js';
import { h } from './dom.js';
import { callPage } from './pages/call.js';
import { callsPage } from './pages/calls.js';
import { livePage } from './pages/live.js';
import { numbersPage } from './pages/numbers.js';
import { promptsPage } from './pages/prompts.js';
import { settingsPage } from './pages/settings.js';
import { signInPage } from './pages/sign-in.js';
import { softphonePage } from './pages/softphone.js';
import { usagePage } from './pages/usage.js';
import { Status } from './status.js';

/** Hash routes (the page state never carries the key): name → page, and the nav's label. */
const ROUTES: Record<string, { page: Page; label: string; nav: boolean }> = {
  settings: { page: settingsPage, label: 'Settings', nav: true },
  numbers: { page: numbersPage, label: 'Numbers', nav: true },
  prompts: { page: promptsPage, label: 'Prompts', nav: true },
  usage: { page: usagePage, label: 'Usage', nav: true },
  calls: { page: callsPage, label: 'Calls', nav: true },
  live: { page: livePage, label: 'Live calls', nav: true },
  softphone: { page: softphonePage, label: 'Softphone', nav: true },
  signin: { page: signInPage, label: 'Sign in', nav: false },
};

async function start(): Promise<void> {
  const main = document.getElementById('main')!;
  const nav = document.getElementById('nav')!;
  let baseUrl: string;
  try {
    baseUrl = await loadApiBaseUrl();
  } catch (err) {
    main.replaceChildren(h('h1', {}, 'Console unavailable'), h('p', { role: 'alert' }, (err as Error).message));
    return;
  }
  let creds: Credentials | undefined = loadCredentials();
  const api = new Api(baseUrl, () => creds?.apiKey);

  const renderNav = (current: string): void => {
    const links = creds
      ? Object.entries(ROUTES)
          .filter(([, r]) => r.nav)
          .map(([name, r]) =>
            h(
              'li',
              {},
              h('a', { href: `#/${name}`, ...(name === current ? { 'aria-current': 'page' } : {}) }, r.label),
            ),
          )
      : [];
    const who = creds ? h('li', { class: 'who' }, h('span', {}, creds.domain)) : null;
    const out = creds
      ? h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              onclick: () => {
                creds = undefined;
                saveCredentials(undefined);
                location.hash = '#/signin';
              },
            },
            'Sign out',
          ),
        )
      : null;
    nav.replaceChildren(h('ul', {}, links, who, out));
  };

  let generation = 0;
  const render = async (): Promise<void> => {
    const mine = ++generation;
    const [name = '', param] = location.hash.replace(/^#\/?/, '').split('/', 2);
    let route = name === 'calls' && param ? 'call' : name;
    if (!creds) route = 'signin';
    else if (route !== 'call' && !ROUTES[route]) route = 'settings';
    if (route === 'signin' && creds) route = 'settings';
    const page = route === 'call' ? callPage : ROUTES[route]!.page;
    const status = new Status();
    const ctx: PageContext = {
      api,
      creds,
      status,
      param: param ? decodeURIComponent(param) : undefined,
      navigate: (hash) => {
        location.hash = hash;
      },
      signIn: (c) => {
        creds = c;
        saveCredentials(c);
        if (location.hash === '#/settings') void render();
        else location.hash = '#/settings';
      },
    };
    renderNav(route === 'call' ? 'calls' : route);
    main.setAttribute('aria-busy', 'true');
    let content: HTMLElement;
    try {
      content = await page(ctx);
    } catch (err) {
      status.fail(err);
      content = h('section', {}, h('h1', {}, 'Something went wrong'));
    }
    if (mine !== generation) return; // a later navigation won
    // The page's results are announced right under its heading.
    const h1 = content.querySelector('h1');
    if (h1) h1.after(status.el);
    else content.prepend(status.el);
    main.replaceChildren(content);
    main.removeAttribute('aria-busy');
    const heading = main.querySelector('h1');
    // Focus moves to the new page's heading so keyboard and screen-reader users land on it.
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
      document.title = `${heading.textContent} · SIP Mediaserver console`;
    }
  };
  window.addEventListener('hashchange', () => void render());
  await render();
}

void start();
