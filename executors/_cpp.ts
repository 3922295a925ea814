/**
 * The C++ executor: runs a project's prebuilt executable as a child process.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import { type CallOutcome, failedOutcome, signalChild, stopChild } from "../ipc/mod.ts";
import { logger } from "../log.ts";
import { type ExitInfo, watchChild } from "./_child.ts";
import type {
  CallRequest,
  Executor,
  ExecutorHooks,
  ExecutorStatus,
  SafetyAction,
} from "./_executor.ts";

const log = logger("executors", "cpp");
const outputLog = logger("project", "cpp");

/** Replaces the interpreter with the executable: argv[1] is its path, the rest its args. */
const EXEC_TRAMPOLINE = "import os, sys; os.execv(sys.argv[1], sys.argv[1:])";

const NO_OBJECTS: ReadonlyMap<string, ReadonlySet<string>> = new Map();

/** Options for {@linkcode CppExecutor.start}. */
export interface CppStartOptions extends Pick<ExecutorHooks, "onExit"> {
  /** The project folder; the child's working directory. */
  root: string;
  /** The executable, relative to `root`. */
  entry: string;
  args: readonly string[];
  /**
   * The interpreter that execs the executable (`python3`). The worker's `--allow-run`
   * names only the interpreter: Deno refuses to let a process write a path it may run,
   * and a deployed binary is always freshly written, so it is started through an exec
   * trampoline; the process then *is* the executable (same pid, signals reach it).
   */
  launcher: string;
  /** Sent by `stop` and by the safety stop. */
  stopSignal: Deno.Signal;
  /** How long `stop` waits after `stopSignal` before SIGKILL. */
  stopGraceS: number;
}

/** A running C++ project. It takes no calls: drive it through its own interfaces. */
export class CppExecutor implements Executor {
  #child: Deno.ChildProcess;
  #exited: Promise<ExitInfo>;
  #running = true;
  #options: CppStartOptions;

  private constructor(child: Deno.ChildProcess, options: CppStartOptions) {
    this.#child = child;
    this.#options = options;
    this.#exited = watchChild(child, outputLog);
    this.#exited.then((info) => {
      this.#running = false;
      log.info("C++ project exited: code {code}, signal {signal}", { ...info });
      options.onExit(info);
    });
  }

  /**
   * Starts the executable with the project folder as working directory.
   *
   * @throws {AgentError} `START_FAILED` when it cannot be spawned.
   */
  static start(options: CppStartOptions): CppExecutor {
    const executable = `${options.root}/${options.entry}`;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(options.launcher, {
        args: ["-c", EXEC_TRAMPOLINE, executable, ...options.args],
        cwd: options.root,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new AgentError(
        ErrorCode.START_FAILED,
        `Cannot start C++ project: ${options.entry}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    log.info("C++ project started: {entry}, pid {pid}", { entry: options.entry, pid: child.pid });
    return new CppExecutor(child, options);
  }

  /** Always `"cpp"`. */
  get type(): "cpp" {
    return "cpp";
  }

  /** The process id of the executable. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#running;
  }

  /** None: a C++ project takes no calls. */
  get objects(): ReadonlyMap<string, ReadonlySet<string>> {
    return NO_OBJECTS;
  }

  /** False: an executable that exited stays stopped until the next start. */
  get revivable(): boolean {
    return false;
  }

  /** Resolves at once with `NOT_SUPPORTED`. */
  call(_id: number, request: CallRequest): Promise<CallOutcome> {
    return Promise.resolve(failedOutcome(
      request.object,
      request.method,
      ErrorCode.NOT_SUPPORTED,
      "CallRefused",
      "Cannot call method: the current project is a C++ executable, which takes no calls",
    ));
  }

  /** False: no call is ever in flight. */
  cancel(_id: number): boolean {
    return false;
  }

  /** Sends the stop signal (the calls do not apply); nothing when it has exited. */
  safetyStop(_calls: readonly CallRequest[]): Promise<SafetyAction[]> {
    if (!this.#running) return Promise.resolve([]);
    signalChild(this.#child, this.#options.stopSignal);
    return Promise.resolve([{ signal: this.#options.stopSignal }]);
  }

  /** No interpreter, no calls. */
  status(): ExecutorStatus {
    return { python: null, abandoned_calls: 0, in_flight: 0 };
  }

  /** Stops the process: the configured signal, then SIGKILL after the grace period. */
  async stop(): Promise<ExitInfo> {
    if (this.#running) {
      await stopChild(this.#child, {
        signal: this.#options.stopSignal,
        graceMs: this.#options.stopGraceS * 1000,
      });
    }
    return await this.#exited;
  }
}
