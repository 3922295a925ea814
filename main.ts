/**
 * robot-agent: deploy code to a robot and drive it live over a WebSocket.
 *
 * `main.ts [--config FILE] [--host H] [--port N] [--storage DIR] [--idle-timeout S]`
 * runs the agent: the gateway, which launches the worker as `main.ts worker --ipc PATH`
 * (with `deno run` and minimal permissions from source, or the same binary when compiled).
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import type { AgentConfig } from "./config.ts";
import type { WorkerCommand } from "./gateway/mod.ts";
import { logger } from "./log.ts";
import { joinPath as join } from "./paths.ts";

/** The agent's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** Exit codes: 0 after a clean stop, 1 when the agent fails at run time, 2 for bad usage. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const log = logger("main");

const USAGE = `robot-agent ${VERSION}

Usage: robot-agent [options]

Options:
  --config FILE        configuration file (default: ./config.yaml when present)
  --host HOST          address to listen on (gateway.host)
  --port N             port to listen on; 0 picks a free one (gateway.port)
  --storage DIR        folder for projects, logs and sockets (storage.dir)
  --idle-timeout S     seconds without a pong before a client is dropped (gateway.idle_timeout_s)
  --version            print the version
  --help               print this help
`;

/** A failure to report in one line and exit with `code`, before logging is up. */
class UsageError extends Error {
  /** The process's exit code. */
  readonly code: number;

  constructor(message: string, code = EXIT_USAGE) {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}

/**
 * The command that runs the worker: this binary when compiled, else `deno run` with
 * minimal permissions.
 *
 * @throws {UsageError} when the configuration cannot be expressed as permission flags.
 */
function workerCommand(config: AgentConfig): WorkerCommand {
  if (Deno.build.standalone) return { program: Deno.execPath(), args: ["worker", "--ipc"] };
  const root = import.meta.dirname ?? ".";
  const storage = config.storage.dir;
  for (const path of [storage, root, config.python.command]) {
    if (path.includes(",")) {
      throw new UsageError(
        `Invalid config: a path used in permission flags contains a comma: ${path}`,
      );
    }
  }
  const sockets = ["worker.sock", "python.sock"].map((name) =>
    `unix:${join(storage, "run", name)}`
  );
  return {
    program: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-code-cache",
      // V8's young generation grows to 16 MiB semi-spaces under a stream of calls; 4 MiB
      // keeps each process ~50 MiB smaller under load, at no cost in throughput.
      "--v8-flags=--max-semi-space-size=4",
      `--config=${join(root, "deno.json")}`,
      // Storage, and the agent's own source: the runtime files it ships (the Python host
      // and the default project), copied into storage when the worker starts.
      `--allow-read=${storage},${root}`,
      `--allow-write=${storage}`,
      `--allow-run=${config.python.command}`,
      // Deno asks net permission for Unix sockets: exactly the two the worker uses.
      `--allow-net=${sockets.join(",")}`,
      join(root, "main.ts"),
      "worker",
      "--ipc",
    ],
  };
}

/**
 * The interpreter's real path: version managers (pyenv) put a shell-script shim first on
 * PATH that costs ~200 ms per start, and the worker's `--allow-run` should name the real
 * binary. Falls back to the name as configured; a missing interpreter is reported when a
 * project starts.
 */
async function resolveInterpreter(command: string): Promise<string> {
  try {
    const output = await new Deno.Command(command, {
      args: ["-c", "import sys; print(sys.executable)"],
      stdin: "null",
      stderr: "null",
    }).output();
    const path = new TextDecoder().decode(output.stdout).trim();
    return output.success && path.startsWith("/") ? path : command;
  } catch {
    return command;
  }
}

/** Reads the flags and the configuration; undefined after `--help` or `--version`. */
async function readConfig(argv: string[]): Promise<AgentConfig | undefined> {
  const { parseArgs } = await import("node:util");
  const { ConfigError, loadConfig } = await import("./config.ts");
  let flags;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        storage: { type: "string" },
        "idle-timeout": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
  }
  if (flags.help || flags.version) {
    // deno-lint-ignore no-console -- the CLI's own output
    console.log(flags.help ? USAGE : VERSION);
    return undefined;
  }
  const number = (name: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
    }
    return n;
  };
  try {
    return await loadConfig(flags.config, {
      host: flags.host,
      port: number("port", flags.port, 0, 65535),
      storage: flags.storage,
      idleTimeoutS: number("idle-timeout", flags["idle-timeout"], 1, 3600),
    });
  } catch (error) {
    throw new UsageError(error instanceof ConfigError ? error.message : String(error));
  }
}

/**
 * Opens the agent: logging, the worker's supervisor and the gateway, owned by one stack
 * whose disposal is the one shutdown order (gateway first: its safety stop still needs the
 * worker; then the worker; logging last, so every record of the stop is written).
 */
async function openAgent(config: AgentConfig): Promise<AsyncDisposableStack> {
  // Each process loads only its own half: the worker never needs the gateway, YAML or
  // LogTape (nor any npm package or node: module while idle).
  const { setupLogging, shutdownLogging } = await import("./log_setup.ts");
  const { IPC_MAX_FRAME_BYTES, WorkerSupervisor, WsGateway } = await import("./gateway/mod.ts");
  const storage = config.storage.dir;
  await Deno.mkdir(join(storage, "logs"), { recursive: true });
  await Deno.mkdir(join(storage, "run"), { recursive: true });
  const stack = new AsyncDisposableStack();
  await setupLogging({
    level: config.log.level,
    file: join(storage, "logs", "agent.log"),
    fileMaxBytes: config.log.file_max_bytes,
    fileCount: config.log.file_count,
  });
  stack.defer(shutdownLogging);
  stack.defer(() => log.info("Stopped"));
  try {
    config.python.command = await resolveInterpreter(config.python.command);
    const supervisor = stack.use(
      new WorkerSupervisor({
        command: workerCommand(config),
        ipcPath: join(storage, "run", "worker.sock"),
        config,
        maxFrameBytes: IPC_MAX_FRAME_BYTES,
      }),
    );
    const gateway = stack.use(new WsGateway({ config, link: supervisor, version: VERSION }));
    const started = supervisor.start();
    const listening = Promise.withResolvers<Deno.NetAddr>();
    try {
      gateway.listen({ onListen: (address) => listening.resolve(address) });
    } catch (error) {
      started.catch(() => {});
      throw new Error(
        `Cannot listen on ${config.gateway.host}:${config.gateway.port}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    const address = await listening.promise;
    await started;
    log.info("Listening on ws://{host}:{port}/ws", { host: address.hostname, port: address.port });
    // deno-lint-ignore no-console -- the CLI's own output; tests read the port from it
    console.log(`robot-agent ${VERSION} listening on ws://${address.hostname}:${address.port}/ws`);
    return stack;
  } catch (error) {
    log.fatal("Cannot start the agent: {error}", { error: String(error) });
    await stack.disposeAsync();
    throw error;
  }
}

/** Resolves with the first SIGINT or SIGTERM. */
async function waitForSignal(): Promise<Deno.Signal> {
  const stopped = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => [signal, () => stopped.resolve(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  try {
    return await stopped.promise;
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  }
}

/** Runs the agent until a signal; sets `Deno.exitCode` rather than exiting under logging. */
async function serve(argv: string[]): Promise<void> {
  const config = await readConfig(argv);
  if (!config) return;
  let agent: AsyncDisposableStack;
  try {
    agent = await openAgent(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), EXIT_FAILURE);
  }
  await using _agent = agent;
  const signal = await waitForSignal();
  log.info("Stopping on {signal}", { signal });
}

/** Runs the worker process; the gateway decides when it stops, by closing the channel. */
async function runWorkerMode(argv: string[]): Promise<void> {
  const ipc = argv.length === 2 && argv[0] === "--ipc"
    ? argv[1]
    : argv.length === 1
    ? argv[0].match(/^--ipc=(.+)$/)?.[1]
    : undefined;
  if (!ipc) throw new UsageError("worker mode needs --ipc PATH");
  // A terminal's Ctrl-C or a service manager's SIGTERM to the whole group must not cut
  // the gateway's shutdown order short.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", ignore);
  const { runWorker } = await import("./worker/mod.ts");
  try {
    await runWorker({ ipcPath: ipc });
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    Deno.removeSignalListener("SIGTERM", ignore);
  }
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  try {
    if (mode === "worker") await runWorkerMode(rest);
    else await serve(Deno.args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // deno-lint-ignore no-console -- the CLI's own output
    console.error(`robot-agent: ${error.message}`);
    Deno.exitCode = error.code;
  }
}
