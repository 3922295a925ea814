/**
 * `robot-agent serve` (what no subcommand means): runs the agent until SIGINT or SIGTERM.
 *
 * It opens logging, the worker's supervisor and the gateway as one stack whose disposal is
 * the one shutdown order.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type AgentConfig, ConfigError, loadConfig } from "../config.ts";
import {
  IPC_MAX_FRAME_BYTES,
  loadCertificate,
  type WorkerCommand,
  WorkerSupervisor,
  WsGateway,
} from "../gateway/mod.ts";
import { logger } from "../log.ts";
import { setupLogging, shutdownLogging } from "../log_setup.ts";
import { joinPath as join } from "../paths.ts";
import { announceFirstToken, openAccess, reachableHost } from "./_access.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { checkStorageAccess } from "./_storage_access.ts";

const log = logger("cli", "serve");

const SERVE_USAGE = `Usage: robot-agent [serve] [options]

Runs the agent: the WebSocket gateway and its worker.

Options:
  --config FILE        configuration file (default: ./config.yaml when present)
  --host HOST          address to listen on (gateway.host)
  --port N             port to listen on; 0 picks a free one (gateway.port)
  --storage DIR        folder for projects, logs and sockets (storage.dir)
  --idle-timeout S     seconds without a pong before a client is dropped (gateway.idle_timeout_s)
  --version            print the version
  --help               print this help
`;

/** The root of the agent's source (or of the compiled binary's embedded files). */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The command that runs the worker: this binary when compiled, else `deno run` with
 * minimal permissions.
 *
 * @throws {CliError} when the configuration cannot be expressed as permission flags.
 */
function workerCommand(config: AgentConfig): WorkerCommand {
  if (Deno.build.standalone) return { program: Deno.execPath(), args: ["worker", "--ipc"] };
  const root = ROOT;
  const storage = config.storage.dir;
  for (const path of [storage, root, config.python.command]) {
    if (path.includes(",")) {
      throw new CliError(
        `Invalid config: a path used in permission flags contains a comma: ${path}`,
      );
    }
  }
  const sockets = ["worker.sock", "project.sock"].map((name) =>
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
async function readConfig(ctx: CliContext, argv: string[]): Promise<AgentConfig | undefined> {
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
    throw new CliError(`${error instanceof Error ? error.message : error}\n\n${SERVE_USAGE}`);
  }
  if (flags.help || flags.version) {
    ctx.out(flags.help ? SERVE_USAGE : ctx.version);
    return undefined;
  }
  const number = (name: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new CliError(`--${name} must be a number from ${min} to ${max}`);
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
    throw new CliError(error instanceof ConfigError ? error.message : String(error));
  }
}

/**
 * Opens the agent: logging, the worker's supervisor and the gateway, owned by one stack
 * whose disposal is the one shutdown order (gateway first: its safety stop still needs the
 * worker; then the worker; logging last, so every record of the stop is written).
 */
async function openAgent(ctx: CliContext, config: AgentConfig): Promise<AsyncDisposableStack> {
  const storage = config.storage.dir;
  // Creates logs/ and run/; an unwritable storage is one clear line, before logging opens.
  await checkStorageAccess(storage);
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
    const access = await openAccess(ctx, config);
    const certificate = await loadCertificate(config.gateway.tls, storage);
    const gateway = stack.use(
      new WsGateway({
        config,
        link: supervisor,
        version: ctx.version,
        tokens: access.tokens,
        certificate,
      }),
    );
    const started = supervisor.start();
    let address;
    try {
      address = await gateway.listen();
    } catch (error) {
      started.catch(() => {});
      throw new Error(
        `Cannot listen on ${config.gateway.host}:${config.gateway.port}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    await started;
    if (config.fleet.nats_url !== "") {
      // Loaded only here: an agent without a fleet loads no NATS code (docs/fleet.md).
      const { startFleetLink } = await import("../fleet/mod.ts");
      stack.use(startFleetLink({ config, gateway, version: ctx.version }));
    }
    const scheme = certificate ? "wss" : "ws";
    const url = `${scheme}://${address.hostname}:${address.port}/ws`;
    log.info("Listening on {url}", { url, host: address.hostname, port: address.port });
    // Tests and scripts read the port from this line.
    ctx.out(`robot-agent ${ctx.version} listening on ${url}`);
    if (certificate) {
      ctx.out(
        `TLS certificate (${certificate.source}) SHA-256 fingerprint: ${certificate.fingerprint}`,
      );
    }
    ctx.out(
      `Web console: ${certificate ? "https" : "http"}://${
        reachableHost(address.hostname)
      }:${address.port}/`,
    );
    announceFirstToken(ctx, access, address, scheme);
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

/** The `serve` command. */
export const serveCommand: CliCommand = {
  name: "serve",
  summary: "run the agent (the default when no command is given)",
  usage: SERVE_USAGE,
  async run(ctx, args) {
    const config = await readConfig(ctx, args);
    if (!config) return ExitCode.OK;
    let agent: AsyncDisposableStack;
    try {
      agent = await openAgent(ctx, config);
    } catch (error) {
      throw new CliError(error instanceof Error ? error.message : String(error), ExitCode.FAILURE);
    }
    await using _agent = agent;
    const signal = await waitForSignal();
    log.info("Stopping on {signal}", { signal });
    return ExitCode.OK;
  },
};
