/**
 * The C++ executor: runs a project's prebuilt executable as a child process.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import { logger } from "../log.ts";
import { pipeLines } from "./_log_lines.ts";
import type { ExitInfo } from "./_python.ts";

const log = logger("executors", "cpp");
const outputLog = logger("project", "cpp");

/** Options for {@linkcode CppExecutor.start}. */
export interface CppStartOptions {
  /** The project folder; the child's working directory. */
  root: string;
  /** The executable, relative to `root`. */
  entry: string;
  args: string[];
  /**
   * The fixed path the executable is linked to before it runs. The worker's
   * `--allow-run` names this one path, so the worker can run a deployed binary and
   * nothing else.
   */
  launchPath: string;
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
   * @throws {AgentError} `START_FAILED` when it cannot be linked or spawned.
   */
  static async start(options: CppStartOptions): Promise<CppExecutor> {
    const source = `${options.root}/${options.entry}`;
    let child: Deno.ChildProcess;
    try {
      await Deno.remove(options.launchPath).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      try {
        await Deno.link(source, options.launchPath);
      } catch {
        // Another file system (or no hard links): a copy keeps the same bytes and mode.
        await Deno.copyFile(source, options.launchPath);
      }
      child = new Deno.Command(options.launchPath, {
        args: options.args,
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
    const output = Promise.all([
      pipeLines(child.stdout, outputLog, "info"),
      pipeLines(child.stderr, outputLog, "warn"),
    ]);
    const exited = child.status.then(async (status) => {
      await output;
      return { code: status.code, signal: status.signal };
    });
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
