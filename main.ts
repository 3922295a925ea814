/**
 * robot-agent: deploy code to a robot and drive it live over a WebSocket.
 *
 * `main.ts [--config FILE] [--host H] [--port N] [--storage DIR] [--idle-timeout S]`
 * runs the gateway, which launches the worker as `main.ts worker --ipc PATH`: with
 * `deno run` and minimal permissions from source, or the same binary when compiled.
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

/**
 * The command that runs the worker: this binary when compiled, else `deno run` with
 * minimal permissions; or why the configuration cannot be expressed as flags.
 */
function workerCommand(config: AgentConfig): WorkerCommand | string {
  if (Deno.build.standalone) return { program: Deno.execPath(), args: ["worker", "--ipc"] };
  const root = import.meta.dirname ?? ".";
  const storage = config.storage.dir;
  for (const path of [storage, root, config.python.command]) {
    if (path.includes(",")) return `a path used in permission flags contains a comma: ${path}`;
  }
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
      `--allow-net=unix:${join(storage, "run", "worker.sock")},unix:${
        join(storage, "run", "python.sock")
      }`,
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

function fail(message: string): never {
  // deno-lint-ignore no-console -- the CLI's own output
  console.error(`robot-agent: ${message}`);
  Deno.exit(2);
}

async function runAgent(argv: string[]): Promise<void> {
  // Each process loads only its own half: the worker never needs the gateway, YAML or
  // LogTape (nor any npm package or node: module while idle), the gateway never needs the
  // executors or the zip reader. This keeps memory down.
  const { parseArgs } = await import("node:util");
  const { setupLogging, shutdownLogging } = await import("./log_setup.ts");
  const { ConfigError, loadConfig } = await import("./config.ts");
  const { IPC_MAX_FRAME_BYTES, WorkerSupervisor, WsGateway } = await import("./gateway/mod.ts");
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
    fail(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
  }
  if (flags.help || flags.version) {
    // deno-lint-ignore no-console -- the CLI's own output
    console.log(flags.help ? USAGE : VERSION);
    return;
  }
  const number = (name: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      fail(`--${name} must be a number from ${min} to ${max}`);
    }
    return n;
  };
  let config: AgentConfig;
  try {
    config = await loadConfig(flags.config, {
      host: flags.host,
      port: number("port", flags.port, 0, 65535),
      storage: flags.storage,
      idleTimeoutS: number("idle-timeout", flags["idle-timeout"], 1, 3600),
    });
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error));
  }
  const storage = config.storage.dir;
  await Deno.mkdir(join(storage, "logs"), { recursive: true });
  await Deno.mkdir(join(storage, "run"), { recursive: true });
  await setupLogging({
    level: config.log.level,
    file: join(storage, "logs", "agent.log"),
    fileMaxBytes: config.log.file_max_bytes,
    fileCount: config.log.file_count,
  });

  config.python.command = await resolveInterpreter(config.python.command);
  const command = workerCommand(config);
  if (typeof command === "string") fail(`Invalid config: ${command}`);
  let gateway: InstanceType<typeof WsGateway> | undefined;
  const supervisor = new WorkerSupervisor({
    command,
    ipcPath: join(storage, "run", "worker.sock"),
    config,
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
    onCallback: (id, outcome) => gateway?.deliverCallback(id, outcome),
    onEvent: (event, data) => gateway?.deliverEvent(event, data),
  });
  const started = supervisor.start();
  const listening = Promise.withResolvers<Deno.NetAddr>();
  try {
    gateway = new WsGateway({
      config,
      supervisor,
      version: VERSION,
      onListen: (address) => listening.resolve(address),
    });
  } catch (error) {
    await supervisor.stop();
    fail(
      `Cannot listen on ${config.gateway.host}:${config.gateway.port}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const address = await listening.promise;
  try {
    await started;
  } catch (error) {
    await gateway.shutdown();
    await supervisor.stop();
    fail(`Cannot start worker: ${error instanceof Error ? error.message : error}`);
  }
  log.info("Listening on ws://{host}:{port}/ws", { host: address.hostname, port: address.port });
  // deno-lint-ignore no-console -- the CLI's own output; tests read the port from it
  console.log(`robot-agent ${VERSION} listening on ws://${address.hostname}:${address.port}/ws`);

  const stopped = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onSignal = (signal: Deno.Signal) => () => stopped.resolve(signal);
  const handlers = signals.map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const signal = await stopped.promise;
  for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  log.info("Stopping on {signal}", { signal });
  await gateway.shutdown();
  await supervisor.stop();
  log.info("Stopped");
  await shutdownLogging();
}

async function runWorkerMode(argv: string[]): Promise<void> {
  const ipc = argv.length === 2 && argv[0] === "--ipc"
    ? argv[1]
    : argv[0]?.match(/^--ipc=(.+)$/)?.[1];
  if (!ipc || (argv.length !== 2 && argv.length !== 1)) fail("worker mode needs --ipc PATH");
  // The gateway decides when the worker stops (by closing the channel); a terminal's
  // Ctrl-C or a service manager's SIGTERM to the whole group must not cut that short.
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
  if (mode === "worker") await runWorkerMode(rest);
  else await runAgent(Deno.args);
}
