// The import graph of every workspace's src/, built with esbuild's metafile (no TypeScript compiler API), and
// what it must satisfy: each workspace's package.json declares exactly the packages its src/ imports, src/ files
// import each other without cycles, and the call-flow core (media-node/src/call/**, media-node/src/ports/**)
// depends on no adapter, SDK or I/O module. `shared/test/import-graph.test.ts` runs these checks in `npm test`;
// `node --import tsx scripts/check-imports.ts` prints the full report (no allow-list) and exits 1 on findings.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WORKSPACES = ['shared', 'lambdas', 'media-node', 'infra', 'integ-tests', 'sdk', 'cli'] as const;

export interface ImportEdge {
  /** Importing file, relative to the repository root (forward slashes). */
  from: string;
  /** The specifier as written in the source. */
  specifier: string;
  /** The imported repository file (relative path), or the specifier itself for packages and node builtins. */
  target: string;
  /** True when `target` is a package or builtin rather than a file of this repository. */
  external: boolean;
  /** True when the file only imports types from the target (`import type`, `export type … from`). */
  typeOnly: boolean;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
  /** Relative or workspace imports that resolve to no file. */
  unresolved: { from: string; specifier: string }[];
}

const toRepoPath = (p: string) => p.split(sep).join('/');

/** Every `.ts` file (declaration files excepted) under `<workspace>/src`, repo-relative. */
export function sourceFiles(): string[] {
  return WORKSPACES.flatMap((w) => {
    const dir = join(root, w, 'src');
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => toRepoPath(join(w, 'src', f)));
  }).sort();
}

// Type-only imports vanish when esbuild strips types; for the pass that must see them, each one is rewritten as a
// side-effect import of the same module, which esbuild keeps and resolves.
const TYPE_IMPORT = /\b(?:import|export)\s+type\b[^;'"]*?\bfrom\s*(['"][^'"\n]+['"])/g;

async function pass(entryPoints: string[], withTypes: boolean) {
  const unresolved: { from: string; specifier: string }[] = [];
  const plugin: Plugin = {
    name: 'import-graph',
    setup(b) {
      // Packages stay external; workspace packages (@sipms/*) and relative paths resolve to repository files.
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'import-graph' || args.kind === 'entry-point') return undefined;
        const local = args.path.startsWith('.') || args.path.startsWith('@sipms/');
        if (!local) return { path: args.path, external: true };
        const r = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: 'import-graph',
        });
        if (r.errors.length === 0) return r;
        unresolved.push({ from: toRepoPath(relative(root, args.importer)), specifier: args.path });
        return { path: args.path, external: true };
      });
      if (withTypes) {
        b.onLoad({ filter: /\.ts$/ }, (args) => ({
          contents: readFileSync(args.path, 'utf8').replace(TYPE_IMPORT, 'import $1'),
          loader: 'ts',
        }));
      }
    },
  };
  const result = await build({
    absWorkingDir: root,
    entryPoints,
    bundle: true,
    write: false,
    metafile: true,
    outdir: 'import-graph.out',
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
    plugins: [plugin],
  });
  const edges = new Map<string, Omit<ImportEdge, 'typeOnly'>>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const imp of input.imports) {
      const specifier = imp.original ?? imp.path;
      const isUnresolved = unresolved.some((u) => u.from === file && u.specifier === specifier);
      const external = imp.external === true;
      if (isUnresolved) continue;
      edges.set(`${file}\0${specifier}`, { from: file, specifier, target: imp.path, external });
    }
  }
  return { edges, unresolved, files: Object.keys(result.metafile.inputs) };
}

export async function importGraph(entryPoints: string[] = sourceFiles()): Promise<ImportGraph> {
  const [runtime, all] = await Promise.all([pass(entryPoints, false), pass(entryPoints, true)]);
  const edges = [...all.edges.entries()].map(([key, e]) => ({ ...e, typeOnly: !runtime.edges.has(key) }));
  const seen = new Set<string>();
  const unresolved = all.unresolved.filter((u) => {
    const key = `${u.from}\0${u.specifier}`;
    return !seen.has(key) && seen.add(key);
  });
  return { files: all.files.sort(), edges, unresolved };
}

// ---- (a) declared dependencies ----

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`; undefined for node builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || isBuiltin(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const readPackage = (dir: string): PackageJson => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));

/** `@types/…` package that carries the types of `pkg` (`@scope/name` → `@types/scope__name`). */
const typesPackage = (pkg: string) => `@types/${pkg.startsWith('@') ? pkg.slice(1).replace('/', '__') : pkg}`;

// Packages a workspace reaches without an import: `require.resolve('pkg/…')`, `createRequire(…).resolve('pkg/…')`,
// `import.meta.resolve('pkg/…')` (e.g. a CLI started as its own process).
const RESOLVE_CALL = /\b(?:require|createRequire\([^)]*\)|import\.meta)\.resolve\(\s*['"]([^'"./][^'"]*)['"]/g;

export interface DependencyProblem {
  workspace: string;
  missing: string[];
  unused: string[];
}

export function dependencyProblems(graph: ImportGraph): DependencyProblem[] {
  const rootTypes = new Set(Object.keys(readPackage('.').devDependencies ?? {}).filter((p) => p.startsWith('@types/')));
  return WORKSPACES.map((workspace) => {
    const pkg = readPackage(workspace);
    const declared = new Set(
      Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies }),
    );
    const runtime = new Set<string>();
    const typeOnly = new Set<string>();
    for (const e of graph.edges) {
      if (!e.from.startsWith(`${workspace}/src/`)) continue;
      if (e.specifier.startsWith('.')) continue;
      const name = packageOf(e.specifier);
      if (!name || name === pkg.name) continue;
      (e.typeOnly ? typeOnly : runtime).add(name);
    }
    for (const file of graph.files.filter((f) => f.startsWith(`${workspace}/src/`))) {
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(RESOLVE_CALL)) {
        const name = packageOf(m[1] as string);
        if (name) runtime.add(name);
      }
    }
    const missing = [...new Set([...runtime, ...typeOnly])].filter(
      (p) => !declared.has(p) && (runtime.has(p) || !rootTypes.has(typesPackage(p))),
    );
    const unused = [...declared].filter((p) => !runtime.has(p) && !typeOnly.has(p));
    return { workspace, missing: missing.sort(), unused: unused.sort() };
  }).filter((p) => p.missing.length > 0 || p.unused.length > 0);
}

// ---- (b) cycles ----

/**
 * Import cycles among repository files, each as the list of files around it, the first file repeated at the end.
 * One shortest cycle through each file of every strongly connected component, rotated to start at its smallest file.
 * Type-only imports count: a cycle of types is still two modules that cannot be understood one without the other.
 */
export function importCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (e.external) continue;
    const list = next.get(e.from) ?? [];
    if (!list.includes(e.target)) list.push(e.target);
    next.set(e.from, list);
  }
  for (const list of next.values()) list.sort();
  const nodes = [...new Set([...next.keys(), ...[...next.values()].flat()])].sort();

  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) components.push(component.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);

  const cycles = new Map<string, string[]>();
  for (const component of components) {
    const inside = new Set(component);
    for (const start of component) {
      // Breadth-first search for the shortest path back to `start` inside the component.
      const parent = new Map<string, string>();
      const queue = [start];
      let found = false;
      while (queue.length > 0 && !found) {
        const v = queue.shift() as string;
        for (const w of next.get(v) ?? []) {
          if (!inside.has(w)) continue;
          if (w === start) {
            parent.set(start, v);
            found = true;
            break;
          }
          if (!parent.has(w)) {
            parent.set(w, v);
            queue.push(w);
          }
        }
      }
      if (!found) continue;
      const cycle: string[] = [];
      for (let v = parent.get(start) as string; v !== start; v = parent.get(v) as string) cycle.unshift(v);
      cycle.unshift(start);
      const smallest = cycle.indexOf([...cycle].sort()[0] as string);
      const rotated = [...cycle.slice(smallest), ...cycle.slice(0, smallest)];
      rotated.push(rotated[0] as string);
      cycles.set(rotated.join('\0'), rotated);
    }
  }
  return [...cycles.values()].sort((a, b) => a.join().localeCompare(b.join()));
}

export function formatCycle(cycle: string[], graph: ImportGraph): string {
  const typeOnly = (from: string, to: string) =>
    graph.edges.filter((e) => e.from === from && e.target === to).every((e) => e.typeOnly);
  return cycle
    .map((file, i) => (i === 0 ? file : `${typeOnly(cycle[i - 1] as string, file) ? ' -(type)-> ' : ' -> '}${file}`))
    .join('');
}

// ---- (c) the call-flow core's boundary ----

/** The call-flow core: pure logic over ports, no I/O, no SDKs, no adapters. */
export const CALL_CORE = ['media-node/src/call/', 'media-node/src/ports/'];

/** Repository directories the call core must not import from (type-only imports included). */
export const CALL_CORE_FORBIDDEN_FILES: Record<string, string> = {
  'media-node/src/media/': 'media adapters (rtpengine, files, speech) belong behind ports/media.ts',
  'media-node/src/sip/': 'the SIP stacks belong behind ports/signaling.ts',
  'media-node/src/callbacks/': 'callback delivery belongs behind ports/callbacks.ts',
  'media-node/src/node/': 'node presence and inbox are composition-level adapters',
  'media-node/src/lifecycle/': 'the Auto Scaling lifecycle is a composition-level adapter',
  'media-node/src/observability/': 'metrics and capture adapters belong behind ports/metrics.ts',
  'shared/src/data/': 'DynamoDB stores belong behind ports/call-data.ts (domain types are in @sipms/shared/domain/*)',
  'shared/src/aws/': 'AWS clients belong to adapters',
  'shared/src/adapters/': 'adapters are wired by the composition root',
};

/** Packages and builtins the call core must not import (type-only imports included). */
export const CALL_CORE_FORBIDDEN_PACKAGES: { match: (specifier: string) => boolean; why: string }[] = [
  { match: (s) => s.startsWith('@aws-sdk/'), why: 'AWS SDK' },
  { match: (s) => s === 'drachtio-srf' || s.startsWith('drachtio-srf/'), why: 'SIP stack' },
  { match: (s) => s === 'rtpengine-client' || s.startsWith('rtpengine-client/'), why: 'rtpengine control protocol' },
  { match: (s) => s === 'undici' || s.startsWith('undici/'), why: 'HTTP client' },
  { match: (s) => s === 'prom-client' || s.startsWith('prom-client/'), why: 'metrics library (use ports/metrics.ts)' },
  {
    match: (s) => ['dgram', 'net', 'fs', 'fs/promises', 'child_process'].includes(s.replace(/^node:/, '')),
    why: 'network, file system or process I/O',
  },
];

export interface BoundaryViolation {
  from: string;
  specifier: string;
  why: string;
}

export function boundaryViolations(graph: ImportGraph): BoundaryViolation[] {
  const out: BoundaryViolation[] = [];
  for (const e of graph.edges) {
    if (!CALL_CORE.some((dir) => e.from.startsWith(dir))) continue;
    if (e.external) {
      const rule = CALL_CORE_FORBIDDEN_PACKAGES.find((r) => r.match(e.specifier));
      if (rule) out.push({ from: e.from, specifier: e.specifier, why: rule.why });
    } else {
      const dir = Object.keys(CALL_CORE_FORBIDDEN_FILES).find((d) => e.target.startsWith(d));
      if (dir) out.push({ from: e.from, specifier: e.specifier, why: CALL_CORE_FORBIDDEN_FILES[dir] as string });
    }
  }
  return out.sort((a, b) => `${a.from} ${a.specifier}`.localeCompare(`${b.from} ${b.specifier}`));
}

export const formatViolation = (v: BoundaryViolation) => `${v.from} imports ${v.specifier} (${v.why})`;

// ---- report ----

export interface ImportReport {
  dependencies: string[];
  cycles: string[];
  boundary: string[];
  unresolved: string[];
}

export async function importReport(): Promise<ImportReport> {
  const graph = await importGraph();
  return {
    dependencies: dependencyProblems(graph).flatMap((p) => [
      ...p.missing.map((m) => `${p.workspace}: src/ imports ${m} but ${p.workspace}/package.json does not declare it`),
      ...p.unused.map((u) => `${p.workspace}: package.json declares ${u} but src/ never imports it`),
    ]),
    cycles: importCycles(graph).map((c) => formatCycle(c, graph)),
    boundary: boundaryViolations(graph).map(formatViolation),
    unresolved: graph.unresolved.map((u) => `${u.from} imports ${u.specifier}, which resolves to no file`),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await importReport();
  let failed = false;
  for (const [section, lines] of Object.entries(report)) {
    process.stdout.write(`${section}: ${lines.length === 0 ? 'ok' : ''}\n`);
    for (const line of lines) process.stdout.write(`  ${line}\n`);
    failed ||= lines.length > 0;
  }
  process.exitCode = failed ? 1 : 0;
}
