/**
 * Builds the web console: `deno task console:build` type-checks `console/` and bundles it
 * (with the TypeScript client and Preact) into `console/static/console.js`, minified.
 *
 * The bundle is checked in: the agent serves it from source and from the compiled binary
 * alike with no build tool at run time, and tests/console_build_test.ts fails when it is
 * not what this script makes from the sources (minified output names no local paths, so
 * it is the same on every machine). `--check` only compares.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

const ROOT = join(import.meta.dirname ?? ".", "..");

/** The checked-in bundle. */
export const BUNDLE = join(ROOT, "console", "static", "console.js");

/** Bundles the console into `output`; throws with Deno's message when it fails. */
export async function bundleConsole(output: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--check",
      "--platform",
      "browser",
      "--minify",
      "-o",
      output,
      join(ROOT, "console", "main.tsx"),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const why = new TextDecoder().decode(result.stderr) + new TextDecoder().decode(result.stdout);
    throw new Error(`Cannot bundle the console: ${why.trim()}`);
  }
}

/** Whether the checked-in bundle is what the sources make now. */
export async function bundleIsCurrent(): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-console-" });
  try {
    const fresh = join(dir, "console.js");
    await bundleConsole(fresh);
    const [built, kept] = await Promise.all([
      Deno.readTextFile(fresh),
      Deno.readTextFile(BUNDLE).catch(() => ""),
    ]);
    return built === kept;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { check: { type: "boolean" } } });
  if (values.check) {
    const current = await bundleIsCurrent();
    // deno-lint-ignore no-console -- the script's own output
    console.error(
      current
        ? "console bundle is up to date"
        : "console bundle is stale: run deno task console:build",
    );
    Deno.exit(current ? 0 : 1);
  }
  await bundleConsole(BUNDLE);
  const bytes = (await Deno.stat(BUNDLE)).size;
  // deno-lint-ignore no-console -- the script's own output
  console.error(`wrote ${BUNDLE} (${bytes} bytes)`);
}
