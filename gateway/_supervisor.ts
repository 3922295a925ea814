/**
 * Runs the worker process: spawns it, connects the IPC channel, restarts it when it
 * exits, and answers for it while it is gone.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import {
  acceptOne,
  type CallOutcome,
  failedOutcome,
  IpcChannel,
  type IpcMessage,
  listenUnix,
  removeSocketFile,
  type ReplyMessage,
  type WorkerOp,
} from "../ipc/mod.ts";
import { emitLog, LOG_LEVELS, logger, ROOT_CATEGORY } from "../log.ts";
import { RawJson } from "./_protocol.ts";

const log = logger("gateway", "supervisor");
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Requests that may overtake queued ones: they do not depend on what was sent before
 * them, and a robot command must not wait behind megabytes of upload.
 */
const URGENT_OPS: ReadonlySet<WorkerOp> = new Set(["process", "cancel", "status", "safety_stop"]);

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

/** How to launch the worker: a program and its arguments (the IPC path is appended). */
export interface WorkerCommand {
  program: string;
  args: string[];
}

/** The supervisor's view of the worker. */
export type WorkerState = "starting" | "running" | "restarting" | "crashed" | "stopped";

/** Options for {@linkcode WorkerSupervisor}. */
export interface SupervisorOptions {
  command: WorkerCommand;
  /** The Unix socket the worker connects to. */
  ipcPath: string;
  config: AgentConfig;
  maxFrameBytes: number;
  /** The result of an accepted PROCESS request, by request id. */
  onCallback(id: number, outcome: CallOutcome): void;
  /** An event for the client. */
  onEvent(event: string, data: unknown): void;
}

interface PendingRequest {
  op: WorkerOp;
  params: Record<string, unknown> | undefined;
  resolve(reply: ReplyMessage): void;
}

interface AcceptedCall {
  object: string;
  method: string;
}

/** Keeps one worker process running and carries requests to it. */
export class WorkerSupervisor {
  #options: SupervisorOptions;
  #channel: IpcChannel | undefined;
  #child: Deno.ChildProcess | undefined;
  #state: WorkerState = "stopped";
  #nextId = 1;
  #pending = new Map<number, PendingRequest>();
  #accepted = new Map<number, AcceptedCall>();
  #restarts = 0;
  /** What the worker said it accepts calls for; null while unknown or none. */
  #objects: Map<string, Set<string>> | null = null;
  #recentCrashes: number[] = [];
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #ready = WorkerSupervisor.#pendingReady();
  #exited: Promise<void> = Promise.resolve();

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
    return this.#state === "running" ? this.#child?.pid ?? null : null;
  }

  /** How many times the worker was restarted after exiting. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Launches the worker and waits until it is ready. */
  async start(): Promise<void> {
    try {
      await this.#launch();
    } catch (error) {
      this.#state = "stopped";
      this.#ready.reject(error);
      throw error;
    }
  }

  /**
   * Sends a request; resolves with the worker's one reply, or with an error reply when
   * the worker is not running or exits first. Never rejects.
   */
  request(
    op: WorkerOp,
    params?: Record<string, unknown>,
    body?: Uint8Array,
  ): Promise<ReplyMessage> {
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
    return new Promise((resolve) => {
      this.#pending.set(id, { op, params, resolve });
      try {
        channel.send({ t: "req", id, op, params }, body, { urgent: URGENT_OPS.has(op) });
      } catch (error) {
        this.#pending.delete(id);
        resolve({
          t: "res",
          id,
          ok: false,
          code: ErrorCode.MESSAGE_TOO_LARGE,
          message: error instanceof Error ? error.message : String(error),
        });
      }
    });
  }

  /**
   * Sends a PROCESS the worker is known to accept and returns its id at once (the
   * gateway ACKs it itself; the worker answers only with the callback). Returns
   * undefined when the call cannot be accepted here: send it with {@linkcode request}.
   * With `longArgs` (the client's message was longer than `INLINE_JSON_LIMIT`), the args
   * go as the frame's body, which the worker passes to the project unparsed.
   */
  accept(
    params: { object: string; method: string; args: Record<string, unknown> },
    options: { longArgs?: boolean } = {},
  ): number | undefined {
    const channel = this.#channel;
    if (this.#state !== "running" || !channel?.isOpen) return undefined;
    if (!this.#objects?.get(params.object)?.has(params.method)) return undefined;
    const id = this.#nextId++;
    this.#accepted.set(id, { object: params.object, method: params.method });
    if (!options.longArgs) {
      channel.send({ t: "req", id, op: "process", params: { ...params, acked: true } }, undefined, {
        urgent: true,
      });
    } else {
      const { object, method } = params;
      channel.send(
        { t: "req", id, op: "process", params: { object, method, acked: true } },
        encoder.encode(JSON.stringify(params.args)),
        { urgent: true },
      );
    }
    return id;
  }

  /** Marks request `id` (a PROCESS the worker accepted) as awaiting its callback. */
  #accept(id: number, params: Record<string, unknown> | undefined): void {
    this.#accepted.set(id, {
      object: String(params?.object ?? ""),
      method: String(params?.method ?? ""),
    });
  }

  /** Stops the worker: closes the channel, waits for its exit, kills it after a grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    this.#ready.reject(new Error("stopping"));
    clearTimeout(this.#restartTimer);
    this.#channel?.close();
    const child = this.#child;
    if (child) {
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    this.#state = "stopped";
    removeSocketFile(this.#options.ipcPath);
  }

  /** Kills the worker with SIGKILL (tests and benchmarks use this to simulate a crash). */
  kill(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  #unavailable(id: number): ReplyMessage {
    const why = this.#state === "crashed"
      ? "the worker crashed repeatedly and is stopped; see the agent's log"
      : this.#stopping
      ? "the agent is shutting down"
      : "the worker is restarting; retry in a moment";
    return {
      t: "res",
      id,
      ok: false,
      code: this.#stopping ? ErrorCode.SHUTTING_DOWN : ErrorCode.WORKER_UNAVAILABLE,
      message: `Cannot reach worker: ${why}`,
    };
  }

  async #launch(): Promise<void> {
    this.#state = "starting";
    const { command, ipcPath, config, maxFrameBytes } = this.#options;
    const listener = listenUnix(ipcPath);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command.program, {
        args: [...command.args, ipcPath],
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
        env: WORKER_ENV,
      }).spawn();
    } catch (error) {
      listener.close();
      throw error;
    }
    this.#child = child;
    const exited = child.status.then((status) => this.#onExit(child, status));
    this.#exited = exited;
    let conn: Deno.UnixConn;
    try {
      conn = await Promise.race([
        acceptOne(listener, { timeoutMs: config.worker.start_timeout_s * 1000 }),
        child.status.then((status) => {
          throw new Error(
            `Cannot start worker: it exited with code ${status.code} before connecting`,
          );
        }),
      ]);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    } finally {
      listener.close();
    }
    const ready = Promise.withResolvers<void>();
    const channel = new IpcChannel(conn, {
      maxFrameBytes,
      onMessage: (message, body) => {
        if (message.t === "ready") ready.resolve();
        else this.#onMessage(message, body);
      },
    });
    this.#channel = channel;
    channel.send({ t: "init", config });
    channel.closed.then(() =>
      ready.reject(new Error("Cannot start worker: it closed the channel"))
    );
    await ready.promise;
    this.#state = "running";
    this.#ready.resolve();
    log.info("Worker running: pid {pid}", { pid: child.pid });
  }

  #onMessage(message: IpcMessage, body: Uint8Array | undefined): void {
    switch (message.t) {
      case "res": {
        const reply = message as unknown as ReplyMessage;
        const pending = this.#pending.get(reply.id);
        if (!pending) return;
        this.#pending.delete(reply.id);
        if (pending.op === "process" && reply.ok) this.#accept(reply.id, pending.params);
        pending.resolve(reply);
        return;
      }
      case "cb": {
        const id = message.id as number;
        this.#accepted.delete(id);
        const outcome = message.data as CallOutcome;
        // The result's JSON, as the project's host encoded it: passed on unparsed.
        if (body !== undefined) outcome.result = new RawJson(decoder.decode(body));
        this.#options.onCallback(id, outcome);
        return;
      }
      case "event":
        this.#options.onEvent(
          String(message.event),
          body !== undefined ? new RawJson(decoder.decode(body)) : message.data ?? null,
        );
        return;
      case "log": {
        // The worker's records: its category says where they come from.
        const level = LOG_LEVELS.find((name) => name === message.level) ?? "info";
        const category = Array.isArray(message.category) ? message.category.map(String) : [];
        emitLog({
          level,
          category: category[0] === ROOT_CATEGORY ? category : [ROOT_CATEGORY, "worker"],
          message: String(message.message),
          properties: (message.properties ?? undefined) as Record<string, unknown> | undefined,
        });
        return;
      }
      case "project": {
        const objects = message.objects as Record<string, string[]> | null;
        this.#objects = objects
          ? new Map(Object.entries(objects).map(([name, methods]) => [name, new Set(methods)]))
          : null;
        return;
      }
    }
  }

  #onExit(child: Deno.ChildProcess, status: Deno.CommandStatus): void {
    if (this.#child !== child) return;
    this.#objects = null;
    this.#channel?.close();
    this.#channel = undefined;
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
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
    for (const [id, call] of this.#accepted) {
      this.#options.onCallback(
        id,
        failedOutcome(
          call.object,
          call.method,
          ErrorCode.WORKER_EXITED,
          "WorkerExited",
          `Call failed: the worker exited (${how}) before it returned`,
        ),
      );
    }
    this.#accepted.clear();
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
      this.#state = "crashed";
      this.#ready.reject(new Error("worker crashed"));
      log.fatal("Worker crashed {n} times in {s} s; not restarting it", {
        n: this.#recentCrashes.length,
        s: worker.crash_loop_window_s,
      });
      this.#options.onEvent("worker_crashed", { restarts: this.#restarts, exit: how });
      return;
    }
    // After a running worker exits, waiters need a new promise; after a failed restart
    // they already hold the pending one.
    if (this.#state === "running") this.#ready = WorkerSupervisor.#pendingReady();
    this.#state = "restarting";
    const delay = Math.min(
      worker.restart_delay_ms * 2 ** (this.#recentCrashes.length - 1),
      worker.restart_max_delay_ms,
    );
    this.#restartTimer = setTimeout(async () => {
      this.#restartTimer = undefined;
      this.#restarts++;
      try {
        await this.#launch();
        this.#options.onEvent("worker_restarted", {
          pid: this.#child?.pid,
          restarts: this.#restarts,
          exit: how,
        });
      } catch (error) {
        log.error("Worker restart failed: {error}", { error: String(error) });
        if (!this.#stopping && this.#state !== "running") this.#scheduleRestart("start failure");
      }
    }, delay);
  }
}
