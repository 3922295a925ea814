/**
 * robot-agent: deploy code to a robot and drive it live over a WebSocket.
 *
 * `robot-agent [COMMAND] [options]`: with no command it serves (the gateway, which
 * launches the worker as `robot-agent worker --ipc PATH`: `deno run` with minimal
 * permissions from source, or the same binary when compiled). `--help` lists the commands.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };

/** The agent's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** Runs the worker process; the gateway decides when it stops, by closing the channel. */
async function runWorkerMode(argv: string[]): Promise<number> {
  const ipc = argv.length === 2 && argv[0] === "--ipc"
    ? argv[1]
    : argv.length === 1
    ? argv[0].match(/^--ipc=(.+)$/)?.[1]
    : undefined;
  if (!ipc) {
    // deno-lint-ignore no-console -- the program's own output
    console.error("robot-agent: worker mode needs --ipc PATH");
    return 2;
  }
  // A terminal's Ctrl-C or a service manager's SIGTERM to the whole group must not cut
  // the gateway's shutdown order short.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", ignore);
  // Loaded only here: the worker process needs none of the command line's code.
  const { runWorker } = await import("./worker/mod.ts");
  try {
    await runWorker({ ipcPath: ipc });
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    Deno.removeSignalListener("SIGTERM", ignore);
  }
}

/** Runs the command line, with output to the process's own streams. */
async function runCommandLine(argv: string[]): Promise<number> {
  const { runCli } = await import("./cli/mod.ts");
  return await runCli({
    version: VERSION,
    // deno-lint-ignore no-console -- the program's own output
    out: (text) => console.log(text),
    // deno-lint-ignore no-console -- the program's own output
    err: (text) => console.error(text),
    env: (name) => Deno.env.get(name),
    interactive: Deno.stdout.isTerminal(),
  }, argv);
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "worker") {
    Deno.exitCode = await runWorkerMode(rest);
  } else {
    // Every resource, logging included, is released by the time a command returns. Exit
    // then: a WebSocket whose peer vanished without a close frame otherwise keeps Deno's
    // event loop alive ~7 s more (seen with Deno.serve's upgrade as well).
    Deno.exit(await runCommandLine(Deno.args));
  }
}
