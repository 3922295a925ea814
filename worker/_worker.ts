/**
 * The worker process: receives the gateway's requests over IPC, manages projects on
 * disk and runs them through the executors.
 *
 * @module
 */
import { joinPath } from "../paths.ts";
import type { AgentConfig } from "../config.ts";
import { AgentError, ErrorCode, errorCode, errorMessage } from "../errors.ts";
import { CppExecutor, type ExitInfo, installRuntime, PythonExecutor } from "../executors/mod.ts";
import {
  type CallOutcome,
  connectUnix,
  failedOutcome,
  IPC_MAX_FRAME_BYTES,
  IpcChannel,
  type IpcMessage,
  releaseBytes,
  type RequestMessage,
} from "../ipc/mod.ts";
import { logger, setLogOutput, writePlainLine } from "../log.ts";
import { type ProjectMeta, ProjectStore } from "./_project_store.ts";
import { pythonSha256, UploadManager } from "./_uploads.ts";

const log = logger("worker");

type Executor = PythonExecutor | CppExecutor;
type ProjectState = "stopped" | "starting" | "running" | "exited" | "failed";

interface Reply {
  message: string;
  data?: unknown;
}

/** Persisted between worker runs: whether the current project should be running. */
interface WorkerState {
  started: boolean;
}

/** Options for {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The gateway's Unix socket. */
  ipcPath: string;
  signal?: AbortSignal;
}

/** The worker's state machine: one current project, at most one executor. */
class Worker {
  #config: AgentConfig;
  #channel: IpcChannel;
  #store: ProjectStore;
  #uploads: UploadManager;
  #hostScript: string;
  #executor: Executor | undefined;
  #running: ProjectMeta | undefined;
  #projectState: ProjectState = "stopped";
  #lastExit: ExitInfo | undefined;
  #statePath: string;
  #runDir: string;
  /** UPDATE, START and rollback run one at a time; calls and the safety stop do not wait. */
  #serial: Promise<unknown> = Promise.resolve();
  #counts = { accepted: 0, completed: 0, failed: 0 };
  #reviving: Promise<PythonExecutor> | undefined;
  /** STARTs and rollbacks queued or running, and the moment the last of them is done. */
  #switches = 0;
  #switched: Promise<void> = Promise.resolve();
  /** Ids of the worker's own calls (the safety stop's); negative, so never a gateway id. */
  #internalId = -1_000_000;
  /** Aborted when the gateway goes: an UPDATE nobody waits for must not land. */
  #abort = new AbortController();

  constructor(
    config: AgentConfig,
    channel: IpcChannel,
    hostScript: string,
    defaultProject: string,
  ) {
    this.#config = config;
    this.#channel = channel;
    this.#hostScript = hostScript;
    const storage = config.storage.dir;
    this.#statePath = joinPath(storage, "state.json");
    this.#runDir = joinPath(storage, "run");
    this.#uploads = new UploadManager(joinPath(storage, "uploads"), {
      maxBytes: config.upload.max_bytes,
      digest: pythonSha256(config.python.command),
    });
    this.#store = new ProjectStore(storage, {
      keepVersions: config.storage.keep_versions,
      defaultProject,
      limits: {
        maxEntries: config.zip.max_entries,
        maxUncompressedBytes: config.zip.max_uncompressed_bytes,
        maxRatio: config.zip.max_ratio,
      },
    });
  }

  /** Opens storage and starts the current project if it was running before. */
  async boot(): Promise<void> {
    await this.#store.open();
    const state = await this.#readState();
    if (state.started) {
      try {
        await this.#start();
      } catch (error) {
        log.error("Cannot start the current project at boot: {error}", {
          error: errorMessage(error),
        });
      }
    }
  }

  /** Answers one request; every request gets exactly one reply. */
  handle(request: RequestMessage, body: Uint8Array | undefined): void {
    const params = request.params ?? {};
    if (request.op === "process") {
      // Long args come as the body: the project's host parses them, not this thread.
      this.#process(request.id, params, body);
      return;
    }
    let work: Promise<Reply>;
    switch (request.op) {
      case "update":
        // Extracted (or refused), the zip is freed at once rather than at the next GC.
        work = this.#serially(() => this.#update(body ?? new Uint8Array()))
          .finally(() => releaseBytes(body));
        break;
      case "start":
        work = this.#switching(async () => {
          const meta = await this.#start();
          return { message: "Project started", data: this.#projectData(meta) };
        });
        break;
      case "status":
        work = Promise.resolve({ message: "Status", data: this.#status() });
        break;
      case "rollback":
        work = this.#switching(() => this.#rollback());
        break;
      case "cancel":
        work = Promise.resolve(this.#cancel(params));
        break;
      case "safety_stop":
        work = this.#safetyStop();
        break;
      case "upload_begin":
        work = this.#uploads.begin(params.size, params.sha256).then((progress) => ({
          message: "Upload ready",
          data: { ...progress, offset: progress.received },
        }));
        break;
      case "upload_chunk":
        work = this.#uploadChunk(params, body ?? new Uint8Array());
        break;
      default:
        work = Promise.reject(
          new AgentError(ErrorCode.UNKNOWN_COMMAND, `Unknown operation: ${request.op}`),
        );
    }
    work.then(
      (reply) => this.#channel.send({ t: "res", id: request.id, ok: true, ...reply }),
      (error) => this.#replyError(request.id, error),
    );
  }

  /** Stops the project and closes what the worker owns. */
  async shutdown(): Promise<void> {
    this.#abort.abort(new Error("Cannot deploy: the gateway is gone"));
    await this.#serial;
    this.#uploads.close();
    await this.#stopExecutor();
  }

  #replyError(id: number, error: unknown): void {
    const code = errorCode(error);
    if (code === ErrorCode.INTERNAL) {
      log.error("Request {id} failed: {error}", { id, error: errorMessage(error) });
    }
    const data = error instanceof AgentError ? error.data : undefined;
    this.#channel.send({ t: "res", id, ok: false, code, message: errorMessage(error), data });
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#serial.then(work);
    this.#serial = result.catch(() => {});
    return result;
  }

  /**
   * Runs a START or rollback in the serial queue; calls that arrive meanwhile wait for it
   * and then go to the project it started, so a client may send start and its first
   * calls without waiting for the reply. (Calls never wait behind an UPDATE.)
   */
  #switching<T>(work: () => Promise<T>): Promise<T> {
    this.#switches++;
    const done = this.#serially(work).finally(() => this.#switches--);
    this.#switched = done.then(() => {}, () => {});
    return done;
  }

  #process(id: number, params: Record<string, unknown>, argsJson?: Uint8Array): void {
    if (this.#switches > 0) {
      this.#switched.then(() => this.#process(id, params, argsJson));
      return;
    }
    const { object, method } = params as { object: string; method: string };
    const args = argsJson ?? (params.args ?? {}) as Record<string, unknown>;
    // The gateway ACKs calls to objects it knows the project has; if the project changed
    // meanwhile, the refusal must then come as the call's callback, not as a reply.
    const acked = params.acked === true;
    const refuse = (code: ErrorCode, message: string) => {
      if (!acked) return this.#replyError(id, new AgentError(code, message));
      this.#counts.accepted++;
      this.#counts.failed++;
      this.#channel.send({
        t: "cb",
        id,
        data: failedOutcome(object, method, code, "CallRefused", message),
      });
    };
    const executor = this.#executor;
    if (executor instanceof CppExecutor) {
      refuse(
        ErrorCode.NOT_SUPPORTED,
        "Cannot call method: the current project is a C++ executable, which takes no calls",
      );
      return;
    }
    // A Python process that died is brought back by the next call (policy documented in
    // docs/reliability.md); the dead executor still knows the project's objects.
    const revive = executor instanceof PythonExecutor && !executor.running &&
      this.#projectState === "exited";
    if (!executor || (!executor.running && !revive)) {
      refuse(ErrorCode.NOT_STARTED, "Cannot call method: no project is started; send start first");
      return;
    }
    const methods = executor.objects.get(object);
    if (!methods) {
      const known = [...executor.objects.keys()].join(", ") || "none";
      refuse(
        ErrorCode.UNKNOWN_OBJECT,
        `Cannot call method: the project has no object ${
          JSON.stringify(object)
        } (objects: ${known})`,
      );
      return;
    }
    if (!methods.has(method)) {
      refuse(
        ErrorCode.UNKNOWN_METHOD,
        `Cannot call method: ${object} has no method ${JSON.stringify(method)}`,
      );
      return;
    }
    this.#counts.accepted++;
    if (!acked) this.#channel.send({ t: "res", id, ok: true, message: "Call accepted" });
    const running = revive ? this.#revive() : Promise.resolve(executor);
    running.then(
      (live) => live.call(id, object, method, args, { rawResult: true }),
      (error): CallOutcome =>
        failedOutcome(
          object,
          method,
          ErrorCode.EXECUTOR_EXITED,
          "ExecutorExited",
          `Call failed: the Python process had exited and could not be restarted: ${
            errorMessage(error)
          }`,
        ),
    ).then((outcome) => this.#sendCallback(id, outcome));
  }

  /** Sends a call's outcome; a long result's JSON goes as the frame's body, unparsed. */
  #sendCallback(id: number, outcome: CallOutcome): void {
    const { resultJson, ...data } = outcome;
    try {
      this.#channel.send({ t: "cb", id, data }, resultJson);
    } catch (error) {
      // A result within a few bytes of the frame limit, which the host checked without
      // the bytes this frame's JSON adds.
      this.#counts.failed++;
      this.#channel.send({
        t: "cb",
        id,
        data: failedOutcome(
          outcome.object,
          outcome.method,
          ErrorCode.NOT_SERIALIZABLE,
          "RangeError",
          `Cannot send result of ${outcome.object}.${outcome.method}: ${errorMessage(error)}`,
        ),
      });
      return;
    }
    if (outcome.ok) this.#counts.completed++;
    else this.#counts.failed++;
  }

  /** Restarts the exited Python project once, however many calls are waiting for it. */
  #revive(): Promise<PythonExecutor> {
    this.#reviving ??= this.#serially(async () => {
      try {
        if (!(this.#executor instanceof PythonExecutor && this.#executor.running)) {
          log.info("Restarting the Python project for a waiting call");
          await this.#start();
        }
        if (!(this.#executor instanceof PythonExecutor)) {
          throw new Error("the current project is no longer a Python project");
        }
        return this.#executor;
      } finally {
        this.#reviving = undefined;
      }
    });
    return this.#reviving;
  }

  async #rollback(): Promise<Reply> {
    const current = this.#store.current.version;
    const previous = (await this.#store.versions()).filter((v) => v < current).at(-1) ??
      (current > 0 ? 0 : undefined);
    if (previous === undefined) {
      throw new AgentError(
        ErrorCode.NO_PREVIOUS_VERSION,
        "Cannot roll back: the built-in default project is current and nothing precedes it",
      );
    }
    await this.#stopExecutor();
    await this.#store.activate(previous);
    const meta = await this.#start();
    log.info("Rolled back from version {current} to {previous}", { current, previous });
    return {
      message: `Rolled back to version ${previous}`,
      data: { ...this.#projectData(meta), rolled_back_from: current },
    };
  }

  #cancel(params: Record<string, unknown>): Reply {
    const callId = params.call_id;
    const executor = this.#executor;
    if (
      typeof callId !== "number" || !(executor instanceof PythonExecutor) ||
      !executor.cancel(callId)
    ) {
      throw new AgentError(
        ErrorCode.BAD_REQUEST,
        `Cannot cancel call: no call ${JSON.stringify(callId)} is in flight`,
      );
    }
    return { message: "Cancel requested" };
  }

  async #update(source: Uint8Array | string, verified?: Promise<void>): Promise<Reply> {
    const signal = this.#abort.signal;
    const meta = await this.#store.add(source, { signal, verified });
    signal.throwIfAborted();
    await this.#stopExecutor();
    await this.#store.activate(meta.version);
    await this.#writeState({ started: false });
    this.#projectState = "stopped";
    log.info("Project version {version} deployed: {type}, {files} files", { ...meta });
    return {
      message: `Project updated: ${meta.type} project, version ${meta.version}`,
      data: this.#projectData(meta),
    };
  }

  async #uploadChunk(params: Record<string, unknown>, body: Uint8Array): Promise<Reply> {
    let progress;
    try {
      progress = await this.#uploads.write(params.upload_id, params.offset, body);
    } finally {
      // Written: free the slice now, not at V8's next collection.
      releaseBytes(body);
    }
    if (progress.received < progress.size) return { message: "Chunk stored", data: progress };
    const id = progress.upload_id;
    let verified: Promise<void> | undefined;
    try {
      // The digest is checked in another process while the zip is extracted; the new
      // version is made only once it matches.
      const finished = await this.#uploads.finish(id);
      verified = finished.verified;
      const reply = await this.#serially(() => this.#update(finished.path, finished.verified));
      return {
        message: reply.message,
        data: { ...progress, complete: true, ...reply.data as object },
      };
    } catch (error) {
      // The upload is over either way: say so, so the gateway answers its upload_begin.
      throw new AgentError(errorCode(error), errorMessage(error), {
        data: { ...progress, complete: true },
      });
    } finally {
      // The digest's process reads the file: it goes once that is done.
      await verified?.catch(() => {});
      await this.#uploads.discard(id).catch(() => {});
    }
  }

  async #start(): Promise<ProjectMeta> {
    await this.#stopExecutor();
    const meta = this.#store.current;
    this.#projectState = "starting";
    try {
      await Deno.mkdir(this.#runDir, { recursive: true });
      const onExit = (executor: Executor) => (info: ExitInfo) => {
        if (this.#executor !== executor) return;
        this.#lastExit = info;
        this.#projectState = "exited";
        this.#channel.send({
          t: "event",
          event: "project_exited",
          data: { type: meta.type, version: meta.version, ...info },
        });
      };
      let executor: Executor;
      if (meta.type === "python") {
        let self: PythonExecutor | undefined;
        executor = self = await PythonExecutor.start({
          hostScript: this.#hostScript,
          root: meta.root,
          socketPath: joinPath(this.#runDir, "python.sock"),
          command: this.#config.python.command,
          threads: this.#config.python.threads,
          callTimeoutS: this.#config.python.call_timeout_s,
          startTimeoutS: this.#config.python.start_timeout_s,
          hardGraceS: this.#config.python.hard_grace_s,
          maxFrameBytes: IPC_MAX_FRAME_BYTES,
          onEvent: (event, data, dataJson) =>
            this.#channel.send({ t: "event", event, data }, dataJson),
          onExit: (info) => onExit(self!)(info),
        });
      } else {
        let self: CppExecutor | undefined;
        executor = self = CppExecutor.start({
          root: meta.root,
          entry: meta.entry,
          args: meta.args,
          launcher: this.#config.python.command,
          stopSignal: this.#config.cpp.stop_signal,
          stopGraceS: this.#config.cpp.stop_grace_s,
          onExit: (info) => onExit(self!)(info),
        });
      }
      this.#executor = executor;
      this.#running = meta;
      this.#projectState = executor.running ? "running" : "exited";
      await this.#writeState({ started: true });
      this.#announce();
      return meta;
    } catch (error) {
      this.#projectState = "failed";
      throw error;
    }
  }

  /**
   * Tells the gateway which calls the worker accepts now, so it can ACK them itself;
   * a project that exits keeps its table, since the next call revives it.
   */
  #announce(): void {
    const executor = this.#executor;
    const objects = executor instanceof PythonExecutor
      ? Object.fromEntries([...executor.objects].map(([name, methods]) => [name, [...methods]]))
      : null;
    this.#channel.send({ t: "project", objects });
  }

  async #stopExecutor(): Promise<void> {
    const executor = this.#executor;
    this.#executor = undefined;
    if (executor) this.#announce();
    if (!executor) return;
    await executor.stop();
    this.#projectState = "stopped";
  }

  async #safetyStop(): Promise<Reply> {
    const executor = this.#executor;
    const ran: unknown[] = [];
    if (executor instanceof PythonExecutor && executor.running) {
      const hooks = executor.safetyStop();
      const calls = this.#config.safety.on_disconnect
        .filter((call) => executor.objects.get(call.object)?.has(call.method))
        .map((call) => executor.call(this.#internalId--, call.object, call.method, call.args));
      for (const outcome of await Promise.all([hooks, ...calls])) ran.push(outcome);
    } else if (executor instanceof CppExecutor) {
      executor.signal(this.#config.cpp.stop_signal);
      ran.push({ signal: this.#config.cpp.stop_signal });
    }
    return { message: "Safety stop done", data: { ran } };
  }

  #projectData(meta: ProjectMeta): Record<string, unknown> {
    const data: Record<string, unknown> = {
      type: meta.type,
      version: meta.version,
      entry: meta.entry,
      files: meta.files,
      bytes: meta.bytes,
    };
    const executor = this.#executor;
    if (this.#running === meta && executor instanceof PythonExecutor) {
      data.objects = Object.fromEntries(
        [...executor.objects].map(([name, methods]) => [name, [...methods]]),
      );
    }
    if (this.#running === meta && executor) data.pid = executor.pid;
    return data;
  }

  #status(): Record<string, unknown> {
    const current = this.#store.current;
    const executor = this.#executor;
    return {
      worker: { pid: Deno.pid },
      project: {
        type: current.type,
        version: current.version,
        state: this.#projectState,
        pid: executor?.running ? executor.pid : null,
        last_exit: this.#lastExit ?? null,
        python: executor instanceof PythonExecutor ? executor.pythonVersion : null,
        abandoned_calls: executor instanceof PythonExecutor ? executor.abandoned : 0,
      },
      calls: {
        ...this.#counts,
        in_flight: executor instanceof PythonExecutor ? executor.inFlight : 0,
      },
    };
  }

  async #readState(): Promise<WorkerState> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#statePath)) as WorkerState;
    } catch {
      return { started: true };
    }
  }

  async #writeState(state: WorkerState): Promise<void> {
    const temp = `${this.#statePath}.tmp`;
    await Deno.writeTextFile(temp, JSON.stringify(state));
    await Deno.rename(temp, this.#statePath);
  }
}

/**
 * Runs the worker: connects to the gateway, waits for `init`, boots, then serves
 * requests until the gateway closes the connection or the signal aborts.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const conn = await connectUnix(options.ipcPath);
  let worker: Worker | undefined;
  const early: [RequestMessage, Uint8Array | undefined][] = [];
  const init = Promise.withResolvers<AgentConfig>();
  const channel = new IpcChannel(conn, {
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
    signal: options.signal,
    onMessage(message: IpcMessage, body) {
      if (message.t === "init") init.resolve(message.config as AgentConfig);
      else if (message.t === "req") {
        if (worker) worker.handle(message as unknown as RequestMessage, body);
        else early.push([message as unknown as RequestMessage, body]);
      }
    },
  });
  channel.closed.then(() =>
    init.reject(new Error("Cannot start worker: the gateway closed the channel"))
  );
  const config = await init.promise;
  // Records go to the gateway, which writes them with its own; stderr once it is gone.
  setLogOutput((record) => {
    try {
      if (channel.isOpen) return channel.send({ t: "log", ...record });
    } catch {
      // Not serialisable as JSON (a BigInt property) or over the frame limit.
    }
    writePlainLine(record);
  }, config.log.level);
  try {
    const runtime = await installRuntime(joinPath(config.storage.dir, "runtime"));
    worker = new Worker(config, channel, runtime.hostScript, runtime.defaultProject);
    await worker.boot();
    channel.send({ t: "ready", pid: Deno.pid });
    log.info("Worker ready: pid {pid}", { pid: Deno.pid });
    for (const [request, body] of early) worker.handle(request, body);
    await channel.closed;
    log.info("Worker stopping: the gateway closed the channel");
  } finally {
    await worker?.shutdown();
    channel.close();
    setLogOutput(writePlainLine, config.log.level);
  }
}
