// Comments cite only files of this repository: every Markdown file, docs/ or notes/ path and repository path
// (media-node/src/…, scripts/…) named in a comment must exist, and documents kept outside the repository are not
// cited by name (EXTERNAL_DOC): a comment states the fact itself or points to docs/*.md. `shared/test/doc-references.test.ts` runs this scan in `npm test`;
// `node --import tsx scripts/check-doc-refs.ts` prints every dangling reference.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './check-imports.js';
import { filesUnder, lex, lineOf } from './source-text.js';

const WORKSPACE_DIRS = ['shared', 'lambdas', 'media-node', 'infra', 'integ-tests'];
export const SCANNED_DIRS = [
  ...WORKSPACE_DIRS.flatMap((w) => [`${w}/src`, `${w}/test`]),
  'infra',
  'bench',
  'scripts',
].filter((d, i, all) => all.indexOf(d) === i);

/** A path-like reference: a Markdown file, a docs/ or notes/ path, or a path from a top-level directory. */
const PATH_REF = new RegExp(
  [
    String.raw`(?:\.{1,2}/)*(?:[\w@.*-]+/)*[\w@.*-]+\.md\b`,
    String.raw`\b(?:docs|notes)/[\w@./*-]*[\w@*-]`,
    String.raw`\b(?:shared|lambdas|media-node|infra|integ-tests|bench|scripts)/[\w@./*-]*[\w@*-]`,
  ].join('|'),
  'g',
);

/** Documents that are not in the repository, cited by name. */
const EXTERNAL_DOC =
  /\b(?:SPEC|ARCHITECTURE)\b(?!\.md)|\bdesign cards?\b|\bthe [\w-]+ notes\b|\bfindings (?:doc|file|note)s?\b/g;

export interface DanglingReference {
  file: string;
  line: number;
  reference: string;
  problem: string;
}

function exists(file: string, reference: string): boolean {
  if (/[*{}…<>]/.test(reference)) return true; // a pattern, not a path
  const bases = [root];
  for (let dir = dirname(join(root, file)); dir.startsWith(root); dir = dirname(dir)) bases.push(dir);
  bases.push(join(root, 'docs'));
  return bases.some((base) => existsSync(join(base, reference)));
}

export function findDanglingReferences(file: string, source: string): DanglingReference[] {
  const found: DanglingReference[] = [];
  for (const comment of lex(source).comments) {
    const at = (index: number) => lineOf(source, comment.start + index);
    for (const m of comment.text.matchAll(PATH_REF)) {
      const reference = m[0].replace(/\.+$/, '');
      if (/^https?:|:\/\//.test(comment.text.slice(Math.max(0, (m.index as number) - 12), m.index))) continue;
      if (!exists(file, reference)) {
        found.push({ file, line: at(m.index as number), reference, problem: 'no such file in the repository' });
      }
    }
    for (const m of comment.text.matchAll(EXTERNAL_DOC)) {
      found.push({
        file,
        line: at(m.index as number),
        reference: m[0],
        problem: 'a document outside the repository: state the fact or cite docs/*.md',
      });
    }
  }
  return found;
}

export function danglingReferences(dirs: string[] = SCANNED_DIRS): DanglingReference[] {
  const files = [...new Set(filesUnder(root, dirs, ['.ts', '.mjs', '.js']))];
  return files.flatMap((file) => findDanglingReferences(file, readFileSync(join(root, file), 'utf8')));
}

export const formatDanglingReference = (r: DanglingReference) => `${r.file}:${r.line}: ${r.reference} (${r.problem})`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const found = danglingReferences();
  for (const r of found) process.stdout.write(`${formatDanglingReference(r)}\n`);
  process.stdout.write(`${found.length} dangling reference(s)\n`);
  process.exitCode = found.length > 0 ? 1 : 0;
}
