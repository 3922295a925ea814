/**
 * The C++ executor: runs a project's prebuilt executable, confined, through the launcher.
 *
 * @module
 */
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import {
  type CallOutcome,
  type Confinement,
  failedOutcome,
  signalChild,
  stopChild,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { ExitInfo } from "./_child.ts";
import type {
  CallRequest,
  Executor,
  ExecutorHooks,
  ExecutorStatus,
  SafetyAction,
} from "./_executor.ts";
import type { RuntimeFiles } from "./_runtime.ts";
import { LaunchedProject, type SandboxSpec } from "./_sandbox.ts";

const log = logger("executors", "cpp");
const outputLog = logger("project", "cpp");

const NO_OBJECTS: ReadonlyMap<string, ReadonlySet<string>> = new Map();

/** Options for {@linkcode CppExecutor.start}. */
export interface CppStartOptions extends Pick<ExecutorHooks, "onExit"> {
  /** The project folder; the child's working directory. */
  root: string;
  /** The executable, relative to `root`. */
  entry: string;
  args: readonly string[];
  /**
   * The interpreter that runs the launcher (`python3`), which execs the executable. The
   * worker's `--allow-run` names only the interpreter: Deno refuses to let a process write
   * a path it may run, and a deployed binary is always freshly written.
   */
  launcher: string;
  /** Where the launcher was installed. */
  runtime: RuntimeFiles;
  /** What the executable may touch. */
  sandbox: SandboxSpec;
  /** Where the launcher connects to report. */
  socketPath: string;
  /** How long the launcher may take to start the executable. */
  startTimeoutS: number;
  /** Sent by `stop` and by the safety stop. */
  stopSignal: Deno.Signal;
  /** How long `stop` waits after `stopSignal` before SIGKILL. */
  stopGraceS: number;
}

/** A running C++ project. It takes no calls: drive it through its own interfaces. */
export class CppExecutor implements Executor {
  #child: LaunchedProject;
  #exited: Promise<ExitInfo>;
  #running = true;
  #options: CppStartOptions;

  private constructor(child: LaunchedProject, options: CppStartOptions) {
    this.#child = child;
    this.#options = options;
    this.#exited = child.exited;
    this.#exited.then((info) => {
      this.#running = false;
      log.info("C++ project exited: code {code}, signal {signal}", { ...info });
      options.onExit(info);
    });
  }

  /**
   * Starts the executable, confined, with the project folder as working directory, and
   * resolves once it runs.
   *
   * @throws {AgentError} `START_FAILED` when the launcher cannot confine or exec it.
   */
  static async start(options: CppStartOptions): Promise<CppExecutor> {
    const executable = `${options.root}/${options.entry}`;
    const timeoutMs = options.startTimeoutS * 1000;
    let child: LaunchedProject | undefined;
    try {
      child = await LaunchedProject.start({
        interpreter: options.launcher,
        runtime: options.runtime,
        sandbox: options.sandbox,
        argv: [executable, ...options.args],
        cwd: options.root,
        socketPath: options.socketPath,
        passSocket: false,
        programPrefix: false,
        stopSignal: options.stopSignal,
        stopGraceS: options.stopGraceS,
        timeoutMs,
        what: "C++ project",
        output: outputLog,
      });
      await child.execed(timeoutMs);
    } catch (error) {
      if (child) {
        await stopChild(child, { signal: "SIGKILL", graceMs: 0 });
        await child.exited;
      }
      const reason = errorMessage(error);
      throw new AgentError(
        ErrorCode.START_FAILED,
        reason.startsWith("Cannot start")
          ? reason
          : `Cannot start C++ project: ${options.entry}: ${reason}`,
        { cause: error },
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

  /** What confines the executable. */
  get confinement(): Confinement | undefined {
    return this.#child.confinement;
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
