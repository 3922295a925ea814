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
 * - no import cycles.
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
};

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
  for (const file of await sourceFiles(root)) {
    const text = await Deno.readTextFile(join(root, file));
    const edges: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1];
      if (!specifier.startsWith(".")) continue;
      const target = relative(root, resolve(root, dirname(file), specifier));
      if (target.endsWith(".json")) continue;
      edges.push(target);
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
  return problems;
}

if (import.meta.main) {
  const problems = await checkImports(resolve(import.meta.dirname ?? ".", ".."));
  // deno-lint-ignore no-console -- the script's own output
  for (const problem of problems) console.error(problem);
  Deno.exit(problems.length > 0 ? 1 : 0);
}
