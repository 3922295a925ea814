/**
 * The Python executor: one python3 process per started project, running the shipped
 * host, which imports the project and serves calls over a Unix socket. It starts through
 * the launcher (`_sandbox.ts`), which confines it and hands it the connection.
 *
 * A fresh process per START is what makes a new UPDATE safe: Python cannot unload a
 * module, but it can exit.
 *
 * @module
 */
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import {
  type CallError,
  type CallOutcome,
  type Confinement,
  failedOutcome,
  IpcChannel,
  type ProjectDescription,
  signalChild,
  type StartFailure,
  stopChild,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { ExitInfo } from "./_child.ts";
import { Heartbeat } from "./_heartbeat.ts";
import type {
  CallOptions,
  CallRequest,
  Executor,
  ExecutorHooks,
  ExecutorStatus,
  SafetyAction,
} from "./_executor.ts";
import type {
  HostCommand,
  HostLoadError,
  HostMessage,
  HostReady,
  HostResult,
} from "./_host_protocol.ts";
import type { RuntimeFiles } from "./_runtime.ts";
import { LaunchedProject, type LauncherMessage, type SandboxSpec } from "./_sandbox.ts";

const log = logger("executors", "python");
const outputLog = logger("project", "python");

/** Options for {@linkcode PythonExecutor.start}. */
export interface PythonStartOptions extends ExecutorHooks {
  /** The files {@linkcode installRuntime} wrote: the host runs from them. */
  runtime: RuntimeFiles;
  /** The project folder holding `main.py` or `__init__.py`. */
  root: string;
  /** Where the launcher connects; removed once it has. */
  socketPath: string;
  /** The interpreter that runs the launcher, e.g. `python3` (`python.command`). */
  command: string;
  /**
   * The interpreter that runs the host as the project's user (`sandbox.python`): that user
   * must be able to run it.
   */
  python: string;
  /** What the project may touch. */
  sandbox: SandboxSpec;
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
   * Once loaded, the host is pinged every second; one that leaves a ping unanswered this
   * long (stopped, deadlocked) is killed, its calls answered `HUNG`. Unset: no heartbeat.
   */
  hangTimeoutS?: number;
}

interface Pending {
  object: string;
  method: string;
  /** Whether the outcome keeps the result as JSON text (`resultJson`) rather than parsed. */
  raw: boolean;
  resolve(outcome: CallOutcome): void;
}

/** A call the host answered while its thread was still running project code. */
interface Abandoned {
  /** Kills the process when the thread has not left project code in time. */
  timer: ReturnType<typeof setTimeout>;
  /** Abandoned calls under this id: ids are the caller's and may repeat. */
  count: number;
}

const decoder = new TextDecoder();

/** How long `stop` waits for a clean exit before SIGKILL. */
const STOP_GRACE_MS = 2000;

/** The host's command line, which the launcher execs once it has confined itself. */
function hostArgv(options: PythonStartOptions): string[] {
  return [
    options.python,
    "-m",
    "robot_agent_host",
    // The connection the launcher made, handed down as fd 3.
    "--socket-fd",
    "3",
    "--project",
    options.root,
    "--threads",
    String(options.threads),
    "--max-frame",
    String(options.maxFrameBytes),
    "--call-timeout",
    String(options.callTimeoutS),
  ];
}

/** A running Python project. Every call it accepts resolves exactly once. */
export class PythonExecutor implements Executor {
  #options: PythonStartOptions;
  #child: LaunchedProject;
  #channel: IpcChannel<HostMessage | LauncherMessage, HostCommand>;
  #exited: Promise<ExitInfo>;
  /** Settles with the host's first message: `ready`, or why it never came. */
  #loaded = Promise.withResolvers<HostReady>();
  #objects: ReadonlyMap<string, ReadonlySet<string>> = new Map();
  #pythonVersion = "";
  #description: ProjectDescription | undefined;
  #pending = new Map<number, Pending>();
  #abandoned = new Map<number, Abandoned>();
  #abandonedCount = 0;
  #running = true;
  /** Ids of the executor's own calls (the safety stop's); negative, so never a caller's. */
  #nextInternalId = -1;
  #heartbeat: Heartbeat | undefined;
  /** Heartbeat pings awaiting their `status` result, by id. */
  #pings = new Map<number, () => void>();
  /** Why the heartbeat killed the process, once it has. */
  #hung: string | undefined;

  private constructor(child: LaunchedProject, options: PythonStartOptions) {
    this.#options = options;
    this.#child = child;
    this.#exited = child.exited;
    // Built before the channel, so every message, the first included, has its receiver.
    this.#channel = new IpcChannel(child.conn, {
      maxFrameBytes: options.maxFrameBytes,
      onMessage: (message, body) => this.#onMessage(message, body),
    });
  }

  /**
   * Starts python3 on the project and waits until it has imported it and run `init()`.
   *
   * @throws {AgentError} `START_FAILED` when python cannot run, does not connect, or the
   * project fails to load (the message says which, with the Python exception).
   */
  static async start(options: PythonStartOptions): Promise<PythonExecutor> {
    let child: LaunchedProject;
    try {
      child = await LaunchedProject.start({
        interpreter: options.command,
        runtime: options.runtime,
        sandbox: {
          ...options.sandbox,
          env: { ...options.sandbox.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
        },
        argv: hostArgv(options),
        // The host changes into the project itself: started there, `-m` would put the
        // project first on sys.path, and its inspect.py or queue.py would replace the host's.
        cwd: options.runtime.hostPath,
        socketPath: options.socketPath,
        passSocket: true,
        programPrefix: true,
        timeoutMs: options.startTimeoutS * 1000,
        what: "Python project",
        output: outputLog,
      });
    } catch (error) {
      throw new AgentError(ErrorCode.START_FAILED, errorMessage(error), { cause: error });
    }
    const self = new PythonExecutor(child, options);
    await self.#load();
    return self;
  }

  /** Always `"python"`. */
  get type(): "python" {
    return "python";
  }

  /** The process id of python3. */
  get pid(): number {
    return this.#child.pid;
  }

  /** What confines the host and the project's code. */
  get confinement(): Confinement | undefined {
    return this.#child.confinement;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#running;
  }

  /** The project's callable objects and their public methods. */
  /** The project's objects described by its host (parameters, types, docstrings). */
  get description(): ProjectDescription | undefined {
    return this.#description;
  }

  get objects(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#objects;
  }

  /** True: the worker may restart an exited Python project for the next call. */
  get revivable(): boolean {
    return true;
  }

  /**
   * Calls `object.method(**args)`; the promise always resolves with the outcome,
   * including when the process dies first (`EXECUTOR_EXITED`). `args` is an object, or
   * its JSON (UTF-8) to pass on unparsed. With `rawResult`, a long result stays the JSON
   * text the host sent (`resultJson`), for passing on unparsed.
   */
  call(id: number, request: CallRequest, options: CallOptions = {}): Promise<CallOutcome> {
    const { object, method, args } = request;
    return new Promise((resolve) => {
      if (!this.#running) {
        resolve(exitedOutcome(object, method));
        return;
      }
      this.#pending.set(id, { object, method, raw: options.rawResult === true, resolve });
      try {
        const timeout = options.timeoutS === undefined ? {} : { timeout: options.timeoutS };
        if (args instanceof Uint8Array) {
          this.#channel.send({ t: "call", id, object, method, ...timeout }, args);
        } else this.#channel.send({ t: "call", id, object, method, args, ...timeout });
      } catch (error) {
        // Args over the frame limit: the gateway's own limit is lower, so only a bug.
        this.#pending.delete(id);
        resolve(failedOutcome(
          object,
          method,
          ErrorCode.MESSAGE_TOO_LARGE,
          "RangeError",
          `Cannot call ${object}.${method}: ${errorMessage(error)}`,
        ));
      }
    });
  }

  /** Asks the host to cancel call `id`; its outcome then resolves with `CANCELLED`. */
  cancel(id: number): boolean {
    if (!this.#pending.has(id)) return false;
    this.#channel.send({ t: "cancel", id });
    return true;
  }

  /**
   * Runs the project's stop hooks (module `stop()` and `stop()` of objects in use) and
   * those of `calls` whose object and method the project has, all at once.
   */
  safetyStop(calls: readonly CallRequest[]): Promise<SafetyAction[]> {
    if (!this.#running) return Promise.resolve([]);
    const hooks = new Promise<CallOutcome>((resolve) => {
      const id = this.#nextInternalId--;
      this.#pending.set(id, { object: "*", method: "stop", raw: false, resolve });
      this.#channel.send({ t: "safety_stop", id });
    });
    const runs = calls
      .filter((call) => this.#objects.get(call.object)?.has(call.method))
      .map((call) => this.call(this.#nextInternalId--, call));
    return Promise.all([hooks, ...runs]);
  }

  /** The interpreter's version and the calls in flight and abandoned. */
  status(): ExecutorStatus {
    return {
      python: this.#pythonVersion,
      abandoned_calls: this.#abandonedCount,
      in_flight: this.#pending.size,
    };
  }

  /** Shuts the process down: a clean shutdown first, SIGKILL after a grace period. */
  async stop(): Promise<ExitInfo> {
    this.#heartbeat?.stop();
    if (this.#running) {
      this.#channel.send({ t: "shutdown" });
      await stopChild(this.#child, { graceMs: STOP_GRACE_MS });
    }
    return await this.#exited;
  }

  /** Waits for `ready`; on anything else the process is killed and awaited. */
  async #load(): Promise<void> {
    const timeoutS = this.#options.startTimeoutS;
    const timer = setTimeout(() => {
      this.#loaded.reject(
        new AgentError(
          ErrorCode.START_FAILED,
          `Cannot start Python project: not loaded within ${timeoutS} s`,
        ),
      );
    }, timeoutS * 1000);
    this.#exited.then((info) =>
      this.#loaded.reject(
        new AgentError(
          ErrorCode.START_FAILED,
          `Cannot start Python project: python exited (${describeExit(info)}) while loading`,
        ),
      )
    );
    try {
      const ready = await this.#loaded.promise;
      this.#pythonVersion = ready.python;
      this.#description = ready.describe;
      this.#objects = new Map(
        Object.entries(ready.objects).map(([name, methods]) => [name, new Set(methods)]),
      );
    } catch (error) {
      this.#channel.close();
      await stopChild(this.#child, { signal: "SIGKILL", graceMs: 0 });
      await this.#exited;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.#exited.then((info) => this.#onExit(info));
    log.info("Python project loaded: pid {pid}, objects {objects}", {
      pid: this.#child.pid,
      objects: [...this.#objects.keys()],
    });
    this.#startHeartbeat();
  }

  #startHeartbeat(): void {
    const timeoutS = this.#options.hangTimeoutS;
    if (timeoutS === undefined || !this.#running) return;
    this.#heartbeat = new Heartbeat({
      timeoutMs: timeoutS * 1000,
      ping: () =>
        new Promise<void>((resolve) => {
          const id = this.#nextInternalId--;
          this.#pings.set(id, resolve);
          this.#channel.send({ t: "status", id });
        }),
      onSilent: (silentMs) => {
        this.#hung = `the Python process (pid ${this.#child.pid}) did not answer its ` +
          `heartbeat for ${(silentMs / 1000).toFixed(1)} s and was killed`;
        log.error("Python project hung: {what}; the next call restarts it", { what: this.#hung });
        signalChild(this.#child, "SIGKILL");
      },
    });
  }

  #onMessage(message: HostMessage | LauncherMessage, body: Uint8Array | undefined): void {
    switch (message.t) {
      case "confined":
        return this.#child.confined(message);
      case "launch_error":
        return this.#loaded.reject(
          new AgentError(ErrorCode.START_FAILED, `Cannot start Python project: ${message.error}`),
        );
      case "result":
        return this.#onResult(message, body);
      case "event":
        // Long data comes as the body, as the host encoded it.
        if (body === undefined) this.#options.onEvent(message.event, message.data ?? null);
        else this.#options.onEvent(message.event, undefined, body);
        return;
      case "settled":
        return this.#settleAbandoned(message.id);
      case "ready":
        if (message.ready === false) return this.#loaded.reject(notReady());
        return this.#loaded.resolve(message);
      case "load_error":
        return this.#loaded.reject(loadError(message.error));
    }
  }

  #onResult(message: HostResult, body: Uint8Array | undefined): void {
    const ping = this.#pings.get(message.id);
    if (ping) {
      this.#pings.delete(message.id);
      return ping();
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    const { object, method } = pending;
    if (!message.ok) {
      if (isAbandoned(message.error)) this.#watchAbandoned(message.id);
      pending.resolve({ object, method, ok: false, error: message.error });
    } else if (body === undefined) {
      pending.resolve({ object, method, ok: true, result: message.result });
    } else if (pending.raw) {
      // A long result comes as the body, as the host encoded it.
      pending.resolve({ object, method, ok: true, resultJson: body });
    } else {
      pending.resolve({ object, method, ok: true, result: JSON.parse(decoder.decode(body)) });
    }
  }

  #watchAbandoned(id: number): void {
    const known = this.#abandoned.get(id);
    this.#abandonedCount++;
    if (known) {
      // The earlier deadline stands: the process is killed if either call overstays.
      known.count++;
      return;
    }
    const graceS = this.#options.hardGraceS;
    const timer = setTimeout(() => {
      log.error(
        "Python call {id} stuck in native code past the hard grace of {grace} s; " +
          "restarting the Python process",
        { id, grace: graceS },
      );
      signalChild(this.#child, "SIGKILL");
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

  #onExit(info: ExitInfo): void {
    this.#running = false;
    this.#heartbeat?.stop();
    this.#pings.clear();
    for (const { timer } of this.#abandoned.values()) clearTimeout(timer);
    this.#abandoned.clear();
    this.#abandonedCount = 0;
    this.#channel.close();
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.resolve(
        this.#hung === undefined
          ? exitedOutcome(pending.object, pending.method, info)
          : hungOutcome(pending.object, pending.method, this.#hung),
      );
    }
    log.info("Python project exited: code {code}, signal {signal}", { ...info });
    this.#options.onExit(info, { hung: this.#hung !== undefined });
  }
}

/** Whether the host answered a call while its thread was still running project code. */
function isAbandoned(error: CallError): boolean {
  return error.abandoned === true &&
    (error.code === ErrorCode.TIMEOUT || error.code === ErrorCode.CANCELLED);
}

/** START_FAILED for a project whose import, `init()` or `ready()` raised, with where. */
function loadError(error: HostLoadError["error"]): AgentError {
  const { type, message, traceback } = error;
  const file = error.file ?? null;
  const line = error.line ?? null;
  const where = file === null ? "" : ` (${file}${line === null ? "" : `:${line}`})`;
  const data: StartFailure = { type, message, traceback, file, line };
  return new AgentError(
    ErrorCode.START_FAILED,
    `Cannot start Python project: ${type}: ${message}${where}`,
    { data: { ...data } },
  );
}

function notReady(): AgentError {
  const message = "ready() returned a false value";
  const data: StartFailure = { type: "NotReady", message, traceback: null, file: null, line: null };
  return new AgentError(ErrorCode.START_FAILED, `Cannot start Python project: ${message}`, {
    data: { ...data },
  });
}

function hungOutcome(object: string, method: string, why: string): CallOutcome {
  return failedOutcome(
    object,
    method,
    ErrorCode.HUNG,
    "ExecutorHung",
    `Call failed: ${why} before ${object}.${method} returned; the next call restarts it`,
  );
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`;
}

function exitedOutcome(object: string, method: string, info?: ExitInfo): CallOutcome {
  return failedOutcome(
    object,
    method,
    ErrorCode.EXECUTOR_EXITED,
    "ExecutorExited",
    `Call failed: the Python process exited (${
      info ? describeExit(info) : "earlier"
    }) before ${object}.${method} returned`,
  );
}
