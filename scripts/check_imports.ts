/**
 * Checks the architecture's import rules; `deno run --allow-read scripts/check_imports.ts`
 * prints violations and exits 1 if there are any. tests/architecture_test.ts runs it.
 *
 * Rules:
 * - layers import downwards only: `main.ts` → `cli/` → `gateway/`, `worker/` → `executors/` →
 *   `ipc/` → the shared top-level files (`config.ts`, `errors.ts`, `log.ts`, …), which
 *   may use each other;
 *   `gateway/` and `worker/` never import each other, and `gateway/` never imports
 *   `executors/` (it reaches project code only through the worker);
 * - dynamic `import()` counts like a static import for these rules, but not as start-up
 *   loading;
 * - another folder is entered only through its `mod.ts`, which lists its exports by
 *   name (no `export *`);
 * - `console/` (the web console's source, `.tsx` included, bundled for browsers) is a top
 *   layer beside `cli/`: it reaches `client/` through its `mod.ts`, and nothing imports it;
 * - `client/` (the TypeScript client, bundled for browsers too) loads nothing but its own
 *   files at run time: no other layer, no npm package, no `node:` module; it may import
 *   types from the layers below it, which are erased;
 * - `fleet/` is loaded by other layers only with a dynamic `import()` (type imports aside),
 *   and the NATS packages (`@nats-io/…`) only by `fleet/`: an agent without a fleet
 *   configured loads no NATS code;
 * - no import cycles;
 * - what the worker process loads at start-up (`main.ts` and `worker/mod.ts`, through
 *   their static imports) imports no `node:` module and no npm package: the first one
 *   starts Deno's Node layer, ~8 MiB per process. Deploy code imports them dynamically.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

const LAYERS: Record<string, number> = {
  "main.ts": 6,
  console: 5,
  cli: 5,
  fleet: 4,
  client: 3,
  gateway: 3,
  worker: 3,
  executors: 2,
  ipc: 1,
  "config.ts": 0,
  "config_schema.ts": 0,
  "errors.ts": 0,
  "log.ts": 0,
  "log_file_sink.ts": 0,
  "log_setup.ts": 0,
  "paths.ts": 0,
};

/** Pairs of layers that may not depend on each other even though the layers allow it. */
const FORBIDDEN: ReadonlySet<string> = new Set(["gateway→executors"]);

/** Layers that load nothing outside themselves at run time (see the module doc). */
const STANDALONE: ReadonlySet<string> = new Set(["client"]);

/** Why an import breaks the rule of a standalone layer, if it does. */
function standaloneProblem(file: string, edge: ImportEdge, target?: string): string | undefined {
  const unit = unitOf(file);
  if (!STANDALONE.has(unit) || edge.typeOnly) return undefined;
  if (target !== undefined && unitOf(target) === unit) return undefined;
  return `${file}: imports ${target ?? edge.specifier} at run time: ${unit} loads nothing ` +
    "outside itself (import only types)";
}

/** Layers other layers may load only with a dynamic `import()`, and the packages only they use. */
const LAZY: Readonly<Record<string, string>> = { fleet: "@nats-io/" };

/** Why an import breaks the rule of a lazily loaded layer, if it does. */
function lazyProblem(file: string, edge: ImportEdge, target?: string): string | undefined {
  const from = unitOf(file);
  if (target === undefined) {
    const owner = Object.entries(LAZY).find(([, prefix]) => edge.specifier.startsWith(prefix));
    return owner && owner[0] !== from
      ? `${file}: imports ${edge.specifier}, which only ${owner[0]}/ may use`
      : undefined;
  }
  const to = unitOf(target);
  if (!(to in LAZY) || to === from || !edge.loadsAtStart) return undefined;
  return `${file}: imports ${target} statically: load ${to}/ with a dynamic import()`;
}

/** Where the worker process starts loading code. */
const WORKER_ENTRIES = ["main.ts", "worker/mod.ts"];

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
const EXPORT_STAR = /(?:^|\n)\s*export\s+\*/;

/** The layer name of a path relative to the root: its folder, or the file itself. */
function unitOf(path: string): string {
  return path.includes("/") ? path.split("/")[0] : path;
}

async function sourceFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const unit of Object.keys(LAYERS)) {
    const path = join(root, unit);
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info) continue;
    if (info.isFile) {
      out.push(unit);
      continue;
    }
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && /\.tsx?$/.test(entry.name) && !/_test\.tsx?$/.test(entry.name)) {
        out.push(`${unit}/${entry.name}`);
      }
    }
  }
  return out.sort();
}

/** One import of a file: where it points, and whether it loads code at start-up. */
interface ImportEdge {
  specifier: string;
  /** A type-only import loads nothing; a dynamic one loads later, not at start-up. */
  loadsAtStart: boolean;
  /** Whether it is an `import type` (erased at run time). */
  typeOnly: boolean;
}

function importsOf(text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const typeOnly = /^\s*(?:import|export)\s+type\s/.test(match[0]);
    edges.push({ specifier: match[1], loadsAtStart: !typeOnly, typeOnly });
  }
  for (const match of text.matchAll(DYNAMIC_IMPORT)) {
    edges.push({ specifier: match[1], loadsAtStart: false, typeOnly: false });
  }
  return edges;
}

/** Why an import from `file` of local module `target` breaks the layering, if it does. */
function layeringProblem(file: string, target: string): string | undefined {
  const from = unitOf(file);
  const to = unitOf(target);
  if (from === to) return undefined;
  if (!(to in LAYERS)) return `${file}: imports ${target}, which is outside the architecture`;
  if ((LAYERS[to] >= LAYERS[from] && LAYERS[from] > 0) || FORBIDDEN.has(`${from}→${to}`)) {
    return `${file}: imports ${target}: ${from} may not depend on ${to}`;
  }
  if (target.includes("/") && !target.endsWith("/mod.ts")) {
    return `${file}: imports ${target}: use ${to}/mod.ts, the folder's only public door`;
  }
  return undefined;
}

/** Returns every violation of the import rules under `root`, one line each. */
export async function checkImports(root: string): Promise<string[]> {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  /** Per file: the modules it loads at start-up (type-only and dynamic imports left out). */
  const loads = new Map<string, { local: string[]; external: string[] }>();
  for (const file of await sourceFiles(root)) {
    const text = await Deno.readTextFile(join(root, file));
    if (file.endsWith("/mod.ts") && EXPORT_STAR.test(text)) {
      problems.push(`${file}: uses export *; list the folder's exports by name`);
    }
    const edges: string[] = [];
    const runtime = { local: [] as string[], external: [] as string[] };
    loads.set(file, runtime);
    for (const edge of importsOf(text)) {
      if (!edge.specifier.startsWith(".")) {
        if (edge.loadsAtStart) runtime.external.push(edge.specifier);
        const standalone = standaloneProblem(file, edge) ?? lazyProblem(file, edge);
        if (standalone) problems.push(standalone);
        continue;
      }
      const target = relative(root, resolve(root, dirname(file), edge.specifier));
      const standalone = standaloneProblem(file, edge, target) ?? lazyProblem(file, edge, target);
      if (standalone) problems.push(standalone);
      if (target.endsWith(".json")) continue;
      edges.push(target);
      if (edge.loadsAtStart) runtime.local.push(target);
      const problem = layeringProblem(file, target);
      if (problem) problems.push(problem);
    }
    graph.set(file, edges);
  }
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      problems.push(`import cycle: ${[...path.slice(path.indexOf(file)), file].join(" → ")}`);
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  problems.push(...heavyWorkerImports(loads));
  return problems;
}

/** The worker's start-up imports of `node:` modules and npm packages. */
function heavyWorkerImports(loads: Map<string, { local: string[]; external: string[] }>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const queue = WORKER_ENTRIES.filter((entry) => loads.has(entry));
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const { local, external } = loads.get(file)!;
    for (const specifier of external) {
      problems.push(
        `${file}: imports ${specifier} at start-up of the worker process; import it ` +
          "dynamically where it is needed (a node: module or npm package costs ~8 MiB)",
      );
    }
    queue.push(...local.filter((target) => loads.has(target)));
  }
  return problems;
}

if (import.meta.main) {
  const problems = await checkImports(resolve(import.meta.dirname ?? ".", ".."));
  // deno-lint-ignore no-console -- the script's own output
  for (const problem of problems) console.error(problem);
  Deno.exit(problems.length > 0 ? 1 : 0);
}
