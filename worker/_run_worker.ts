/**
 * The worker process's main loop: the channel to the gateway, around a
 * {@linkcode WorkerService}.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { installRuntime } from "../executors/mod.ts";
import {
  connectUnix,
  failedOutcome,
  type GatewayMessage,
  IPC_MAX_FRAME_BYTES,
  IpcChannel,
  type WorkerMessage,
} from "../ipc/mod.ts";
import { logger, setLogOutput, writePlainLine } from "../log.ts";
import { joinPath } from "../paths.ts";
import { WorkerService } from "./_service.ts";

const log = logger("worker");

/** Options for {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The gateway's Unix socket. */
  ipcPath: string;
}

type Channel = IpcChannel<GatewayMessage, WorkerMessage>;

/**
 * Answers what arrives before `ready`, which the gateway holds back (it sends only
 * `init` until then): a request with an error reply, a call with an error callback.
 */
function refuseEarly(channel: Channel, message: GatewayMessage): void {
  const why = "Cannot handle message: the worker is still starting";
  if (message.t === "req") {
    channel.send({
      t: "res",
      id: message.id,
      ok: false,
      code: ErrorCode.WORKER_UNAVAILABLE,
      message: why,
    });
  } else if (message.t === "call") {
    const data = failedOutcome(
      message.object,
      message.method,
      ErrorCode.WORKER_UNAVAILABLE,
      "CallRefused",
      why,
    );
    channel.send({ t: "cb", id: message.id, data });
  }
}

/** Sends this process's log records to the gateway, and to stderr once it is gone. */
function forwardLogs(channel: Channel, config: AgentConfig): void {
  setLogOutput((record) => {
    try {
      if (channel.isOpen) return channel.send({ t: "log", ...record });
    } catch {
      // Not serialisable as JSON (a BigInt property) or over the frame limit.
    }
    writePlainLine(record);
  }, config.log.level);
}

/**
 * Runs the worker: connects to the gateway, waits for `init`, boots (starting the
 * current project if it was started, and publishing its table), sends `ready`, then
 * serves until the gateway closes the connection.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const conn = await connectUnix(options.ipcPath);
  const init = Promise.withResolvers<AgentConfig>();
  let service: WorkerService | undefined;
  const channel: Channel = new IpcChannel(conn, {
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
    onMessage(message, body) {
      if (service) service.handle(message, body);
      else if (message.t === "init") init.resolve(message.config);
      else refuseEarly(channel, message);
    },
  });
  channel.closed.then(() =>
    init.reject(new Error("Cannot start worker: the gateway closed the channel"))
  );
  const config = await init.promise;
  forwardLogs(channel, config);
  let booted: WorkerService | undefined;
  try {
    const runtime = await installRuntime(joinPath(config.storage.dir, "runtime"), {
      compileWith: config.python.command,
    });
    booted = new WorkerService({
      config,
      runtime,
      send: (message, body) => channel.send(message, body),
    });
    await booted.boot();
    service = booted;
    channel.send({ t: "ready", pid: Deno.pid });
    log.info("Worker ready: pid {pid}", { pid: Deno.pid });
    await channel.closed;
    log.info("Worker stopping: the gateway closed the channel");
  } finally {
    await booted?.shutdown();
    channel.close();
    setLogOutput(writePlainLine, config.log.level);
  }
}
