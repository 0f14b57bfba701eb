import { h } from '../dom.js';
import { KEYPAD_ROWS, keyLabel } from './keys.js';

/** How long a key looks pressed after a tone is sent (by click or keyboard). */
const FLASH_MS = 180;

/** The 0–9 * # keypad: one button per tone, in phone order, disabled outside a call. */
export class Keypad {
  readonly el: HTMLElement;
  private readonly buttons = new Map<string, HTMLButtonElement>();

  constructor(onTone: (tone: string) => void) {
    this.el = h(
      'div',
      { class: 'keypad', role: 'group', 'aria-label': 'Keypad' },
      KEYPAD_ROWS.flat().map((tone) => {
        const b = h(
          'button',
          {
            type: 'button',
            'aria-label': keyLabel(tone),
            'data-tone': tone,
            disabled: true,
            onclick: () => onTone(tone),
          },
          tone,
        );
        this.buttons.set(tone, b);
        return b;
      }),
    );
  }

  setEnabled(on: boolean): void {
    for (const b of this.buttons.values()) b.disabled = !on;
  }

  flash(tone: string): void {
    const b = this.buttons.get(tone);
    if (!b) return;
    b.classList.add('pressed');
    setTimeout(() => b.classList.remove('pressed'), FLASH_MS);
  }
}
