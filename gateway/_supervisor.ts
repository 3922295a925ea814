/**
 * Runs the worker process: spawns it, connects the IPC channel, restarts it when it
 * exits, and answers for it while it is gone.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import {
  type CallMessage,
  type ConnectedChild,
  type ErrorReply,
  type GatewayMessage,
  IpcChannel,
  type OpParams,
  type ProjectTable,
  type ReplyMessage,
  spawnConnected,
  stopChild,
  type WorkerMessage,
  type WorkerOp,
} from "../ipc/mod.ts";
import { emitLog, logger, ROOT_CATEGORY } from "../log.ts";
import type { WorkerLink, WorkerLinkListener, WorkerState } from "./_link.ts";
import { RawJson } from "./_replies.ts";

const log = logger("gateway", "supervisor");
const decoder = new TextDecoder();

/**
 * Requests that may overtake queued ones: they do not depend on what was sent before
 * them, and a robot command must not wait behind megabytes of upload. Calls and cancels
 * are always urgent.
 */
const URGENT_OPS: ReadonlySet<WorkerOp> = new Set(["status", "safety_stop"]);

/**
 * The worker's environment, added to the gateway's.
 * - glibc raises its mmap threshold after the first large free, after which upload-sized
 *   buffers come from heap arenas that are never given back to the system: a 100 MB
 *   upload then leaves the worker ~60 MB larger for good. A fixed threshold keeps them
 *   mmapped.
 * - `deno run` checks for a newer Deno in the background: it loads the system's CA
 *   certificates and resolves Deno's download host, ~1.5 MiB of memory per process on a
 *   robot that may have no internet at all. (A compiled binary never checks.)
 */
const WORKER_ENV = { MALLOC_MMAP_THRESHOLD_: "131072", DENO_NO_UPDATE_CHECK: "1" };

/** How often the worker is pinged; one that misses `worker.hang_timeout_s` of them is killed. */
const HEARTBEAT_MS = 500;

/** How long a stopping worker may take to exit after its channel closed. */
const STOP_GRACE_MS = 5000;

/** How to launch the worker: a program and its arguments (the IPC path is appended). */
export interface WorkerCommand {
  program: string;
  args: string[];
}

/** Options for {@linkcode WorkerSupervisor}. */
export interface SupervisorOptions {
  command: WorkerCommand;
  /** The Unix socket the worker connects to. */
  ipcPath: string;
  config: AgentConfig;
  maxFrameBytes: number;
}

interface Pending {
  resolve(reply: ReplyMessage): void;
}

/** The listener used until the gateway listens: drops what it is told. */
const NO_LISTENER: WorkerLinkListener = {
  onCallback() {},
  onEvent() {},
  onProject() {},
  onWorkerExit() {},
  onState() {},
};

/** Keeps one worker process running and carries requests and calls to it. */
export class WorkerSupervisor implements WorkerLink, AsyncDisposable {
  #options: SupervisorOptions;
  #listener: WorkerLinkListener = NO_LISTENER;
  #channel: IpcChannel<WorkerMessage, GatewayMessage> | undefined;
  #process: ConnectedChild | undefined;
  #state: WorkerState = "stopped";
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #restarts = 0;
  #recentCrashes: number[] = [];
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The unanswered ping: its id and when it went out. */
  #ping: { id: number; at: number } | undefined;
  #nextPing = 1;
  /** Set when the worker was killed for not answering: how it is reported. */
  #hung: string | undefined;
  /** Aborted by {@linkcode stop}: ends a spawn that is waiting for the worker to connect. */
  #abort = new AbortController();
  #ready = WorkerSupervisor.#pendingReady();
  #exited: Promise<void> = Promise.resolve();
  /** The launch under way, if any; settles (never rejects) once it succeeded or failed. */
  #launching: Promise<void> = Promise.resolve();

  static #pendingReady(): PromiseWithResolvers<void> {
    const ready = Promise.withResolvers<void>();
    ready.promise.catch(() => {});
    return ready;
  }

  /** Creates a supervisor; {@linkcode start} launches the worker. */
  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** The worker's state. */
  get state(): WorkerState {
    return this.#state;
  }

  /** The worker's process id, while it runs. */
  get pid(): number | null {
    return this.#state === "running" ? this.#process?.pid ?? null : null;
  }

  /** How many times the worker was restarted after exiting. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Sets where pushed messages go. */
  listen(listener: WorkerLinkListener): void {
    this.#listener = listener;
  }

  /** Launches the worker and waits until it is ready. */
  async start(): Promise<void> {
    try {
      await this.#launch();
    } catch (error) {
      this.#setState("stopped");
      this.#ready.reject(error);
      throw error;
    }
  }

  /** Sends a request; see {@linkcode WorkerLink.request}. */
  request<K extends WorkerOp>(
    op: K,
    params: OpParams<K>,
    body?: Uint8Array,
  ): Promise<ReplyMessage<K>> {
    if (this.#state === "starting" || this.#state === "restarting") {
      // Hold the request until the worker is back rather than fail it.
      return this.#ready.promise.then(
        () => this.request(op, params, body),
        () => this.#unavailable(this.#nextId++),
      );
    }
    const id = this.#nextId++;
    const channel = this.#channel;
    if (this.#state !== "running" || !channel?.isOpen) {
      return Promise.resolve(this.#unavailable(id));
    }
    return new Promise<ReplyMessage>((resolve) => {
      this.#pending.set(id, { resolve });
      try {
        const message = { t: "req", id, op, params } as GatewayMessage;
        channel.send(message, body, { urgent: URGENT_OPS.has(op) });
      } catch (error) {
        this.#pending.delete(id);
        resolve(errorReply(id, ErrorCode.MESSAGE_TOO_LARGE, error));
      }
      // One reply per id: the worker answers request `id` with operation `op`'s data.
    }) as Promise<ReplyMessage<K>>;
  }

  /** Sends a call; see {@linkcode WorkerLink.call}. */
  call(message: CallMessage, argsJson?: Uint8Array): boolean {
    const channel = this.#channel;
    if (this.#state !== "running" || !channel?.isOpen) return false;
    channel.send(message, argsJson, { urgent: true });
    return true;
  }

  /** Asks the worker to stop a call. */
  cancel(id: number): void {
    if (this.#state === "running") {
      this.#channel?.send({ t: "cancel", id }, undefined, { urgent: true });
    }
  }

  /** Stops the worker: closes the channel, waits for its exit, kills it after a grace period. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#heartbeat);
    this.#abort.abort(new Error("the agent is stopping"));
    this.#ready.reject(new Error("stopping"));
    clearTimeout(this.#restartTimer);
    this.#channel?.close();
    const running = this.#process;
    if (running) await stopChild(running.child, { graceMs });
    // A launch under way ends too: the abort stops a spawn that waits for the worker to
    // connect, the closed channel a wait for ready.
    await this.#launching;
    await this.#exited;
    this.#setState("stopped");
  }

  /** Stops the worker (the agent's shutdown). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Kills the worker with SIGKILL (tests and benchmarks use this to simulate a crash). */
  kill(): void {
    try {
      this.#process?.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  #setState(state: WorkerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#listener.onState(state);
  }

  #unavailable(id: number): ErrorReply {
    const why = this.#state === "crashed"
      ? "the worker crashed repeatedly and is stopped; see the agent's log"
      : this.#stopping
      ? "the agent is shutting down"
      : "the worker is restarting; retry in a moment";
    const code = this.#stopping ? ErrorCode.SHUTTING_DOWN : ErrorCode.WORKER_UNAVAILABLE;
    return { t: "res", id, ok: false, code, message: `Cannot reach worker: ${why}` };
  }

  #launch(): Promise<void> {
    const launch = this.#spawnAndInit();
    this.#launching = launch.catch(() => {});
    return launch;
  }

  async #spawnAndInit(): Promise<void> {
    this.#setState("starting");
    const { command, ipcPath, config, maxFrameBytes } = this.#options;
    const running = await spawnConnected({
      program: command.program,
      args: [...command.args, ipcPath],
      socketPath: ipcPath,
      env: WORKER_ENV,
      timeoutMs: config.worker.start_timeout_s * 1000,
      what: "worker",
      signal: this.#abort.signal,
    });
    if (this.#stopping) {
      // It connected just as stop() began: stop() cannot have seen it.
      await running[Symbol.asyncDispose]();
      throw new Error("Cannot start worker: the agent is stopping");
    }
    this.#process = running;
    this.#exited = running.child.status.then((status) => this.#onExit(running, status));
    const ready = Promise.withResolvers<void>();
    let project: ProjectTable | null = null;
    const channel = new IpcChannel<WorkerMessage, GatewayMessage>(running.conn, {
      maxFrameBytes,
      onMessage: (message, body) => {
        if (message.t === "ready") ready.resolve();
        else if (message.t === "project" && this.#state === "starting") project = message.project;
        else this.#onMessage(message, body);
      },
    });
    this.#channel = channel;
    channel.send({ t: "init", config });
    channel.closed.then(() =>
      ready.reject(new Error("Cannot start worker: it closed the channel"))
    );
    await this.#untilReady(running, ready);
    // Running first (calls may be sent), then the table (held calls are judged against
    // it), then the state's news: told "running" before the table, the gateway would judge
    // held calls against no table at all.
    this.#state = "running";
    this.#listener.onProject(project);
    this.#listener.onState("running");
    this.#ready.resolve();
    this.#startHeartbeat(running);
    log.info("Worker running: pid {pid}", { pid: running.pid });
  }

  /**
   * Pings the worker; one that has not answered for `worker.hang_timeout_s` (stopped with
   * SIGSTOP, stuck in a loop) is killed, and the restart path takes over.
   */
  #startHeartbeat(running: ConnectedChild): void {
    clearInterval(this.#heartbeat);
    this.#ping = undefined;
    this.#hung = undefined;
    const limitMs = this.#options.config.worker.hang_timeout_s * 1000;
    this.#heartbeat = setInterval(() => {
      if (this.#process !== running || this.#state !== "running") return;
      const now = performance.now();
      if (this.#ping && now - this.#ping.at > limitMs) {
        this.#hung = `it stopped answering for ${Math.round((now - this.#ping.at) / 100) / 10} s`;
        log.error("Worker pid {pid} is hung ({how}); killing it", {
          pid: running.pid,
          how: this.#hung,
        });
        clearInterval(this.#heartbeat);
        running.child.kill("SIGKILL");
        return;
      }
      if (this.#ping) return;
      this.#ping = { id: this.#nextPing++, at: now };
      this.#channel?.send({ t: "ping", id: this.#ping.id }, undefined, { urgent: true });
    }, Math.min(HEARTBEAT_MS, limitMs / 2));
  }

  /**
   * Waits for the worker's `ready`, for at most `worker.start_timeout_s` plus
   * `python.start_timeout_s`: its boot may start the current project, which has that
   * long. A worker that is not ready by then, or closed the channel, is killed, so the
   * caller's retry (a restart, or the agent's own exit) starts from nothing.
   */
  async #untilReady(
    running: ConnectedChild,
    ready: PromiseWithResolvers<void>,
  ): Promise<void> {
    const { worker, python } = this.#options.config;
    const limitS = worker.start_timeout_s + python.start_timeout_s;
    const keys = "worker.start_timeout_s + python.start_timeout_s";
    const timer = setTimeout(
      () => ready.reject(new Error(`Cannot start worker: not ready within ${limitS} s (${keys})`)),
      limitS * 1000,
    );
    try {
      await ready.promise;
    } catch (error) {
      // When stopping, stop() ends the process its own way, with its grace period.
      if (!this.#stopping) {
        await stopChild(running.child, { signal: "SIGKILL", graceMs: 0 });
        await this.#exited;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #onMessage(message: WorkerMessage, body: Uint8Array | undefined): void {
    switch (message.t) {
      case "pong":
        if (this.#ping?.id === message.id) this.#ping = undefined;
        return;
      case "res": {
        const pending = this.#pending.get(message.id);
        if (!pending) return;
        this.#pending.delete(message.id);
        pending.resolve(message);
        return;
      }
      case "cb": {
        const outcome = message.data;
        // The result's JSON, as the project's host encoded it: passed on unparsed.
        if (body !== undefined) outcome.result = new RawJson(decoder.decode(body));
        this.#listener.onCallback(message.id, outcome);
        return;
      }
      case "event":
        this.#listener.onEvent(
          message.event,
          body !== undefined ? new RawJson(decoder.decode(body)) : message.data ?? null,
        );
        return;
      case "project":
        this.#listener.onProject(message.project);
        return;
      case "log": {
        // The worker's records: its category says where they come from.
        const { level, category, properties } = message;
        emitLog({
          level,
          category: category[0] === ROOT_CATEGORY ? category : [ROOT_CATEGORY, "worker"],
          message: message.message,
          properties,
        });
        return;
      }
    }
  }

  #onExit(running: ConnectedChild, status: Deno.CommandStatus): void {
    if (this.#process !== running) return;
    clearInterval(this.#heartbeat);
    this.#channel?.close();
    this.#channel = undefined;
    const how = this.#hung ?? (status.signal ? `signal ${status.signal}` : `code ${status.code}`);
    for (const [id, pending] of this.#pending) {
      pending.resolve({
        t: "res",
        id,
        ok: false,
        code: ErrorCode.WORKER_EXITED,
        message: `Request failed: the worker exited (${how}) before replying`,
      });
    }
    this.#pending.clear();
    this.#listener.onProject(undefined);
    this.#listener.onWorkerExit(how, { hung: this.#hung !== undefined });
    // A worker that dies while starting is retried by whoever started it.
    if (this.#stopping || this.#state !== "running") return;
    log.error("Worker exited unexpectedly ({how}); restarting", { how });
    this.#scheduleRestart(how);
  }

  #scheduleRestart(how: string): void {
    const { worker } = this.#options.config;
    const now = performance.now();
    this.#recentCrashes = this.#recentCrashes.filter((t) =>
      now - t < worker.crash_loop_window_s * 1000
    );
    this.#recentCrashes.push(now);
    if (this.#recentCrashes.length > worker.crash_loop_restarts) {
      this.#ready.reject(new Error("worker crashed"));
      this.#setState("crashed");
      log.fatal("Worker crashed {n} times in {s} s; not restarting it", {
        n: this.#recentCrashes.length,
        s: worker.crash_loop_window_s,
      });
      this.#listener.onEvent("worker_crashed", { restarts: this.#restarts, exit: how });
      return;
    }
    // After a running worker exits, waiters need a new promise; after a failed restart
    // they already hold the pending one.
    if (this.#state === "running") this.#ready = WorkerSupervisor.#pendingReady();
    this.#setState("restarting");
    const delay = Math.min(
      worker.restart_delay_ms * 2 ** (this.#recentCrashes.length - 1),
      worker.restart_max_delay_ms,
    );
    this.#restartTimer = setTimeout(() => this.#restart(how), delay);
  }

  async #restart(how: string): Promise<void> {
    this.#restartTimer = undefined;
    this.#restarts++;
    try {
      await this.#launch();
      this.#listener.onEvent("worker_restarted", {
        pid: this.#process?.pid,
        restarts: this.#restarts,
        exit: how,
      });
    } catch (error) {
      // Stopping ended the launch on purpose.
      if (this.#stopping) return;
      log.error("Worker restart failed: {error}", { error: String(error) });
      this.#scheduleRestart("start failure");
    }
  }
}

function errorReply(id: number, code: ErrorCode, error: unknown): ErrorReply {
  const message = error instanceof Error ? error.message : String(error);
  return { t: "res", id, ok: false, code, message };
}
