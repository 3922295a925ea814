/**
 * The Python executor: one python3 process per started project, running the shipped
 * host script, which imports the project and serves calls over a Unix socket.
 *
 * A fresh process per START is what makes a new UPDATE safe: Python cannot unload a
 * module, but it can exit.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import {
  acceptOne,
  type CallOutcome,
  failedOutcome,
  IpcChannel,
  type IpcMessage,
  listenUnix,
  removeSocketFile,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import { type ExitInfo, watchChild } from "./_child.ts";

const log = logger("executors", "python");
const outputLog = logger("project", "python");

/** Options for {@linkcode PythonExecutor.start}. */
export interface PythonStartOptions {
  /** The host script shipped with the agent. */
  hostScript: string;
  /** The project folder holding `main.py` or `__init__.py`. */
  root: string;
  /** Where the host connects; removed on exit. */
  socketPath: string;
  /** The interpreter, e.g. `python3`. */
  command: string;
  threads: number;
  callTimeoutS: number;
  /**
   * How long a call answered `TIMEOUT` or `CANCELLED` may keep its thread busy in
   * native code (the host marks it `abandoned`) before the process is killed with
   * SIGKILL, so a thread Python cannot interrupt does not hold the pool for good.
   */
  hardGraceS: number;
  startTimeoutS: number;
  maxFrameBytes: number;
  /**
   * Receives `push_message` events from the project. Long data comes as the host encoded
   * it (`dataJson`, UTF-8 JSON, for passing on unparsed; `data` is then undefined).
   */
  onEvent(event: string, data: unknown, dataJson?: Uint8Array): void;
  /** Called once when the process has exited, after in-flight calls were answered. */
  onExit(info: ExitInfo): void;
  signal?: AbortSignal;
}

interface Pending {
  object: string;
  method: string;
  /** Whether the outcome keeps the result as JSON text (`resultJson`) rather than parsed. */
  raw: boolean;
  resolve(outcome: CallOutcome): void;
}

const decoder = new TextDecoder();

/** How long `stop` waits for a clean exit before SIGKILL. */
const STOP_GRACE_MS = 2000;

/** A call the host answered while its thread was still running project code. */
interface Abandoned {
  /** Kills the process when the thread has not left project code in time. */
  timer: ReturnType<typeof setTimeout>;
  /** Abandoned calls under this id: ids are the caller's and may repeat. */
  count: number;
}

/** A running Python project. Every call it accepts resolves exactly once. */
export class PythonExecutor {
  #child: Deno.ChildProcess;
  #channel: IpcChannel;
  #objects: Map<string, Set<string>>;
  #pending = new Map<number, Pending>();
  #abandoned = new Map<number, Abandoned>();
  #abandonedCount = 0;
  #exited: Promise<ExitInfo>;
  #running = true;
  #nextInternalId = -1;
  #pythonVersion: string;

  private constructor(
    child: Deno.ChildProcess,
    channel: IpcChannel,
    ready: IpcMessage,
    exited: Promise<ExitInfo>,
  ) {
    this.#child = child;
    this.#channel = channel;
    this.#exited = exited;
    this.#pythonVersion = String(ready.python ?? "");
    this.#objects = new Map(
      Object.entries((ready.objects ?? {}) as Record<string, string[]>).map((
        [name, methods],
      ) => [name, new Set(methods)]),
    );
  }

  /**
   * Starts python3 on the project and waits until it has imported it and run `init()`.
   *
   * @throws {AgentError} `START_FAILED` with the Python traceback when loading fails.
   */
  static async start(options: PythonStartOptions): Promise<PythonExecutor> {
    const listener = listenUnix(options.socketPath);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(options.command, {
        args: [
          options.hostScript,
          "--socket",
          options.socketPath,
          "--project",
          options.root,
          "--threads",
          String(options.threads),
          "--max-frame",
          String(options.maxFrameBytes),
          "--call-timeout",
          String(options.callTimeoutS),
        ],
        cwd: options.root,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { PYTHONUNBUFFERED: "1" },
      }).spawn();
    } catch (error) {
      listener.close();
      removeSocketFile(options.socketPath);
      throw new AgentError(
        ErrorCode.START_FAILED,
        `Cannot start Python project: ${options.command} could not be run: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    const exited = watchChild(child, outputLog);

    // Messages after `ready` go to the executor, once it exists.
    const box: { self?: PythonExecutor } = {};
    const early: [IpcMessage, Uint8Array | undefined][] = [];
    const first = Promise.withResolvers<IpcMessage>();
    let conn: Deno.UnixConn | undefined;
    try {
      conn = await Promise.race([
        acceptOne(listener, { timeoutMs: options.startTimeoutS * 1000, signal: options.signal }),
        exited.then((info) => {
          throw new AgentError(
            ErrorCode.START_FAILED,
            `Cannot start Python project: python exited with code ${info.code} before connecting`,
          );
        }),
      ]);
    } catch (error) {
      child.kill("SIGKILL");
      await exited;
      throw error;
    } finally {
      listener.close();
      removeSocketFile(options.socketPath);
    }
    const channel = new IpcChannel(conn, {
      maxFrameBytes: options.maxFrameBytes,
      onMessage(message, body) {
        if (box.self) box.self.#onMessage(message, body, options);
        else if (message.t === "ready" || message.t === "load_error") first.resolve(message);
        else early.push([message, body]);
      },
    });
    const timer = setTimeout(
      () =>
        first.reject(
          new AgentError(
            ErrorCode.START_FAILED,
            `Cannot start Python project: not loaded within ${options.startTimeoutS} s`,
          ),
        ),
      options.startTimeoutS * 1000,
    );
    exited.then((info) =>
      first.reject(
        new AgentError(
          ErrorCode.START_FAILED,
          `Cannot start Python project: python exited with code ${info.code} while loading`,
        ),
      )
    );
    let ready: IpcMessage;
    try {
      ready = await first.promise;
      if (ready.t === "load_error") {
        const error = ready.error as { type?: string; message?: string; traceback?: string };
        throw new AgentError(
          ErrorCode.START_FAILED,
          `Cannot start Python project: ${error.type ?? "Error"}: ${error.message ?? ""}`,
          { cause: error.traceback },
        );
      }
    } catch (error) {
      channel.close();
      child.kill("SIGKILL");
      await exited;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const self = box.self = new PythonExecutor(child, channel, ready, exited);
    for (const [message, body] of early) self.#onMessage(message, body, options);
    exited.then((info) => self.#onExit(info, options));
    log.info("Python project loaded: pid {pid}, objects {objects}", {
      pid: child.pid,
      objects: [...self.#objects.keys()],
    });
    return self;
  }

  /** The process id of python3. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The interpreter's version, as the host reported it. */
  get pythonVersion(): string {
    return this.#pythonVersion;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#running;
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Calls answered `TIMEOUT` or `CANCELLED` whose thread is still busy in project code
   * (blocked in C, where Python cannot interrupt it).
   */
  get abandoned(): number {
    return this.#abandonedCount;
  }

  /** The project's callable objects and their public methods. */
  get objects(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#objects;
  }

  /**
   * Calls `object.method(**args)`; the promise always resolves with the outcome,
   * including when the process dies first (`EXECUTOR_EXITED`). `args` is an object, or
   * its JSON (UTF-8) to pass on unparsed. With `rawResult`, a long result stays the JSON
   * text the host sent (`resultJson`), for passing on unparsed.
   */
  call(
    id: number,
    object: string,
    method: string,
    args: Record<string, unknown> | Uint8Array,
    options: { rawResult?: boolean } = {},
  ): Promise<CallOutcome> {
    return new Promise((resolve) => {
      if (!this.#running) {
        resolve(exitedOutcome(object, method));
        return;
      }
      this.#pending.set(id, { object, method, raw: options.rawResult === true, resolve });
      if (args instanceof Uint8Array) this.#channel.send({ t: "call", id, object, method }, args);
      else this.#channel.send({ t: "call", id, object, method, args });
    });
  }

  /** Asks the host to cancel call `id`; its outcome then resolves with `CANCELLED`. */
  cancel(id: number): boolean {
    if (!this.#pending.has(id)) return false;
    this.#channel.send({ t: "cancel", id });
    return true;
  }

  /** Runs the project's stop hooks (module `stop()` and `stop()` of objects in use). */
  safetyStop(): Promise<CallOutcome> {
    const id = this.#nextInternalId--;
    return new Promise((resolve) => {
      if (!this.#running) {
        resolve(exitedOutcome("*", "stop"));
        return;
      }
      this.#pending.set(id, { object: "*", method: "stop", raw: false, resolve });
      this.#channel.send({ t: "safety_stop", id });
    });
  }

  /** Shuts the process down: a clean shutdown first, SIGKILL after a grace period. */
  async stop(): Promise<ExitInfo> {
    if (this.#running) {
      this.#channel.send({ t: "shutdown" });
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // It exited between the check and the kill.
        }
      }, STOP_GRACE_MS);
      try {
        return await this.#exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return await this.#exited;
  }

  /** Kills the process at once. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  #onMessage(
    message: IpcMessage,
    body: Uint8Array | undefined,
    options: PythonStartOptions,
  ): void {
    if (message.t === "result") {
      const id = message.id as number;
      const pending = this.#pending.get(id);
      if (!pending) return;
      this.#pending.delete(id);
      if (!message.ok && isAbandoned(message.error)) this.#watchAbandoned(id, options);
      const outcome: CallOutcome = { object: pending.object, method: pending.method, ok: false };
      if (!message.ok) {
        outcome.error = message.error as CallOutcome["error"];
      } else {
        outcome.ok = true;
        // A long result comes as the body, as the host encoded it.
        if (body === undefined) outcome.result = message.result;
        else if (pending.raw) outcome.resultJson = body;
        else outcome.result = JSON.parse(decoder.decode(body));
      }
      pending.resolve(outcome);
    } else if (message.t === "settled") {
      this.#settleAbandoned(message.id as number);
    } else if (message.t === "event") {
      if (body === undefined) options.onEvent(String(message.event), message.data ?? null);
      else options.onEvent(String(message.event), undefined, body);
    }
  }

  #watchAbandoned(id: number, options: PythonStartOptions): void {
    const known = this.#abandoned.get(id);
    this.#abandonedCount++;
    if (known) {
      // The earlier deadline stands: the process is killed if either call overstays.
      known.count++;
      return;
    }
    const graceS = options.hardGraceS;
    const timer = setTimeout(() => {
      log.error(
        "Python call {id} stuck in native code past the hard grace of {grace} s; " +
          "restarting the Python process",
        { id, grace: graceS },
      );
      this.kill();
    }, graceS * 1000);
    this.#abandoned.set(id, { timer, count: 1 });
  }

  #settleAbandoned(id: number): void {
    const entry = this.#abandoned.get(id);
    if (!entry) return;
    this.#abandonedCount--;
    if (--entry.count > 0) return;
    clearTimeout(entry.timer);
    this.#abandoned.delete(id);
  }

  #onExit(info: ExitInfo, options: PythonStartOptions): void {
    this.#running = false;
    for (const { timer } of this.#abandoned.values()) clearTimeout(timer);
    this.#abandoned.clear();
    this.#abandonedCount = 0;
    this.#channel.close();
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.resolve(exitedOutcome(pending.object, pending.method, info));
    }
    log.info("Python project exited: code {code}, signal {signal}", { ...info });
    options.onExit(info);
  }
}

/** Whether the host answered a call while its thread was still running project code. */
function isAbandoned(error: unknown): boolean {
  const { code, abandoned } = (error ?? {}) as { code?: unknown; abandoned?: unknown };
  return abandoned === true && (code === "TIMEOUT" || code === "CANCELLED");
}

function exitedOutcome(object: string, method: string, info?: ExitInfo): CallOutcome {
  const how = info ? (info.signal ? `signal ${info.signal}` : `code ${info.code}`) : "earlier";
  return failedOutcome(
    object,
    method,
    ErrorCode.EXECUTOR_EXITED,
    "ExecutorExited",
    `Call failed: the Python process exited (${how}) before ${object}.${method} returned`,
  );
}
