// No silent failure: every `catch` clause, every promise rejection handler (`.catch(fn)`, `.then(ok, fn)`) and every
// `'error'` event listener in src/ and scripts/ must use the error it receives — log it with the err object, rethrow it, wrap it, or return a
// value that carries it. Empty or comment-only catch blocks, `.catch(() => {})`, `.catch(() => undefined)` and
// handlers that ignore their parameter are reported. Biome's noEmptyBlockStatements (biome.json) shows the empty
// forms in editors; `shared/test/silent-catch.test.ts` runs this scan in `npm test`, and
// `node --import tsx scripts/check-catches.ts` prints every finding.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { root } from './check-imports.js';
import { filesUnder, lex, lineOf, matchingBracket } from './source-text.js';

export const SCANNED_DIRS = ['shared/src', 'lambdas/src', 'media-node/src', 'infra/src', 'integ-tests/src', 'scripts'];

export interface SilentCatch {
  file: string;
  line: number;
  /** The offending code, on one line. */
  code: string;
  problem: string;
}

const IDENT = String.raw`[A-Za-z_$][\w$]*`;
const uses = (body: string, name: string) =>
  new RegExp(String.raw`(?<![\w$.])${name.replace('$', '\\$')}(?![\w$])`).test(body);
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The problem with a rejection handler's source (lexed), or undefined when it uses its error. */
function handlerProblem(handler: string): string | undefined {
  const text = handler.trim();
  const arrow = new RegExp(
    String.raw`^(?:async\s+)?(?:\(\s*(${IDENT})?\s*(?::[^)]*)?\)|(${IDENT}))\s*(?::[^=]*)?=>\s*([\s\S]*)$`,
  ).exec(text);
  const fn = new RegExp(
    String.raw`^(?:async\s+)?function\b[^(]*\(\s*(${IDENT})?[^)]*\)\s*(?::[^{]*)?(\{[\s\S]*\})$`,
  ).exec(text);
  if (!arrow && !fn) return undefined; // a function reference (`reject`, `fail('x')`): it receives the error
  const param = arrow ? (arrow[1] ?? arrow[2]) : fn?.[1];
  const body = ((arrow ? arrow[3] : fn?.[2]) ?? '').trim();
  if (/^\{\s*\}$/.test(body)) return 'empty rejection handler swallows the error';
  if (!param) return 'rejection handler takes no error: it swallows it';
  if (!uses(body, param)) return `rejection handler ignores its error (${param})`;
  return undefined;
}

/** Top-level comma-separated arguments of the call whose `(` is at `open` in lexed code. */
function callArguments(code: string, open: number): { args: string[]; end: number } | undefined {
  const end = matchingBracket(code, open);
  if (end === -1) return undefined;
  const args: string[] = [];
  let start = open + 1;
  for (let k = open + 1; k < end; k++) {
    const c = code[k] as string;
    if (c === '(' || c === '{' || c === '[') {
      k = matchingBracket(code, k);
      if (k === -1) return undefined;
    } else if (c === ',') {
      args.push(code.slice(start, k));
      start = k + 1;
    }
  }
  if (code.slice(start, end).trim() !== '') args.push(code.slice(start, end));
  return { args, end };
}

export function findSilentCatches(file: string, source: string): SilentCatch[] {
  const { code } = lex(source);
  const found: SilentCatch[] = [];
  const report = (at: number, end: number, problem: string) =>
    found.push({ file, line: lineOf(source, at), code: oneLine(source.slice(at, end + 1)).slice(0, 160), problem });

  // try { … } catch (err) { … }
  for (const m of code.matchAll(new RegExp(String.raw`\}\s*catch\s*(?:\(\s*(${IDENT})\s*(?::[^)]*)?\))?\s*\{`, 'g'))) {
    const at = (m.index as number) + m[0].indexOf('catch');
    const open = (m.index as number) + m[0].length - 1;
    const close = matchingBracket(code, open);
    if (close === -1) continue;
    const body = code.slice(open + 1, close);
    const name = m[1];
    if (body.trim() === '') report(at, close, 'empty catch block swallows the error');
    else if (!name) report(at, open, 'catch without a binding discards the error');
    else if (!uses(body, name)) report(at, open, `catch block ignores its error (${name})`);
  }

  // promise.catch(handler), promise.then(onFulfilled, onRejected)
  for (const m of code.matchAll(/\.\s*(catch|then)\s*\(/g)) {
    const open = (m.index as number) + m[0].length - 1;
    const call = callArguments(code, open);
    if (!call) continue;
    const handler = m[1] === 'catch' ? call.args[0] : call.args[1];
    if (handler === undefined) continue;
    const problem = handlerProblem(handler);
    if (problem) report((m.index as number) + 1, call.end, problem);
  }

  // emitter.on('error', handler): an error listener that ignores the error hides it just the same.
  for (const m of code.matchAll(/\.\s*(?:on|once|addListener|prependListener|prependOnceListener)\s*\(/g)) {
    const open = (m.index as number) + m[0].length - 1;
    const call = callArguments(code, open);
    if (!call || call.args.length < 2) continue;
    const first = source.slice(open + 1, open + 1 + (call.args[0] as string).length).trim();
    if (!/^['"]error['"]$/.test(first)) continue;
    const problem = handlerProblem(call.args[1] as string);
    if (problem) report((m.index as number) + 1, call.end, problem.replace('rejection handler', "'error' listener"));
  }
  return found.sort((a, b) => a.line - b.line);
}

export function silentCatches(dirs: string[] = SCANNED_DIRS): SilentCatch[] {
  return filesUnder(root, dirs, ['.ts', '.mjs', '.js']).flatMap((file) =>
    findSilentCatches(file, readFileSync(`${root}/${file}`, 'utf8')),
  );
}

export const formatSilentCatch = (c: SilentCatch) => `${c.file}:${c.line}: ${c.problem}: ${c.code}`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const found = silentCatches();
  for (const c of found) process.stdout.write(`${formatSilentCatch(c)}\n`);
  process.stdout.write(`${found.length} silent catch(es)\n`);
  process.exitCode = found.length > 0 ? 1 : 0;
}
