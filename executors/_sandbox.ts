/**
 * Starting a project through the launcher (`python3 -m robot_agent_sandbox`), the one way
 * both executors start one: it confines the project's process layer by layer, reports what
 * is in force, and owns its whole process tree, which it ends when the project's main
 * process ends or the agent says so.
 *
 * The worker talks to the launcher through its stdin, one command a line (`signal NAME`,
 * `kill`); closing it stops the project. The launcher exits as the project's main process
 * did, so its status is the project's.
 *
 * @module
 */
import type { Confinement } from "../ipc/mod.ts";
import { IpcChannel, type Signallable, spawnConnected } from "../ipc/mod.ts";
import type { Logger } from "../log.ts";
import { type ExitInfo, watchChild } from "./_child.ts";
import type { RuntimeFiles } from "./_runtime.ts";

/**
 * What a project may touch, as the worker decided it from `sandbox` and the project's
 * manifest; `robot_agent_sandbox/spec.py` documents each field.
 */
export interface SandboxSpec {
  user: string;
  allow_root: boolean;
  /** Readable and executable: the host package, the project's version. */
  exec: string[];
  read: string[];
  write: string[];
  devices: string[];
  net: boolean;
  run: boolean;
  limits: Confinement["limits"];
  /** The agent's storage, hidden from the project but for the paths above inside it. */
  storage?: string;
  /** The project's data folder (kept across versions) and temp folder (emptied). */
  data?: string;
  tmp?: string;
  cgroup: string;
  pretend_missing: string[];
  /** Set in the project's environment. */
  env: Record<string, string>;
  /** Added to the message when the program cannot be executed. */
  exec_hint?: string;
  /** Tried in turn when the project's user may not run the program (argv[0]). */
  exec_fallbacks?: string[];
}

/** The launcher's messages, sent before the project's own on the connection. */
export type LauncherMessage =
  /** The project's process is confined and about to exec; `pid` is its id. */
  | { t: "confined"; pid: number; confinement: Confinement }
  /** A layer could not be set up, or the program not executed; nothing runs. */
  | { t: "launch_error"; error: string };

/** Options for {@linkcode LaunchedProject.start}. */
export interface LaunchOptions {
  /** The interpreter that runs the launcher: `python.command`, the one the worker may run. */
  interpreter: string;
  /** Where `robot_agent_sandbox` was installed; the launcher's working folder. */
  runtime: RuntimeFiles;
  sandbox: SandboxSpec;
  /** The project's program and its arguments, and its working folder. */
  argv: string[];
  cwd: string;
  /** Where the launcher connects. */
  socketPath: string;
  /** Hand the connection to the program as fd 3 (the Python host speaks on it). */
  passSocket: boolean;
  /** `argv[0]` is an interpreter: the folder above its own is readable and executable. */
  programPrefix: boolean;
  /** What the launcher sends when its control pipe closes, and how long before SIGKILL. */
  stopSignal?: Deno.Signal;
  stopGraceS?: number;
  timeoutMs: number;
  /** Names the project in messages ("Python project"). */
  what: string;
  /** Where the project's output goes. */
  output: Logger;
}

/** How long the launcher may take to end the tree after `kill` before it is killed too. */
const LAUNCHER_GRACE_MS = 3000;

const encoder = new TextEncoder();

/**
 * A project running under the launcher. It is {@linkcode Signallable}: `kill` goes through
 * the launcher to the project's main process (SIGKILL ends the whole tree), so the stopping
 * helpers of ipc/ work on it as on a plain child.
 */
export class LaunchedProject implements Signallable {
  /** The launcher's connection: the launcher's messages, then (Python) the host's. */
  readonly conn: Deno.UnixConn;
  #launcher: Deno.ChildProcess;
  #exited: Promise<ExitInfo>;
  #control: WritableStreamDefaultWriter<Uint8Array>;
  #confined: LauncherMessage & { t: "confined" } | undefined;
  #fallback: ReturnType<typeof setTimeout> | undefined;

  private constructor(launcher: Deno.ChildProcess, conn: Deno.UnixConn, exited: Promise<ExitInfo>) {
    this.#launcher = launcher;
    this.conn = conn;
    this.#control = launcher.stdin.getWriter();
    this.#exited = exited.finally(() => {
      clearTimeout(this.#fallback);
      // Only now: closing it earlier would tell the launcher to stop the project.
      this.#control.close().catch(() => {});
    });
  }

  /**
   * Starts the launcher and waits until it has connected (it has not confined the project
   * yet: its first message says so).
   *
   * @throws {Error} naming `what` when the launcher cannot run, exits or does not connect.
   */
  static async start(options: LaunchOptions): Promise<LaunchedProject> {
    let launcher: Deno.ChildProcess | undefined;
    let exited: Promise<ExitInfo> | undefined;
    try {
      const connected = await spawnConnected({
        program: options.interpreter,
        // -E -S: the launcher is stdlib only; no PYTHON* variables and no site-packages
        // (a pyenv's site imports cost ~20 ms) in a process that runs with the agent's rights.
        args: ["-E", "-S", "-m", "robot_agent_sandbox", "--spec", JSON.stringify(specOf(options))],
        socketPath: options.socketPath,
        cwd: options.runtime.hostPath,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        timeoutMs: options.timeoutMs,
        what: options.what,
        // Output is read from the first byte: a project printing while it loads must
        // never fill its pipe and stall.
        onSpawn: (child) => {
          launcher = child;
          exited = watchChild(child, options.output);
        },
      });
      return new LaunchedProject(connected.child, connected.conn, exited!);
    } catch (error) {
      await exited;
      await launcher?.stdin.close().catch(() => {});
      throw error;
    }
  }

  /** The project's main process once confined; the launcher's until then. */
  get pid(): number {
    return this.#confined?.pid ?? this.#launcher.pid;
  }

  /** What confines the project, once the launcher said. */
  get confinement(): Confinement | undefined {
    return this.#confined?.confinement;
  }

  /** The launcher's status, which is the project's main process's. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#launcher.status;
  }

  /** Resolves with the project's exit once its output is read (a bounded wait). */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  /** Records the launcher's `confined` message. */
  confined(message: LauncherMessage & { t: "confined" }): void {
    this.#confined = message;
  }

  /**
   * Sends `signal` to the project's main process. SIGKILL ends the whole tree; should the
   * launcher not exit then, it is killed too, which leaves the rest to the kernel.
   */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (signal !== "SIGKILL") return this.#send(`signal ${signal}\n`);
    this.#send("kill\n");
    this.#fallback ??= setTimeout(() => {
      try {
        this.#launcher.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, LAUNCHER_GRACE_MS);
  }

  /**
   * For a project whose connection is the launcher's alone (C++): resolves with what
   * confines it once the launcher's child has exec'd the program, which closes the
   * connection.
   *
   * @throws {Error} with the launcher's reason when it could not start the program.
   */
  async execed(timeoutMs: number): Promise<Confinement> {
    const outcome = Promise.withResolvers<Confinement>();
    const channel = new IpcChannel<LauncherMessage, never>(this.conn, {
      maxFrameBytes: 1 << 20,
      onMessage: (message) => {
        if (message.t === "confined") this.confined(message);
        else outcome.reject(new Error(message.error));
      },
    });
    const timer = setTimeout(
      () => outcome.reject(new Error(`not started within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    channel.closed.then(() => {
      const confined = this.confinement;
      if (confined) outcome.resolve(confined);
      else outcome.reject(new Error("the launcher exited before starting it"));
    });
    try {
      return await outcome.promise;
    } finally {
      clearTimeout(timer);
      channel.close();
    }
  }

  #send(line: string): void {
    this.#control.write(encoder.encode(line)).catch(() => {
      // The launcher is gone: nothing left to signal.
    });
  }
}

/** The launcher's spec: the sandbox and what to run in it. */
function specOf(options: LaunchOptions): Record<string, unknown> {
  return {
    ...options.sandbox,
    argv: options.argv,
    cwd: options.cwd,
    socket: options.socketPath,
    pass_socket: options.passSocket,
    program_prefix: options.programPrefix,
    stop_signal: options.stopSignal,
    stop_grace_s: options.stopGraceS,
  };
}
