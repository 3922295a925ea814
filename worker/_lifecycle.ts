/**
 * Versions that know they are good. A started version is a candidate; it becomes good
 * once its start succeeded (its `ready()`, if any, was truthy) and it ran
 * `lifecycle.probation_s` without crashing. A start that fails, or a crash in probation,
 * marks it failed and, with `lifecycle.auto_rollback`, starts the last good version at
 * once. `rollback` goes to the newest good version before the current one.
 *
 * @module
 */
import { AgentError, ErrorCode, errorCode, errorMessage } from "../errors.ts";
import type { ExitInfo } from "../executors/mod.ts";
import type {
  OpData,
  ProjectData,
  RolledBack,
  SkippedVersion,
  StartFailure,
  VersionInfo,
  WorkerMessage,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { ProjectMeta, ProjectStore } from "./_project_store.ts";
import type { ProjectRunner } from "./_runner.ts";
import type { SerialQueue } from "./_serial.ts";
import type { VersionBook } from "./_version_book.ts";

const log = logger("worker", "lifecycle");

/** Options for {@linkcode VersionLifecycle}. */
export interface VersionLifecycleOptions {
  store: ProjectStore;
  book: VersionBook;
  runner: ProjectRunner;
  /** Auto-rollback after a crash in probation runs in it, as a switch. */
  queue: SerialQueue;
  probationS: number;
  autoRollback: boolean;
  /** Sends the `rolled_back` event. */
  send(message: WorkerMessage): void;
}

/** A reply's message and data. */
interface Reply<T> {
  message: string;
  data: T;
}

interface Probation {
  version: number;
  /** The runner's generation it started in: anything since (a stop, a restart) ends it. */
  generation: number;
  startedAt: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Starts versions, judges them, and rolls back to good ones. */
export class VersionLifecycle {
  #options: VersionLifecycleOptions;
  #probation: Probation | undefined;
  /** Book writes from exit hooks, awaited by shutdown. */
  #pending: Promise<unknown> = Promise.resolve();

  /** A lifecycle over the worker's store, book and runner. */
  constructor(options: VersionLifecycleOptions) {
    this.#options = options;
  }

  /**
   * Starts `meta` in place of what runs and puts it on probation unless it is good. Run
   * in the queue.
   *
   * @throws {AgentError} `START_FAILED` (data: {@linkcode StartFailure}) when it does not
   * start; with auto-rollback the last good version runs by then (`data.rolled_back`).
   */
  async launch(meta: ProjectMeta): Promise<ProjectData> {
    this.#endProbation();
    const { book, runner } = this.#options;
    let data: ProjectData;
    try {
      data = await runner.launch(meta);
    } catch (error) {
      throw await this.#startFailed(meta, error);
    }
    if (book.entry(meta.version).status !== "good") {
      await book.mark(meta.version, "candidate");
      this.#beginProbation(meta.version);
    }
    return data;
  }

  /** Stops the project (an UPDATE replaces it): a probation under way ends without verdict. */
  async unload(): Promise<void> {
    this.#endProbation();
    await this.#options.runner.unload();
  }

  /** Makes `version` current and keeps the book to the versions still on disk. */
  async activate(version: number): Promise<ProjectMeta> {
    const { store, book } = this.#options;
    const meta = await store.activate(version);
    await book.keepOnly(await store.versions());
    return meta;
  }

  /** `rollback`: the newest good version before the current one, started. Run in the queue. */
  async rollback(): Promise<Reply<OpData<"rollback">>> {
    const { store, book } = this.#options;
    const from = store.current.version;
    if (from === 0) {
      throw new AgentError(
        ErrorCode.NO_PREVIOUS_VERSION,
        "Cannot roll back: the built-in default project is current and nothing precedes it",
      );
    }
    const skipped: SkippedVersion[] = [];
    let target = 0;
    for (const version of (await store.versions()).filter((v) => v < from).reverse()) {
      const { status, reason } = book.entry(version);
      if (status === "good") {
        target = version;
        break;
      }
      skipped.push({ version, status, reason });
    }
    const passed = skipped.length === 0
      ? ""
      : ` (passed over ${skipped.map((s) => `${s.version}: ${s.status}`).join(", ")})`;
    const reason = target === 0
      ? `no kept version before ${from} is good, so the built-in project${passed}`
      : `the newest good version before ${from}${passed}`;
    await this.unload();
    const data = await this.launch(await this.activate(target));
    log.info("Rolled back from version {from} to {target}: {reason}", { from, target, reason });
    return {
      message: `Rolled back from version ${from} to version ${target}: ${reason}`,
      data: { ...data, rolled_back_from: from, reason, skipped },
    };
  }

  /** `activate`: makes a kept version current and starts it. Run in the queue. */
  async activateAndStart(version: unknown): Promise<Reply<OpData<"activate">>> {
    const { store } = this.#options;
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
      throw new AgentError(
        ErrorCode.BAD_REQUEST,
        `Cannot activate version: ${JSON.stringify(version)} is not a version number`,
      );
    }
    if (version !== 0 && !(await store.versions()).includes(version)) {
      throw new AgentError(
        ErrorCode.UNKNOWN_VERSION,
        `Cannot activate version ${version}: it is not kept on disk (see versions)`,
      );
    }
    const from = store.current.version;
    await this.unload();
    const data = await this.launch(await this.activate(version));
    log.info("Activated version {version} (was {from})", { version, from });
    return {
      message: `Version ${version} activated and started (was ${from})`,
      data: { ...data, activated_from: from },
    };
  }

  /** `versions`: every kept version, newest first, then the built-in project. */
  async versions(): Promise<OpData<"versions">> {
    const { store, book } = this.#options;
    const versions: VersionInfo[] = [];
    for (const version of (await store.versions()).reverse()) {
      let meta: ProjectMeta;
      try {
        meta = await store.meta(version);
      } catch (error) {
        log.warn("Cannot list version {version}: {error}", { version, error: errorMessage(error) });
        continue;
      }
      const entry = book.entry(version);
      versions.push({
        version,
        type: meta.type,
        entry: meta.entry,
        deployed_at: meta.deployedAt || null,
        sha256: entry.sha256,
        status: entry.status,
        reason: entry.reason,
        status_at: entry.statusAt,
      });
    }
    versions.push({
      version: 0,
      type: "python",
      entry: "main.py",
      deployed_at: null,
      sha256: null,
      status: "good",
      reason: null,
      status_at: null,
    });
    return { versions, current: store.current.version };
  }

  /** What pruning keeps besides the newest versions: the newest good one. */
  pinned(): number[] {
    const newest = this.#newestGood(new Set(), this.#options.book.versions());
    return newest === 0 ? [] : [newest];
  }

  /**
   * The runner's exit hook: a crash of a version on probation fails it and, with
   * auto-rollback, starts the last good version (a `rolled_back` event says so).
   */
  onExit(meta: ProjectMeta, info: ExitInfo, detail: { hung: boolean }): void {
    const probation = this.#probation;
    if (probation?.version !== meta.version) return;
    this.#endProbation();
    if (!detail.hung && info.code === 0 && info.signal === null) {
      log.info("Version {version} exited cleanly during its probation: it stays a candidate", {
        version: meta.version,
      });
      return;
    }
    const after = ((performance.now() - probation.startedAt) / 1000).toFixed(1);
    const reason = detail.hung
      ? `hung during probation, ${after} s after its start (its heartbeat went unanswered)`
      : `crashed during probation, ${after} s after its start (${describeExit(info)})`;
    log.warn("Version {version} failed: {reason}", { version: meta.version, reason });
    const { book, runner, queue, autoRollback, store } = this.#options;
    const generation = runner.generation;
    const marked = book.mark(meta.version, "failed", reason);
    if (!autoRollback) {
      this.#pending = this.#pending.then(() => marked);
      return;
    }
    const rolled = queue.runSwitch(async () => {
      await marked;
      // An UPDATE, START or restart since the crash decided what runs now.
      if (store.current.version !== meta.version || runner.generation !== generation) return;
      await this.#fallback(meta.version, reason);
    }).catch((error) =>
      log.error("Cannot roll back from version {version}: {error}", {
        version: meta.version,
        error: errorMessage(error),
      })
    );
    this.#pending = this.#pending.then(() => rolled);
  }

  /**
   * The safety stop ran: a C++ project's process gets its stop signal, so a probation
   * under way ends without verdict (the version stays a candidate).
   */
  onSafetyStop(): void {
    if (this.#probation && this.#options.runner.executor?.type === "cpp") {
      log.info("Version {version} was stopped by the safety stop during its probation", {
        version: this.#probation.version,
      });
      this.#endProbation();
    }
  }

  /** Ends a probation under way and waits for the book writes and rollbacks it started. */
  async shutdown(): Promise<void> {
    this.#endProbation();
    await this.#pending;
  }

  #beginProbation(version: number): void {
    const { probationS, runner, book } = this.#options;
    const generation = runner.generation;
    const startedAt = performance.now();
    const timer = setTimeout(() => {
      if (this.#probation?.timer !== timer) return;
      this.#probation = undefined;
      if (runner.generation !== generation) return;
      log.info("Version {version} is good: it ran {seconds} s without crashing", {
        version,
        seconds: probationS,
      });
      this.#pending = this.#pending.then(() => book.mark(version, "good"));
    }, probationS * 1000);
    this.#probation = { version, generation, startedAt, timer };
  }

  #endProbation(): void {
    if (this.#probation) clearTimeout(this.#probation.timer);
    this.#probation = undefined;
  }

  /** Marks a version whose start failed, rolls back if configured, and says so in the error. */
  async #startFailed(meta: ProjectMeta, error: unknown): Promise<AgentError> {
    const reason = errorMessage(error);
    await this.#options.book.mark(meta.version, "failed", `failed to start: ${reason}`);
    const failure: StartFailure = {
      type: "StartError",
      message: reason,
      traceback: null,
      file: null,
      line: null,
      ...(error instanceof AgentError ? error.data as Partial<StartFailure> : undefined),
    };
    const rolled = this.#options.autoRollback && meta.version !== 0
      ? await this.#fallback(meta.version, `failed to start: ${reason}`)
      : undefined;
    const message = rolled ? `${reason}; rolled back to version ${rolled.to}` : reason;
    // A failure that is no AgentError (a bug) keeps its INTERNAL code.
    return new AgentError(errorCode(error), message, {
      cause: error,
      data: { ...failure, ...(rolled ? { rolled_back: rolled } : {}) },
    });
  }

  /**
   * Starts the newest good version other than `failed` (down to the built-in project),
   * marking each that fails to start; sends `rolled_back` once one runs.
   */
  async #fallback(failed: number, reason: string): Promise<RolledBack | undefined> {
    const { store, book, runner, send } = this.#options;
    const tried = new Set([failed]);
    while (true) {
      const target = this.#newestGood(tried, await store.versions());
      if (tried.has(target)) {
        log.error("Cannot roll back from version {failed}: no good version starts", { failed });
        return undefined;
      }
      tried.add(target);
      try {
        await runner.launch(await this.activate(target));
      } catch (error) {
        await book.mark(target, "failed", `failed to start: ${errorMessage(error)}`);
        continue;
      }
      const rolled: RolledBack = { from: failed, to: target, reason };
      log.warn("Rolled back from version {from} to version {to}, the last good one: {reason}", {
        ...rolled,
      });
      send({ t: "event", event: "rolled_back", data: rolled });
      return rolled;
    }
  }

  /** The newest good version among `kept` not in `excluded`; 0 (the built-in project) else. */
  #newestGood(excluded: ReadonlySet<number>, kept: readonly number[]): number {
    const { book } = this.#options;
    const good = kept.filter((v) => !excluded.has(v) && book.entry(v).status === "good");
    return good.length > 0 ? Math.max(...good) : 0;
  }
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`;
}
