/**
 * The C++ executor: runs a project's prebuilt executable as a child process.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import { logger } from "../log.ts";
import { type ExitInfo, watchChild } from "./_child.ts";

const log = logger("executors", "cpp");
const outputLog = logger("project", "cpp");

/** Replaces the interpreter with the executable: argv[1] is its path, the rest its args. */
const EXEC_TRAMPOLINE = "import os, sys; os.execv(sys.argv[1], sys.argv[1:])";

/** Options for {@linkcode CppExecutor.start}. */
export interface CppStartOptions {
  /** The project folder; the child's working directory. */
  root: string;
  /** The executable, relative to `root`. */
  entry: string;
  args: string[];
  /**
   * The interpreter that execs the executable (`python3`). The worker's `--allow-run`
   * names only the interpreter: Deno refuses to let a process write a path it may run,
   * and a deployed binary is always freshly written, so it is started through an exec
   * trampoline; the process then *is* the executable (same pid, signals reach it).
   */
  launcher: string;
  stopSignal: Deno.Signal;
  stopGraceS: number;
  /** Called once when the process has exited on its own or been stopped. */
  onExit(info: ExitInfo): void;
}

/** A running C++ project. */
export class CppExecutor {
  #child: Deno.ChildProcess;
  #exited: Promise<ExitInfo>;
  #running = true;
  #options: CppStartOptions;

  private constructor(
    child: Deno.ChildProcess,
    exited: Promise<ExitInfo>,
    options: CppStartOptions,
  ) {
    this.#child = child;
    this.#exited = exited;
    this.#options = options;
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
    const exited = watchChild(child, outputLog);
    const self = new CppExecutor(child, exited, options);
    exited.then((info) => {
      self.#running = false;
      log.info("C++ project exited: code {code}, signal {signal}", { ...info });
      options.onExit(info);
    });
    log.info("C++ project started: {entry}, pid {pid}", { entry: options.entry, pid: child.pid });
    return self;
  }

  /** The process id of the executable. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#running;
  }

  /** Sends a signal (the safety stop's configured signal, for example). */
  signal(signal: Deno.Signal): void {
    if (!this.#running) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the kill.
    }
  }

  /** Stops the process: the configured signal, then SIGKILL after the grace period. */
  async stop(): Promise<ExitInfo> {
    if (this.#running) {
      this.signal(this.#options.stopSignal);
      const timer = setTimeout(() => this.signal("SIGKILL"), this.#options.stopGraceS * 1000);
      try {
        return await this.#exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return await this.#exited;
  }
}
