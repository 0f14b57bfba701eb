/** The keypad's tones and how keyboard keys map to them. Pure. */

/** Rows of a phone keypad, the order the buttons are drawn and tabbed through. */
export const KEYPAD_ROWS: readonly (readonly string[])[] = [
  ['1', '2', '3'],
  ['4', '5', '6'],
  ['7', '8', '9'],
  ['*', '0', '#'],
];

const TONES = new Set(KEYPAD_ROWS.flat());

/**
 * The DTMF tone a KeyboardEvent.key stands for (digits, * and #, the numeric keypad's too), else undefined.
 * Modified keys (Ctrl+1 switches tabs) are not tones.
 */
export function toneForKey(
  key: string,
  mods: { ctrl?: boolean; alt?: boolean; meta?: boolean } = {},
): string | undefined {
  if (mods.ctrl || mods.alt || mods.meta) return undefined;
  return TONES.has(key) ? key : undefined;
}

/** The button's accessible name: "Key 5", "Key star", "Key pound" (screen readers skip bare symbols). */
export function keyLabel(tone: string): string {
  if (tone === '*') return 'Key star';
  if (tone === '#') return 'Key pound';
  return `Key ${tone}`;
}
