// Which programs the repository's source runs, and whether system-packages.json installs each one. A program run by
// a workspace's src/ (the product) must be a runtime package; tests, integ-tests, bench and scripts may also use the
// test and base packages. `shared/test/system-packages.test.ts` runs this in `npm test`;
// `node --import tsx scripts/check-system-packages.ts` prints what it finds.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BASE_PACKAGES, RUNTIME_PACKAGES, type SystemPackage, TEST_PACKAGES } from '@sipms/shared/system-packages';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const WORKSPACES = ['shared', 'lambdas', 'media-node', 'infra', 'integ-tests'];
/** Where the product's own code lives: what it runs must be installed at run time. */
export const RUNTIME_DIRS = ['shared/src', 'lambdas/src', 'media-node/src', 'infra/src'];
export const SCANNED_DIRS = [...WORKSPACES.flatMap((w) => [`${w}/src`, `${w}/test`]), 'scripts', 'bench'];

/**
 * Not Debian packages of the list, on purpose: Node.js and npm are the README's prerequisites (installed before
 * anything here runs), and sh is the shell npm itself runs scripts with.
 */
export const PREREQUISITES = ['node', 'npm', 'npx', 'sh'];

export interface ProgramRun {
  /** The program's name (a path is reduced to its last part). */
  command: string;
  line: number;
  /** The source text that names it. */
  how: string;
}

export interface ProgramUse extends ProgramRun {
  file: string;
}

const RUNNERS = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync'];
/** Runners taking a shell command line: the program is its first word. */
const SHELL_RUNNERS = new Set(['exec', 'execSync']);

/**
 * The source with comments removed and the contents of strings, templates and regex literals replaced by spaces,
 * at the same offsets; template `${…}` parts stay code. Patterns are matched in this text, and literal values are
 * read from the original at the same offsets, so a call quoted inside a string or comment never counts.
 */
export function codeOnly(source: string): string {
  const out = source.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const templateDepths: number[] = []; // per open template: braces open inside its current `${`
  let i = 0;
  const skipString = (quote: string) => {
    const start = i + 1;
    i++;
    while (i < source.length && source[i] !== quote && source[i] !== '\n') i += source[i] === '\\' ? 2 : 1;
    blank(start, i);
    i++;
  };
  /** From inside a template's text to its end or to a `${`. */
  const skipTemplateText = () => {
    const start = i;
    while (i < source.length && source[i] !== '`' && !(source[i] === '$' && source[i + 1] === '{'))
      i += source[i] === '\\' ? 2 : 1;
    blank(start, i);
    if (source[i] === '`') {
      i++;
    } else {
      templateDepths.push(0);
      i += 2;
    }
  };
  const regexAllowed = () => {
    let k = i - 1;
    while (k >= 0 && /\s/.test(source[k]!)) k--;
    if (k < 0) return true;
    if ('([{,;:=!&|?+-*%<>~^'.includes(source[k]!)) return true;
    const word = /[\w$]+$/.exec(source.slice(Math.max(0, k - 10), k + 1))?.[0];
    return word !== undefined && ['return', 'typeof', 'case', 'in', 'of', 'await', 'yield', 'void'].includes(word);
  };
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      blank(i, end === -1 ? source.length : end);
      i = end === -1 ? source.length : end;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      blank(i, end === -1 ? source.length : end + 2);
      i = end === -1 ? source.length : end + 2;
    } else if (c === "'" || c === '"') {
      skipString(c);
    } else if (c === '`') {
      i++;
      skipTemplateText();
    } else if (c === '{' && templateDepths.length > 0) {
      templateDepths[templateDepths.length - 1]!++;
      i++;
    } else if (c === '}' && templateDepths.length > 0) {
      if (templateDepths[templateDepths.length - 1] === 0) {
        templateDepths.pop();
        i++;
        skipTemplateText();
      } else {
        templateDepths[templateDepths.length - 1]!--;
        i++;
      }
    } else if (c === '/' && regexAllowed()) {
      const start = i + 1;
      i++;
      let inClass = false;
      while (i < source.length && source[i] !== '\n' && (inClass || source[i] !== '/')) {
        if (source[i] === '\\') i++;
        else if (source[i] === '[') inClass = true;
        else if (source[i] === ']') inClass = false;
        i++;
      }
      blank(start, i);
      i++;
    } else {
      i++;
    }
  }
  return out.join('');
}

const NPM_BIN = 'node_modules/.bin/';

/** The text of the string literal whose opening quote is at `at` (undefined for a template with `${…}`). */
function literalAt(source: string, code: string, at: number): string | undefined {
  const quote = code[at]!;
  const end = code.indexOf(quote, at + 1);
  if (end === -1) return undefined;
  const text = source.slice(at + 1, end);
  if (quote !== '`' || !text.includes('${')) return text;
  // An npm package's binary under a computed root is named well enough: programName() leaves it out.
  return text.includes(NPM_BIN) ? text : undefined;
}

/** Every string literal inside [from, to) of the source. */
function literalsIn(source: string, code: string, from: number, to: number): string[] {
  const found: string[] = [];
  for (let k = from; k < to; k++) {
    const c = code[k];
    if (c !== "'" && c !== '"' && c !== '`') continue;
    const end = code.indexOf(c, k + 1);
    if (end === -1 || end >= to) break;
    const text = literalAt(source, code, k);
    if (text !== undefined) found.push(text);
    k = end;
  }
  return found;
}

/** A program name from a literal: a path's last part; undefined for what names no program. */
function programName(text: string): string | undefined {
  if (text.includes(NPM_BIN)) return undefined; // an npm package's own binary
  const name = text.slice(text.lastIndexOf('/') + 1);
  return /^[A-Za-z0-9][\w.+-]*$/.test(name) ? name : undefined;
}

/**
 * The programs a source file runs: the first argument of child_process runners (string literals, and local
 * constants holding them; promisified or renamed runners too), and the defaults of program settings
 * (`…binary = 'x'`, `…Binary ?? 'x'`, `binary: 'x'`, `X_BIN: z.string().default('x')`).
 */
export function programsRun(source: string): ProgramRun[] {
  const code = codeOnly(source);
  const lineAt = (offset: number) => source.slice(0, offset).split('\n').length;
  const runs: ProgramRun[] = [];
  const add = (text: string | undefined, offset: number, shell: boolean) => {
    const word = shell ? text?.trim().split(/\s+/)[0] : text;
    const command = word === undefined ? undefined : programName(word);
    if (!command) return;
    const line = lineAt(offset);
    runs.push({ command, line, how: source.split('\n')[line - 1]!.trim() });
  };

  const runners = new Map(RUNNERS.map((r) => [r, SHELL_RUNNERS.has(r)]));
  for (const m of code.matchAll(/\b(\w+)\s*=\s*promisify\(\s*(\w+)\s*\)/g)) {
    if (runners.has(m[2]!)) runners.set(m[1]!, runners.get(m[2]!)!);
  }
  for (const m of code.matchAll(/\b(\w+)\s+as\s+(\w+)/g)) {
    if (runners.has(m[1]!)) runners.set(m[2]!, runners.get(m[1]!)!);
  }
  const names = [...runners.keys()].join('|');
  const call = new RegExp(String.raw`(?:^|[^\w$.]|\b(?:child_process|childProcess|cp)\.)(${names})\s*\(\s*`, 'g');
  for (const m of code.matchAll(call)) {
    const shell = runners.get(m[1]!)!;
    const at = m.index + m[0].length;
    const c = code[at];
    if (c === "'" || c === '"' || c === '`') {
      const text = literalAt(source, code, at);
      if (text === undefined) {
        const line = lineAt(at);
        runs.push({ command: '<computed>', line, how: source.split('\n')[line - 1]!.trim() });
      } else add(text, at, shell);
      continue;
    }
    // A local constant: the literals of its initializer (`const cmd = pin ? 'taskset' : 'sipp'`).
    const ident = /^[A-Za-z_$][\w$]*(?=\s*[,)])/.exec(code.slice(at))?.[0];
    if (!ident) continue;
    const decl = new RegExp(
      String.raw`\b(?:const|let|var)\s+${ident.replace('$', '\\$')}\s*(?::[^=]+)?=([^;\n]+)`,
    ).exec(code);
    if (!decl) continue;
    const from = decl.index + decl[0].length - decl[1]!.length;
    const texts = literalsIn(source, code, from, decl.index + decl[0].length);
    // join(…, 'node_modules', '.bin', 'cdk'): an npm package's binary.
    if (texts.includes('node_modules')) continue;
    for (const text of texts) add(text, at, shell);
  }

  const setting =
    /(?<![\w$])(?:[A-Za-z_$][\w$]*)?(?:bin|Bin|BIN|binary|Binary|BINARY)\s*(?::\s*string\s*)?(?:=|:|\?\?)\s*(['"`])/g;
  for (const m of code.matchAll(setting)) add(literalAt(source, code, m.index + m[0].length - 1), m.index, false);
  const zodDefault = /(?<![\w$])[A-Z_]*_BIN(?:ARY)?\s*:\s*z\.[^\n]*?\.default\(\s*(['"`])/g;
  for (const m of code.matchAll(zodDefault)) add(literalAt(source, code, m.index + m[0].length - 1), m.index, false);
  return runs;
}

function sourceFiles(dir: string): string[] {
  const abs = join(root, dir);
  if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return [];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mts|mjs|js)$/.test(f) && !f.split(sep).includes('node_modules') && !f.endsWith('.d.ts'))
    .map((f) => relative(root, join(abs, f)).split(sep).join('/'))
    .sort();
}

/** Every program run by the scanned directories' source. */
export function scanRepository(dirs = SCANNED_DIRS): ProgramUse[] {
  return dirs.flatMap((dir) =>
    sourceFiles(dir).flatMap((file) =>
      programsRun(readFileSync(join(root, file), 'utf8')).map((run) => ({ file, ...run })),
    ),
  );
}

export interface PackageLists {
  runtime: readonly SystemPackage[];
  test: readonly SystemPackage[];
  base: readonly SystemPackage[];
}

const LISTS: PackageLists = { runtime: RUNTIME_PACKAGES, test: TEST_PACKAGES, base: BASE_PACKAGES };

/** One line per program run that the list does not install where it runs. */
export function unlistedPrograms(uses: ProgramUse[], lists: PackageLists = LISTS): string[] {
  const runtime = new Set(lists.runtime.map((p) => p.command));
  const any = new Set([...runtime, ...lists.test.map((p) => p.command), ...lists.base.map((p) => p.command)]);
  const findings: string[] = [];
  for (const use of uses) {
    if (PREREQUISITES.includes(use.command)) continue;
    const where = `${use.file}:${use.line}`;
    if (use.command === '<computed>') {
      findings.push(`${where} runs a program whose name is computed, so it cannot be checked: ${use.how}`);
    } else if (RUNTIME_DIRS.some((d) => use.file.startsWith(`${d}/`))) {
      if (runtime.has(use.command)) continue;
      findings.push(
        any.has(use.command)
          ? `${where} runs ${use.command}, which system-packages.json lists for tests only: the product runs it, so move it to "runtime"`
          : `${where} runs ${use.command}, which system-packages.json does not install: add its Debian package to "runtime"`,
      );
    } else if (!any.has(use.command)) {
      findings.push(
        `${where} runs ${use.command}, which system-packages.json does not install: add its Debian package to "test"`,
      );
    }
  }
  return findings;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const uses = scanRepository();
  for (const u of uses) console.log(`${u.file}:${u.line}\t${u.command}`);
  const findings = unlistedPrograms(uses);
  for (const f of findings) console.error(f);
  process.exitCode = findings.length > 0 ? 1 : 0;
}
