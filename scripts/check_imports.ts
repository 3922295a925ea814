/**
 * Checks the architecture's import rules; `deno run --allow-read scripts/check_imports.ts`
 * prints violations and exits 1 if there are any. tests/architecture_test.ts runs it.
 *
 * Rules:
 * - layers import downwards only: `main.ts` → `gateway/`, `worker/` → `executors/` →
 *   `ipc/` → the shared top-level files (`config.ts`, `errors.ts`, `log.ts`, …), which
 *   may use each other;
 *   `gateway/` and `worker/` never import each other;
 * - another folder is entered only through its `mod.ts`;
 * - no import cycles;
 * - what the worker process loads at start-up (`main.ts` and `worker/mod.ts`, through
 *   their static imports) imports no `node:` module and no npm package: the first one
 *   starts Deno's Node layer, ~8 MiB per process. Deploy code imports them dynamically.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

const LAYERS: Record<string, number> = {
  "main.ts": 4,
  gateway: 3,
  worker: 3,
  executors: 2,
  ipc: 1,
  "config.ts": 0,
  "errors.ts": 0,
  "log.ts": 0,
  "log_file_sink.ts": 0,
  "log_setup.ts": 0,
  "paths.ts": 0,
};

/** Where the worker process starts loading code. */
const WORKER_ENTRIES = ["main.ts", "worker/mod.ts"];

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']/g;

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
      if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        out.push(`${unit}/${entry.name}`);
      }
    }
  }
  return out.sort();
}

/** Returns every violation of the import rules under `root`, one line each. */
export async function checkImports(root: string): Promise<string[]> {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  /** Per file: the modules it loads at run time (type-only imports left out). */
  const loads = new Map<string, { local: string[]; external: string[] }>();
  for (const file of await sourceFiles(root)) {
    const text = await Deno.readTextFile(join(root, file));
    const edges: string[] = [];
    const runtime = { local: [] as string[], external: [] as string[] };
    loads.set(file, runtime);
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1];
      const typeOnly = /^\s*(?:import|export)\s+type\s/.test(match[0]);
      if (!specifier.startsWith(".")) {
        if (!typeOnly) runtime.external.push(specifier);
        continue;
      }
      const target = relative(root, resolve(root, dirname(file), specifier));
      if (target.endsWith(".json")) continue;
      edges.push(target);
      if (!typeOnly) runtime.local.push(target);
      const from = unitOf(file);
      const to = unitOf(target);
      if (from === to) continue;
      if (!(to in LAYERS)) {
        problems.push(`${file}: imports ${target}, which is outside the architecture`);
      } else if (LAYERS[to] >= LAYERS[from] && LAYERS[from] > 0) {
        problems.push(`${file}: imports ${target}: ${from} may not depend on ${to}`);
      } else if (target.includes("/") && !target.endsWith("/mod.ts")) {
        problems.push(
          `${file}: imports ${target}: use ${to}/mod.ts, the folder's only public door`,
        );
      }
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
