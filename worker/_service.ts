/**
 * The worker's service: one current project on disk, at most one executor, and the
 * answers to the gateway's messages. It sends through a function, so tests drive it with
 * a recording `send` and a fake executor, without sockets or Python.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { AgentError, ErrorCode, errorCode, errorMessage } from "../errors.ts";
import type { RuntimeFiles } from "../executors/mod.ts";
import type { GatewayMessage, RequestMessage, WorkerMessage, WorkerOp } from "../ipc/mod.ts";
import { logger } from "../log.ts";
import { joinPath } from "../paths.ts";
import { CallRouter } from "./_calls.ts";
import { checkExecutable, hostFileExists } from "./_elf.ts";
import { executorLauncher, type StartExecutor } from "./_launcher.ts";
import { VersionLifecycle } from "./_lifecycle.ts";
import { type OpContext, type OpReply, runOp } from "./_ops.ts";
import { admitPermissions } from "./_permissions.ts";
import { ProjectStore } from "./_project_store.ts";
import { ProjectRunner } from "./_runner.ts";
import { SerialQueue } from "./_serial.ts";
import { StateFile } from "./_state_file.ts";
import { pythonSha256, UploadManager } from "./_uploads.ts";
import { VersionBook } from "./_version_book.ts";

const log = logger("worker");

/** Options for {@linkcode WorkerService}. */
export interface WorkerServiceOptions {
  /** The resolved configuration, from the gateway's `init`. */
  config: AgentConfig;
  /** Sends one message to the gateway; `body` crosses as raw bytes. Never blocks. */
  send(message: WorkerMessage, body?: Uint8Array): void;
  /** The files installed for python3: the host and the built-in default project. */
  runtime: RuntimeFiles;
  /** Starts a project's executor; by default the real Python and C++ executors. */
  startExecutor?: StartExecutor;
}

/**
 * Answers the gateway: exactly one `res` per `req`, exactly one `cb` per `call`, a
 * `project` message whenever the calls the project takes change (before the `res` of
 * the request that changed them), and the project's events.
 */
export class WorkerService {
  #ctx: OpContext;
  #send: WorkerServiceOptions["send"];
  #abort = new AbortController();

  /** A service over `config.storage.dir`; {@linkcode boot} opens it. */
  constructor(options: WorkerServiceOptions) {
    const { config, runtime, send } = options;
    const storage = config.storage.dir;
    const queue = new SerialQueue();
    const stateFile = new StateFile(joinPath(storage, "state.json"));
    const runner = new ProjectRunner({
      startExecutor: options.startExecutor ?? executorLauncher(config, runtime),
      queue,
      stateFile,
      send,
      onExit: (meta, info, detail): void => lifecycle.onExit(meta, info, detail),
    });
    const book = new VersionBook(joinPath(storage, "versions.json"));
    const exists = hostFileExists(config.python.command);
    const store = new ProjectStore(storage, {
      keepVersions: config.storage.keep_versions,
      defaultProject: runtime.defaultProject,
      limits: {
        maxEntries: config.zip.max_entries,
        maxUncompressedBytes: config.zip.max_uncompressed_bytes,
        maxRatio: config.zip.max_ratio,
      },
      admit: (info) =>
        admitPermissions(info.permissions, {
          ceiling: config.sandbox.ceiling,
          storage,
          action: "deploy project",
        }),
      checkRunnable: (info) =>
        info.type === "cpp"
          ? checkExecutable(info.root, info.entry, { exists })
          : Promise.resolve(),
      pinned: (): number[] => lifecycle.pinned(),
    });
    const lifecycle = new VersionLifecycle({
      store,
      book,
      runner,
      queue,
      probationS: config.lifecycle.probation_s,
      autoRollback: config.lifecycle.auto_rollback,
      send,
    });
    this.#send = send;
    this.#ctx = {
      config,
      store,
      book,
      lifecycle,
      uploads: new UploadManager(joinPath(storage, "uploads"), {
        maxBytes: config.upload.max_bytes,
        maxInProgress: config.upload.max_in_progress,
        staleMs: config.upload.stale_s * 1000,
        digest: pythonSha256(config.python.command),
      }),
      runner,
      calls: new CallRouter({ runner, queue, send }),
      queue,
      stateFile,
      signal: this.#abort.signal,
    };
  }

  /** Opens storage and starts the current project if it was running before. */
  async boot(): Promise<void> {
    const { store, book, stateFile, lifecycle, uploads } = this.#ctx;
    await store.open();
    await book.open();
    await uploads.open();
    if (!(await stateFile.read()).started) return;
    try {
      await lifecycle.launch(store.current);
    } catch (error) {
      log.error("Cannot start the current project at boot: {error}", {
        error: errorMessage(error),
      });
    }
  }

  /** Handles one message from the gateway; `body` is its frame's body, if any. */
  handle(message: GatewayMessage, body: Uint8Array | undefined): void {
    switch (message.t) {
      case "call":
        // Long args come as the body: the project's host parses them, not this thread.
        return this.#ctx.calls.call(message, body);
      case "cancel":
        return this.#ctx.calls.cancel(message.id);
      case "ping":
        // Answered from this event loop: a pong that does not come means it is stuck.
        return this.#send({ t: "pong", id: message.id });
      case "req":
        return this.#request(message, body);
      case "init":
        log.warn("Ignoring a second init message: the configuration is applied at start-up");
        return;
    }
  }

  /** Stops the project and closes what the service owns; lets queued work settle first. */
  async shutdown(): Promise<void> {
    this.#abort.abort(new Error("Cannot deploy: the gateway is gone"));
    await this.#ctx.queue.idle();
    await this.#ctx.lifecycle.shutdown();
    await this.#ctx.uploads.close();
    await this.#ctx.runner.shutdown();
  }

  /** Every request gets exactly one reply, whatever its handler does. */
  #request(request: RequestMessage, body: Uint8Array | undefined): void {
    let work: Promise<OpReply<WorkerOp>>;
    try {
      work = runOp(this.#ctx, request, body);
    } catch (error) {
      work = Promise.reject(error);
    }
    work.then(
      ({ message, data }) => {
        try {
          this.#send({ t: "res", id: request.id, ok: true, message, data });
        } catch (error) {
          // Data over the frame limit or not JSON: still one reply.
          this.#replyError(request.id, error);
        }
      },
      (error) => this.#replyError(request.id, error),
    );
  }

  #replyError(id: number, error: unknown): void {
    const code = errorCode(error);
    if (code === ErrorCode.INTERNAL) {
      log.error("Request {id} failed: {error}", { id, error: errorMessage(error) });
    }
    const data = error instanceof AgentError ? error.data : undefined;
    this.#send({ t: "res", id, ok: false, code, message: errorMessage(error), data });
  }
}
