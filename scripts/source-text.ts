// Small lexical helpers for the source scanners in scripts/check-*.ts: split TypeScript/JavaScript text into code,
// comments and string contents without a parser (the repository's TypeScript 7 has no compiler API).
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface Lexed {
  /** The source with comments and the contents of strings, templates and regex literals blanked out (same offsets). */
  code: string;
  /** Every comment: its text and the offset where it starts. */
  comments: { text: string; start: number }[];
}

const KEYWORDS_BEFORE_REGEX = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);

/** Blank out comments, string/template contents and regex literals, keeping offsets and newlines. */
export function lex(source: string): Lexed {
  const out = source.split('');
  const comments: Lexed['comments'] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Stack of open template literals: each entry counts the braces opened inside its current `${ … }`.
  const templates: number[] = [];
  let i = 0;
  const n = source.length;

  const regexAllowed = (at: number) => {
    let k = at - 1;
    while (k >= 0 && /\s/.test(out[k] as string)) k--;
    if (k < 0) return true;
    const c = out[k] as string;
    if (/[(,=:[!&|?{};+\-*%<>~^]/.test(c)) return true;
    if (/[\w$]/.test(c)) {
      let s = k;
      while (s > 0 && /[\w$]/.test(out[s - 1] as string)) s--;
      return KEYWORDS_BEFORE_REGEX.has(out.slice(s, k + 1).join(''));
    }
    return false;
  };

  const scanTemplate = () => {
    // At a backtick or just after a `}` closing a `${`: blank until `${` or the closing backtick.
    const start = i;
    while (i < n) {
      const c = source[i];
      if (c === '\\') {
        i += 2;
        continue;
      }
      if (c === '`') {
        blank(start, i);
        i++;
        templates.pop();
        return;
      }
      if (c === '$' && source[i + 1] === '{') {
        blank(start, i);
        i += 2;
        return;
      }
      i++;
    }
    blank(start, n);
  };

  while (i < n) {
    const c = source[i] as string;
    const d = source[i + 1];
    if (c === '/' && d === '/') {
      const end = source.indexOf('\n', i) === -1 ? n : source.indexOf('\n', i);
      comments.push({ text: source.slice(i, end), start: i });
      blank(i, end);
      i = end;
    } else if (c === '/' && d === '*') {
      const close = source.indexOf('*/', i + 2);
      const end = close === -1 ? n : close + 2;
      comments.push({ text: source.slice(i, end), start: i });
      blank(i, end);
      i = end;
    } else if (c === "'" || c === '"') {
      let k = i + 1;
      while (k < n && source[k] !== c && source[k] !== '\n') k += source[k] === '\\' ? 2 : 1;
      blank(i + 1, k);
      i = k + 1;
    } else if (c === '`') {
      templates.push(0);
      i++;
      scanTemplate();
    } else if (c === '{' && templates.length > 0) {
      templates[templates.length - 1] = (templates.at(-1) as number) + 1;
      i++;
    } else if (c === '}' && templates.length > 0) {
      if (templates.at(-1) === 0) {
        i++;
        scanTemplate();
      } else {
        templates[templates.length - 1] = (templates.at(-1) as number) - 1;
        i++;
      }
    } else if (c === '/' && regexAllowed(i)) {
      let k = i + 1;
      let inClass = false;
      while (k < n && source[k] !== '\n') {
        if (source[k] === '\\') k++;
        else if (source[k] === '[') inClass = true;
        else if (source[k] === ']') inClass = false;
        else if (source[k] === '/' && !inClass) break;
        k++;
      }
      blank(i + 1, k);
      i = k + 1;
    } else {
      i++;
    }
  }
  return { code: out.join(''), comments };
}

/** Offset of the bracket that closes the one at `open` (`(`, `{` or `[`) in lexed code, or -1. */
export function matchingBracket(code: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const stack: string[] = [];
  for (let k = open; k < code.length; k++) {
    const c = code[k] as string;
    if (pairs[c]) stack.push(pairs[c] as string);
    else if (c === ')' || c === '}' || c === ']') {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return k;
    }
  }
  return -1;
}

export const lineOf = (source: string, offset: number) => source.slice(0, offset).split('\n').length;

/** Repository files under `dirs` (relative to `root`) whose names end with one of `extensions`, repo-relative. */
export function filesUnder(root: string, dirs: string[], extensions: string[]): string[] {
  return dirs
    .flatMap((dir) => {
      const abs = join(root, dir);
      if (!existsSync(abs)) return [];
      return readdirSync(abs, { recursive: true })
        .map(String)
        .filter((f) => !f.split(sep).includes('node_modules') && !f.split(sep).includes('cdk.out'))
        .filter((f) => extensions.some((e) => f.endsWith(e)))
        .map((f) => relative(root, join(abs, f)).split(sep).join('/'));
    })
    .sort();
}
