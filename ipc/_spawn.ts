/**
 * Running a child process that connects back over a Unix socket: the one way the agent
 * starts the worker and each project host.
 *
 * @module
 */
import { acceptOne, listenUnix, removeSocketFile } from "./_socket.ts";

/** Options for {@linkcode spawnConnected}. */
export interface SpawnConnectedOptions {
  /** The program and its arguments. */
  program: string;
  args: readonly string[];
  /** Where to listen for the child's connection; the file is removed once it connected. */
  socketPath: string;
  /** Added to the agent's environment, or the whole environment with `clearEnv`. */
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  /** `piped` gives the caller the child's stdin (a control channel); the default is none. */
  stdin?: "piped" | "null";
  stdout?: "inherit" | "piped" | "null";
  stderr?: "inherit" | "piped" | "null";
  /** How long the child may take to connect. */
  timeoutMs: number;
  /** Names the child in error messages ("worker", "Python project"). */
  what: string;
  /**
   * Called with the child as soon as it runs, before it connects: to start reading piped
   * output, which must never wait until the connection is up.
   */
  onSpawn?(child: Deno.ChildProcess): void;
  signal?: AbortSignal;
}

/** Options for {@linkcode stopChild}. */
export interface StopChildOptions {
  /** Sent first; none means the caller already asked the child to exit its own way. */
  signal?: Deno.Signal;
  /** How long to wait for the exit before SIGKILL. */
  graceMs: number;
}

/**
 * What can be signalled and waited for: a `Deno.ChildProcess`, or a stand-in for one (the
 * confinement launcher, which passes signals on to the project's processes).
 */
export interface Signallable {
  kill(signal?: Deno.Signal): void;
  readonly status: Promise<Deno.CommandStatus>;
}

/** Sends a signal, ignoring a child that is already gone. */
export function signalChild(child: Signallable, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // It exited between the caller's check and the kill.
  }
}

/**
 * Stops a child: `signal` (if given), then SIGKILL once `graceMs` has passed without an
 * exit. Resolves with its status; the timer is cleared either way.
 */
export async function stopChild(
  child: Signallable,
  options: StopChildOptions,
): Promise<Deno.CommandStatus> {
  if (options.signal) signalChild(child, options.signal);
  const timer = setTimeout(() => signalChild(child, "SIGKILL"), options.graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** A child process and its connection, owned together; disposing kills what is left. */
export class ConnectedChild implements AsyncDisposable {
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Its connection; whoever builds a channel on it owns it from then on. */
  readonly conn: Deno.UnixConn;

  /** Wraps a child that has connected. */
  constructor(child: Deno.ChildProcess, conn: Deno.UnixConn) {
    this.child = child;
    this.conn = conn;
  }

  /** The child's process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Kills the child at once and waits for its exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // A channel built on it closed it already.
    }
    await stopChild(this.child, { signal: "SIGKILL", graceMs: 0 });
  }
}

/**
 * Listens on `socketPath`, spawns the child and waits until it connects. The listener and
 * its socket file are gone when this returns; a child that fails to connect in time, or
 * exits first, is killed and awaited, and the error says which.
 *
 * @throws {Error} naming `what` when the program cannot run, exits, or does not connect.
 */
export async function spawnConnected(options: SpawnConnectedOptions): Promise<ConnectedChild> {
  const listener = listenUnix(options.socketPath);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.program, {
      args: [...options.args],
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      stdin: options.stdin ?? "null",
      stdout: options.stdout ?? "inherit",
      stderr: options.stderr ?? "inherit",
    }).spawn();
  } catch (error) {
    listener.close();
    removeSocketFile(options.socketPath);
    throw new Error(
      `Cannot start ${options.what}: ${options.program} could not be run: ${
        error instanceof Error ? error.message : error
      }`,
      { cause: error },
    );
  }
  options.onSpawn?.(child);
  const exited = child.status.then((status) => {
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
    throw new Error(`Cannot start ${options.what}: it exited (${how}) before connecting`);
  });
  try {
    const conn = await Promise.race([
      acceptOne(listener, { timeoutMs: options.timeoutMs, signal: options.signal }),
      exited,
    ]);
    return new ConnectedChild(child, conn);
  } catch (error) {
    await stopChild(child, { signal: "SIGKILL", graceMs: 0 });
    const reason = error instanceof Error ? error.message : String(error);
    throw reason.startsWith("Cannot start") ? error : new Error(
      `Cannot start ${options.what}: ${reason}`,
      { cause: error },
    );
  } finally {
    exited.catch(() => {});
    listener.close();
    removeSocketFile(options.socketPath);
  }
}
