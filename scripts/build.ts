/**
 * Builds the single executable: `deno task build [--target TRIPLE] [--output FILE]`.
 *
 * The default target is the robot's, `aarch64-unknown-linux-gnu`. The binary embeds the
 * Python host package (`executors/robot_agent_host/`), the default project and the web
 * console's files (`console/static/`, `--include`) and carries the same permission flags
 * as `deno task start`; run as `robot-agent worker --ipc PATH` it is the worker.
 *
 * `deno compile` type-checks first, then downloads the `denort` runtime for the target
 * (once, cached); without internet it stops there with Deno's own error.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

const ROOT = join(import.meta.dirname ?? ".", "..");

/**
 * The permission, code cache and V8 flags of `deno task start`, so the binary (gateway and
 * worker alike) runs exactly as from source.
 */
export async function startFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return (config.tasks.start as string).split(" ")
    .filter((word) =>
      word.startsWith("--allow-") || word === "--no-code-cache" || word.startsWith("--v8-flags=")
    );
}

/** The full `deno compile` argument list for a target. */
export async function compileArgs(target: string, output: string): Promise<string[]> {
  return [
    "compile",
    "--target",
    target,
    "--output",
    output,
    "--include",
    join(ROOT, "executors", "robot_agent_host"),
    "--include",
    join(ROOT, "executors", "robot_agent_sandbox"),
    "--include",
    join(ROOT, "executors", "default_project"),
    "--include",
    join(ROOT, "console", "static"),
    ...await startFlags(),
    "--no-prompt",
    join(ROOT, "main.ts"),
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", default: "aarch64-unknown-linux-gnu" },
      output: { type: "string" },
    },
  });
  const target = values.target!;
  const output = values.output ?? join(ROOT, "dist", `robot-agent-${target.split("-")[0]}`);
  const args = await compileArgs(target, output);
  // deno-lint-ignore no-console -- the script's own output
  console.error(`deno ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn().status;
  if (!status.success) {
    // deno-lint-ignore no-console -- the script's own output
    console.error(
      "robot-agent build failed. Type errors are shown above; a failed download of the " +
        "denort runtime means this machine cannot reach Deno's download host.",
    );
  }
  Deno.exit(status.code);
}
