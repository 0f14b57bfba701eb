import { ApiError } from './api.js';
import { h } from './dom.js';

/**
 * A polite live region per page for async results and an alert region for errors: screen readers hear
 * both, and the API's error code and message are shown as text.
 */
export class Status {
  readonly el: HTMLElement;
  private readonly ok: HTMLElement;
  private readonly err: HTMLElement;

  constructor() {
    this.ok = h('p', { class: 'status-ok', role: 'status', 'aria-live': 'polite' });
    this.err = h('p', { class: 'status-error', role: 'alert', 'aria-live': 'assertive' });
    this.el = h('div', { class: 'status' }, this.ok, this.err);
  }

  say(text: string): void {
    this.err.textContent = '';
    this.ok.textContent = text;
  }

  fail(err: unknown): void {
    this.ok.textContent = '';
    this.err.textContent =
      err instanceof ApiError ? `Error ${err.code}: ${err.message}` : `Error: ${(err as Error).message ?? String(err)}`;
  }

  /** Runs an action, showing its result or its error; the action's own message on success. */
  async run<T>(action: () => Promise<T>, done?: (v: T) => string): Promise<T | undefined> {
    try {
      const v = await action();
      if (done) this.say(done(v));
      return v;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }
}
