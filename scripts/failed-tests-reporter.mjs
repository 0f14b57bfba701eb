// A second test reporter for `npm test`: after the whole run it repeats each failed test — its file, its
// place among its suites, the error — and the last lines its file printed. CI keeps only the tail of a
// long log, where TAP's failure may be a thousand lines up.
import { inspect } from 'node:util';

const OUTPUT_LINES_KEPT = 40;
const ERROR_CHARS = 3000;

export default async function* failedTestsReporter(source) {
  const failures = [];
  const outputByFile = new Map();
  const openByFile = new Map(); // file → names of the tests started and not yet ended, by nesting

  for await (const event of source) {
    const data = event.data ?? {};
    const file = data.file ?? '(no file)';
    if (event.type === 'test:start') {
      const open = openByFile.get(file) ?? [];
      open.length = data.nesting;
      open.push(data.name);
      openByFile.set(file, open);
    } else if (event.type === 'test:stdout' || event.type === 'test:stderr') {
      const lines = outputByFile.get(file) ?? [];
      lines.push(
        ...String(data.message)
          .split('\n')
          .filter((l) => l.length > 0),
      );
      outputByFile.set(file, lines.slice(-OUTPUT_LINES_KEPT));
    } else if (event.type === 'test:fail') {
      const parents = (openByFile.get(file) ?? []).slice(0, data.nesting);
      // A suite fails because a test in it failed: that test is already listed.
      if (data.details?.type === 'suite' || data.details?.error?.failureType === 'subtestsFailed') continue;
      failures.push({ file, path: [...parents, data.name].join(' > '), error: data.details?.error });
    }
  }

  if (failures.length === 0) return;
  let out = `\n== ${failures.length} failed test${failures.length === 1 ? '' : 's'}, again:\n`;
  for (const f of failures) {
    const error = f.error?.cause ?? f.error;
    const text = inspect(error, { depth: 4, breakLength: 120 });
    out += `\n-- ${f.file}\n   ${f.path}\n${indent(text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS)} …` : text)}\n`;
  }
  for (const file of new Set(failures.map((f) => f.file))) {
    const lines = outputByFile.get(file);
    if (!lines?.length) continue;
    out += `\n-- the last ${lines.length} lines ${file} printed:\n${indent(lines.join('\n'))}\n`;
  }
  yield out;
}

const indent = (text) =>
  text
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
