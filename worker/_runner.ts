/**
 * The running project: at most one executor, its state, and the table of calls it takes
 * that the gateway judges calls by.
 *
 * @module
 */
import { AgentError, errorMessage } from "../errors.ts";
import type { Executor, ExecutorHooks, ExitInfo } from "../executors/mod.ts";
import type { ProjectData, ProjectTable, WorkerMessage, WorkerStatus } from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { StartExecutor } from "./_launcher.ts";
import type { ProjectMeta } from "./_project_store.ts";
import type { SerialQueue } from "./_serial.ts";
import type { StateFile } from "./_state_file.ts";

const log = logger("worker", "runner");

/** Where the current project stands, as `status` reports it. */
export type ProjectState = WorkerStatus["project"]["state"];

/** Options for {@linkcode ProjectRunner}. */
export interface ProjectRunnerOptions {
  startExecutor: StartExecutor;
  /** The worker's queue of project changes; a restart for waiting calls runs in it. */
  queue: SerialQueue;
  /** Records that the project is started, for the next boot. */
  stateFile: StateFile;
  /** Sends `project` and `event` messages to the gateway. */
  send(message: WorkerMessage, body?: Uint8Array): void;
  /**
   * Told when the started project's process exits on its own (not when stopped or
   * replaced), after `project_exited` went out; `hung` when it was killed for that.
   */
  onExit?(meta: ProjectMeta, info: ExitInfo, detail: { hung: boolean }): void;
}

/** Object name → method names, as JSON carries them. */
function objectsRecord(
  objects: ReadonlyMap<string, ReadonlySet<string>>,
): Record<string, string[]> {
  return Object.fromEntries([...objects].map(([name, methods]) => [name, [...methods]]));
}

/**
 * Starts and stops the project's executor and publishes which calls it takes.
 *
 * The table goes out (`project` message) before whatever the caller replies, on the same
 * channel: the gateway holds calls sent behind a start, update or rollback and judges them
 * against the table once the reply arrives. A project that exits keeps its table, since
 * the next call revives it; `null` means none is started.
 */
export class ProjectRunner {
  #options: ProjectRunnerOptions;
  #executor: Executor | undefined;
  /** The version the executor runs. */
  #meta: ProjectMeta | undefined;
  #state: ProjectState = "stopped";
  /** The last exit of a started project's process, and which version it ran. */
  #lastExit: { version: number; info: ExitInfo } | undefined;
  /** Counts launches and stops, so an executor stopped or replaced reports no exit. */
  #generation = 0;
  /** What the gateway was last told; it assumes `null` of a fresh worker. */
  #published: ProjectTable | null = null;
  #reviving: Promise<Executor> | undefined;

  /** A runner with nothing started. */
  constructor(options: ProjectRunnerOptions) {
    this.#options = options;
  }

  /** The executor of the started project, running or exited; none when stopped. */
  get executor(): Executor | undefined {
    return this.#executor;
  }

  /** Counts starts and stops: it changes whenever what runs changes (a restart included). */
  get generation(): number {
    return this.#generation;
  }

  /** The restart under way for calls that found the project exited, if any. */
  get reviving(): Promise<Executor> | undefined {
    return this.#reviving;
  }

  /**
   * Starts `meta`'s project in place of the running one; its table is published before
   * this resolves, and `null` when it fails. Run it in the queue.
   *
   * @throws {AgentError} `START_FAILED` when the project does not start.
   */
  async launch(meta: ProjectMeta): Promise<ProjectData> {
    await this.#stopExecutor();
    const generation = ++this.#generation;
    this.#state = "starting";
    let executor: Executor;
    try {
      executor = await this.#options.startExecutor(meta, this.#hooks(meta, generation));
    } catch (error) {
      this.#state = "failed";
      this.#publish(null);
      // The traceback is part of the text, not a property, so the log shows it as lines.
      const traceback = error instanceof AgentError ? error.data?.traceback : undefined;
      const lines = typeof traceback === "string"
        ? `\n${traceback.trimEnd().replaceAll("{", "{{").replaceAll("}", "}}")}`
        : "";
      log.error(`Cannot start version {version}: {error}${lines}`, {
        version: meta.version,
        error: errorMessage(error),
      });
      throw error;
    }
    this.#executor = executor;
    this.#meta = meta;
    this.#state = executor.running ? "running" : "exited";
    this.#publish({
      type: meta.type,
      version: meta.version,
      objects: objectsRecord(executor.objects),
      ...(executor.description ? { describe: executor.description } : {}),
    });
    await this.#options.stateFile.write({ started: true }).catch((error) =>
      log.warn("Cannot record that the project is started: {error}", {
        error: errorMessage(error),
      })
    );
    return this.projectData(meta);
  }

  /**
   * Restarts `exited`, an executor that exited and is revivable, once however many calls
   * wait for it; resolves with the executor that runs now.
   *
   * @throws {Error} when the restart failed or the project was replaced meanwhile.
   */
  revive(exited: Executor): Promise<Executor> {
    this.#reviving ??= this.#options.queue.run(async () => {
      try {
        if (this.#executor === exited && this.#meta) {
          log.info("Restarting the exited {type} project for a waiting call", {
            type: exited.type,
          });
          await this.launch(this.#meta);
        }
        const live = this.#executor;
        if (!live?.running) throw new Error("no project is running any more");
        return live;
      } finally {
        this.#reviving = undefined;
      }
    });
    return this.#reviving;
  }

  /** Stops the project, if one is started, and publishes that none is. */
  async unload(): Promise<void> {
    await this.#stopExecutor();
    this.#state = "stopped";
    this.#publish(null);
  }

  /** Stops the project without telling the gateway: the worker is going. */
  async shutdown(): Promise<void> {
    await this.#stopExecutor();
  }

  /** What a reply says of `meta`: with its process and objects when it is what runs. */
  projectData(meta: ProjectMeta): ProjectData {
    const data: ProjectData = {
      type: meta.type,
      version: meta.version,
      entry: meta.entry,
      files: meta.files,
      bytes: meta.bytes,
    };
    const executor = this.#executor;
    if (executor && this.#meta === meta) {
      // Only a Python project takes calls (docs/protocol.md).
      if (meta.type === "python") data.objects = objectsRecord(executor.objects);
      data.pid = executor.pid;
      if (executor.confinement) data.confinement = executor.confinement;
    }
    return data;
  }

  /**
   * The project part of `status`, for `current`, the version on disk that is current:
   * `last_exit` only of a process that ran it.
   */
  status(current: ProjectMeta): WorkerStatus["project"] {
    const executor = this.#executor;
    const counts = executor?.status();
    const lastExit = this.#lastExit;
    return {
      type: current.type,
      version: current.version,
      state: this.#state,
      pid: executor?.running ? executor.pid : null,
      last_exit: lastExit?.version === current.version ? lastExit.info : null,
      python: counts?.python ?? null,
      abandoned_calls: counts?.abandoned_calls ?? 0,
      ...(executor?.confinement ? { confinement: executor.confinement } : {}),
    };
  }

  #hooks(meta: ProjectMeta, generation: number): ExecutorHooks {
    return {
      onEvent: (event, data, dataJson) => this.#options.send({ t: "event", event, data }, dataJson),
      onExit: (info, detail) => {
        if (generation !== this.#generation) return;
        this.#lastExit = { version: meta.version, info };
        this.#state = "exited";
        const hung = detail?.hung === true;
        this.#options.send({
          t: "event",
          event: "project_exited",
          data: { type: meta.type, version: meta.version, ...info, ...(hung ? { hung } : {}) },
        });
        this.#options.onExit?.(meta, info, { hung });
      },
    };
  }

  async #stopExecutor(): Promise<void> {
    const executor = this.#executor;
    if (!executor) return;
    this.#executor = undefined;
    this.#meta = undefined;
    this.#generation++;
    await executor.stop();
    this.#state = "stopped";
  }

  #publish(project: ProjectTable | null): void {
    if (project === null && this.#published === null) return;
    this.#published = project;
    this.#options.send({ t: "project", project });
  }
}
