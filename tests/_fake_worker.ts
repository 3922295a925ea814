/**
 * A stand-in for the worker process, for the supervisor's unit tests: it speaks the
 * gateway ↔ worker protocol of ipc/_messages.ts and behaves as its options say.
 *
 * `deno run -A tests/_fake_worker.ts [OPTIONS] IPC_PATH` (the supervisor appends the path):
 * - `--mode=answer` (default): sends `ready` after `init`, answers every request with its
 *   op, params, body length and pid, and echoes every call as its callback (args sent as
 *   a body come back as the callback's body). A call of `emit` also sends an event whose
 *   data is the call's body.
 * - `--mode=exit`: exits with code 3 at once, before connecting.
 * - `--mode=no-connect`: never connects; waits to be killed.
 * - `--mode=no-ready`: connects and reads `init`, but never sends `ready`.
 * - `--exit-after=N`: exits with code 7 on receiving request N, without answering it.
 * - `--table`: publishes a project table before `ready`.
 * - `--once=FILE`: behaves as told only if FILE does not exist (and creates it); a later
 *   run, a restart, exits at once like `--mode=exit`.
 * - `--pids=FILE`: appends its pid to FILE, so a test can check that it is gone.
 *
 * It exits 0 when the gateway closes the channel, as the real worker does.
 *
 * @module
 */
import {
  connectUnix,
  type GatewayMessage,
  IPC_MAX_FRAME_BYTES,
  IpcChannel,
  type ProjectTable,
  type WorkerMessage,
} from "../ipc/mod.ts";

/** The table `--table` publishes. */
export const FAKE_TABLE: ProjectTable = {
  type: "python",
  version: 3,
  objects: { arm: ["wave", "emit"] },
};

/** The exit code of `--mode=exit` (and of a restart under `--once`). */
export const EXIT_AT_ONCE_CODE = 3;
/** The exit code of `--exit-after=N`. */
export const EXIT_AFTER_CODE = 7;

interface FakeOptions {
  mode: string;
  exitAfter: number;
  table: boolean;
  once?: string;
  pids?: string;
  ipcPath: string;
}

function parseOptions(argv: string[]): FakeOptions {
  const value = (name: string) =>
    argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const ipcPath = argv.at(-1);
  if (!ipcPath || ipcPath.startsWith("--")) throw new TypeError("fake worker: no IPC path");
  return {
    mode: value("mode") ?? "answer",
    exitAfter: Number(value("exit-after") ?? Infinity),
    table: argv.includes("--table"),
    once: value("once"),
    pids: value("pids"),
    ipcPath,
  };
}

/** Whether this run is a restart under `--once` (the file exists); creates the file. */
function isRepeat(path: string | undefined): boolean {
  if (path === undefined) return false;
  try {
    Deno.writeTextFileSync(path, "", { createNew: true });
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return true;
    throw error;
  }
}

async function serve(options: FakeOptions): Promise<void> {
  const conn = await connectUnix(options.ipcPath);
  let requests = 0;
  const channel: IpcChannel<GatewayMessage, WorkerMessage> = new IpcChannel(conn, {
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
    onMessage(message, body) {
      switch (message.t) {
        case "init":
          if (options.mode === "no-ready") return;
          if (options.table) channel.send({ t: "project", project: FAKE_TABLE });
          channel.send({ t: "ready", pid: Deno.pid });
          return;
        case "req": {
          if (++requests >= options.exitAfter) Deno.exit(EXIT_AFTER_CODE);
          const { id, op, params } = message;
          const data = { op, params, body_bytes: body?.length ?? null, pid: Deno.pid };
          // Echoes instead of each op's real data: the supervisor passes replies on as they are.
          const reply = { t: "res", id, ok: true, message: `Did ${op}`, data };
          channel.send(reply as unknown as WorkerMessage);
          return;
        }
        case "call": {
          const { id, object, method, args } = message;
          if (method === "emit") channel.send({ t: "event", event: "emitted" }, body);
          const data = body
            ? { object, method, ok: true }
            : { object, method, ok: true, result: args };
          channel.send({ t: "cb", id, data }, body);
          return;
        }
        case "cancel":
          return;
        case "ping":
          channel.send({ t: "pong", id: message.id });
          return;
      }
    },
  });
  await channel.closed;
}

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  if (options.pids) Deno.writeTextFileSync(options.pids, `${Deno.pid}\n`, { append: true });
  if (options.mode === "exit" || isRepeat(options.once)) Deno.exit(EXIT_AT_ONCE_CODE);
  if (options.mode === "no-connect") {
    // Until killed: the supervisor's connect timeout is what is under test.
    setInterval(() => {}, 60_000);
    return;
  }
  await serve(options);
}

if (import.meta.main) await main();
