/** A tiny element builder: the console has no framework, and text always goes in as text (never as HTML). */

type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

let ids = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled input: every field in the console has a visible <label>. */
export function field(
  label: string,
  attrs: Attrs & { name: string },
  hint?: string,
): { wrap: HTMLElement; input: HTMLInputElement } {
  const id = uid(attrs.name);
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h('input', { id, ...(hintId ? { 'aria-describedby': hintId } : {}), ...attrs });
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('small', { id: hintId }, hint) : null,
  );
  return { wrap, input };
}
