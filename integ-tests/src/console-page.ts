/**
 * Checks of the tenant console's pages in Chromium, shared by the console's and the softphone's browser tests:
 * keyboard reach with visible focus, labelled controls, text contrast (WCAG 2).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

// Code that runs in the page is written as strings: the project's tsconfig has no DOM types (Node code), and
// tsx's keepNames helper (__name) would leak into the page's copy of a function.

/** The focused element's kind and accessible name, and its outline (visible focus). */
const FOCUSED_IN_PAGE = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return undefined;
  const name = el.getAttribute('aria-label') ?? el.labels?.[0]?.textContent ?? el.textContent ?? '';
  const s = getComputedStyle(el);
  return { name: el.tagName.toLowerCase() + ':' + name.trim().replace(/\\s+/g, ' '), outline: s.outlineStyle + ' ' + s.outlineWidth };
})()`;

/** Tab through the page from the top; the accessible names of what took focus, in order (one full cycle). */
export async function tabStops(page: Page, max = 80): Promise<{ name: string; outline: string }[]> {
  const seen: { name: string; outline: string }[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate<{ name: string; outline: string } | undefined>(FOCUSED_IN_PAGE);
    // Focus leaves the page (to the browser) once per cycle: skipped; the first repeat ends the cycle.
    if (!stop) continue;
    // A media element's own controls keep focus on it for several Tabs.
    if (stop.name === seen.at(-1)?.name) continue;
    if (seen.some((s) => s.name === stop.name)) break;
    seen.push(stop);
  }
  return seen;
}

/** Every control has an accessible name from a <label> (or aria-label for row buttons), checked in the page. */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(
    `[...document.querySelectorAll('input, select, textarea')]
      .filter((el) => !el.labels?.length && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML)`,
  );
}

/** WCAG contrast ratio of an element's text colour on its (first opaque ancestor's) background. */
const CONTRAST_IN_PAGE = `(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let node = el;
  let bg = 'rgb(255, 255, 255)';
  while (node) {
    const c = getComputedStyle(node).backgroundColor;
    const parts = rgb(c);
    if (parts.length === 3 || (parts.length === 4 && parts[3] === 1)) { bg = c; break; }
    node = node.parentElement;
  }
  const a = lum(rgb(getComputedStyle(el).color));
  const b = lum(rgb(bg));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}`;

export async function contrast(page: Page, selector: string): Promise<number> {
  assert.ok(await page.locator(selector).count(), `no element ${selector}`);
  return page.evaluate(`(${CONTRAST_IN_PAGE})(document.querySelector(${JSON.stringify(selector)}))`);
}
